"""A clip's label maps parked on disk while it is segmented, for the measuring pass to read back in any order.

The measurements follow the vein from the clip's most distended frame forwards and then backwards
(:func:`dvt_us.preprocess.vein_tracking.iter_targets`), which is known only once every frame is segmented.
Rather than holding every frame, each one goes to an anonymous temporary file as the zlib-compressed
box around its labelled pixels; the masks file itself is one deflate stream and cannot be read backwards.
"""

from __future__ import annotations

import tempfile
import zlib
from types import TracebackType

import numpy as np
from numpy.typing import NDArray


class LabelSpool:
    """uint8 label maps ``[rows, cols]`` of one shape, appended in frame order, read back by frame index."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close(), this class is the context manager)
        self._spans: list[tuple[int, int, tuple[int, int, int, int]]] = []  # offset, bytes, (r0, r1, c0, c1)
        self._end = 0

    def __len__(self) -> int:
        return len(self._spans)

    def append(self, labels: NDArray[np.uint8]) -> None:
        """Park the next frame's labels."""
        if labels.shape != self.shape or labels.dtype != np.uint8:
            raise ValueError(f"labels {labels.dtype} {labels.shape}, expected uint8 {self.shape}")
        rows, cols = np.flatnonzero(labels.any(axis=1)), np.flatnonzero(labels.any(axis=0))
        box = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1) if len(rows) else (0, 0, 0, 0)
        data = zlib.compress(np.ascontiguousarray(labels[box[0] : box[1], box[2] : box[3]]).tobytes(), 1)
        self._file.seek(self._end)
        self._file.write(data)
        self._spans.append((self._end, len(data), box))
        self._end += len(data)

    def read(self, frame: int) -> NDArray[np.uint8]:
        """The labels of 0-based ``frame`` as appended."""
        if not 0 <= frame < len(self._spans):
            raise IndexError(f"frame {frame} of a spool of {len(self._spans)} frames")
        offset, size, (r0, r1, c0, c1) = self._spans[frame]
        self._file.seek(offset)
        labels = np.zeros(self.shape, np.uint8)
        labels[r0:r1, c0:c1] = np.frombuffer(zlib.decompress(self._file.read(size)), np.uint8).reshape(r1 - r0, c1 - c0)
        return labels

    def close(self) -> None:
        """Delete the temporary file."""
        self._file.close()

    def __enter__(self) -> LabelSpool:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
