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

Window = tuple[int, int, int, int]
"""``(row0, row1, col0, col1)``: rows ``row0:row1`` and columns ``col0:col1`` of a frame."""
EMPTY: Window = (0, 0, 0, 0)


class LabelSpool:
    """uint8 label maps ``[rows, cols]`` of one shape, appended in frame order, read back by frame index."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close(), this class is the context manager)
        self._spans: list[tuple[int, int, Window]] = []  # offset, bytes, box of the frame's labelled pixels
        self._end = 0
        self._bounds: Window | None = None

    def __len__(self) -> int:
        return len(self._spans)

    def append(self, labels: NDArray[np.uint8]) -> None:
        """Park the next frame's labels."""
        if labels.shape != self.shape or labels.dtype != np.uint8:
            raise ValueError(f"labels {labels.dtype} {labels.shape}, expected uint8 {self.shape}")
        rows, cols = np.flatnonzero(labels.any(axis=1)), np.flatnonzero(labels.any(axis=0))
        box: Window = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1) if len(rows) else EMPTY
        data = zlib.compress(np.ascontiguousarray(labels[box[0] : box[1], box[2] : box[3]]).tobytes(), 1)
        self._file.seek(self._end)
        self._file.write(data)
        self._spans.append((self._end, len(data), box))
        self._end += len(data)
        if box != EMPTY:
            old = self._bounds or box
            self._bounds = (min(old[0], box[0]), max(old[1], box[1]), min(old[2], box[2]), max(old[3], box[3]))

    @property
    def bounds(self) -> Window:
        """The smallest window that holds every labelled pixel of every frame so far (:data:`EMPTY` if none)."""
        return self._bounds or EMPTY

    def read(self, frame: int, window: Window | None = None) -> NDArray[np.uint8]:
        """The labels of 0-based ``frame`` as appended, or only their ``window`` (e.g. :attr:`bounds`).

        A window must hold every labelled pixel of the frame; measuring inside one that also starts on an even
        row and column (:func:`~dvt_us.preprocess.vein_tracking.aligned_window`) gives what the whole frame
        gives, on fewer pixels.
        """
        if not 0 <= frame < len(self._spans):
            raise IndexError(f"frame {frame} of a spool of {len(self._spans)} frames")
        offset, size, (r0, r1, c0, c1) = self._spans[frame]
        w0, w1, v0, v1 = (0, self.shape[0], 0, self.shape[1]) if window is None else window
        if r1 > r0 and not (w0 <= r0 and r1 <= w1 and v0 <= c0 and c1 <= v1):
            raise ValueError(f"window {window} does not hold the labels of frame {frame} (rows {r0}:{r1}, "
                             f"columns {c0}:{c1})")
        labels = np.zeros((w1 - w0, v1 - v0), np.uint8)
        if r1 > r0:
            self._file.seek(offset)
            part = np.frombuffer(zlib.decompress(self._file.read(size)), np.uint8).reshape(r1 - r0, c1 - c0)
            labels[r0 - w0 : r1 - w0, c0 - v0 : c1 - v0] = part
        return labels

    def close(self) -> None:
        """Delete the temporary file."""
        self._file.close()

    def __enter__(self) -> LabelSpool:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
