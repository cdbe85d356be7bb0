"""``masks/<SOPInstanceUID>.npz``: uint8 ``labels`` ``[frames, rows, cols]`` in the source pixel grid.

Written frame by frame into the .npy member of the zip, so a long cine never needs its whole mask stack
in memory. The archive has a fixed timestamp: the same masks give the same bytes (so do the other .npz
files of the analysis, written with :func:`write_npz`).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from types import TracebackType

import numpy as np
from numpy.typing import NDArray

from dvt_us.report.atomic import atomic_path

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def write_npz(path: Path, arrays: dict[str, NDArray]) -> None:
    """Write ``arrays`` as a compressed .npz with fixed timestamps (same arrays, same bytes), atomically."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


class MaskWriter:
    """Stream ``frames`` label maps of ``shape`` (rows, cols) into ``path`` as an .npz with ``labels``."""

    def __init__(self, path: Path, frames: int, shape: tuple[int, int]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.frames, self.shape = path, frames, shape
        self._tmp = path.with_suffix(".npz.tmp")
        self._zip = zipfile.ZipFile(self._tmp, "w")
        info = zipfile.ZipInfo("labels.npy", date_time=_FIXED_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        self._member = self._zip.open(info, "w", force_zip64=True)
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False,
                  "shape": (frames, *shape)}
        np.lib.format.write_array_header_1_0(self._member, header)
        self.written = 0

    def write(self, labels: NDArray[np.uint8]) -> None:
        """Append the next frame's labels (uint8 ``[rows, cols]``)."""
        if labels.shape != self.shape or labels.dtype != np.uint8:
            raise ValueError(f"labels {labels.dtype} {labels.shape}, expected uint8 {self.shape}")
        if self.written >= self.frames:
            raise ValueError(f"more than the {self.frames} frames announced")
        self._member.write(np.ascontiguousarray(labels).tobytes())
        self.written += 1

    def close(self) -> None:
        """Finish the file; it appears under its name only when every frame was written."""
        self._member.close()
        self._zip.close()
        if self.written != self.frames:
            self._tmp.unlink(missing_ok=True)
            raise ValueError(f"{self.path.name}: {self.written} of {self.frames} frames written")
        self._tmp.replace(self.path)

    def __enter__(self) -> MaskWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self._member.close()
            self._zip.close()
            self._tmp.unlink(missing_ok=True)
