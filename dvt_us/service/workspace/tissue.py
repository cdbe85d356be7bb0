"""What the workspace may show of a frame: its tissue regions, composed on one black canvas.

A clip's views (tissue regions, :class:`~dvt_us.ingest.View`) are pasted at their places inside the smallest
box that holds them all (:class:`TissueLayout`); every pixel of that box outside a view stays 0. Pixels come
only from :func:`dvt_us.preprocess.iter_frames`, which crops the views out of each decoded frame, so
annotation space (burned-in names and dates) never reaches this module. The masks of the visit folder
(``masks/<SOPInstanceUID>.npz``, uint8 ``labels`` ``[frames, rows, cols]`` in the source pixel grid) are cut
to the same layout, and read one frame at a time (:func:`read_label_frames`), never the whole stack.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from dvt_us.ingest import Clip, PixelBox
from dvt_us.preprocess import Frame, iter_frames


@dataclass(frozen=True)
class TissueFrame:
    """One frame of a clip as the workspace shows it (``[rows, cols]`` of the layout's box).

    ``bmode`` is uint8 luminance, 0 outside the views; ``colour_flow`` float32 in [-1, 1] (red positive, blue
    negative, see :class:`~dvt_us.preprocess.ViewFrame`), or ``None`` when the frame has no colour.
    """

    index: int
    """0-based frame index (DICOM frame number − 1)."""
    bmode: NDArray[np.uint8]
    colour_flow: NDArray[np.float32] | None


@dataclass(frozen=True)
class TissueLayout:
    """Where a clip's views lie: ``box`` holds them all; ``views`` are their boxes, both in the source grid."""

    box: PixelBox
    views: tuple[PixelBox, ...]

    @classmethod
    def of(cls, clip: Clip) -> TissueLayout:
        """The layout of ``clip``'s views; ValueError when it has none (no tissue region to show)."""
        if not clip.views:
            raise ValueError(f"clip {clip.sop_instance_uid} has no tissue region to show")
        boxes = tuple(v.box for v in clip.views)
        union = PixelBox(min(b.row0 for b in boxes), min(b.col0 for b in boxes),
                         max(b.row1 for b in boxes), max(b.col1 for b in boxes))
        return cls(union, boxes)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the composed frame."""
        return self.box.shape

    def local(self, view: PixelBox) -> tuple[slice, slice]:
        """Row and column slices of ``view`` inside the composed frame."""
        return (slice(view.row0 - self.box.row0, view.row1 - self.box.row0),
                slice(view.col0 - self.box.col0, view.col1 - self.box.col0))

    def compose(self, frame: Frame) -> TissueFrame:
        """Paste the views of ``frame`` (as :func:`~dvt_us.preprocess.iter_frames` crops them) into the box."""
        bmode = np.zeros(self.shape, np.uint8)
        flow: NDArray[np.float32] | None = None
        for view_frame, box in zip(frame.views, self.views, strict=True):
            rows, cols = self.local(box)
            bmode[rows, cols] = view_frame.bmode
            if view_frame.colour_flow is not None:
                if flow is None:
                    flow = np.zeros(self.shape, np.float32)
                flow[rows, cols] = view_frame.colour_flow
        return TissueFrame(frame.index, bmode, flow)

    def labels(self, source_labels: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """One frame's labels (source grid ``[rows, cols]``) cut to the box, 0 outside the views."""
        out = np.zeros(self.shape, np.uint8)
        for box in self.views:
            rows, cols = self.local(box)
            out[rows, cols] = source_labels[box.row0 : box.row1, box.col0 : box.col1]
        return out


def tissue_frames(clip: Clip, indices: Sequence[int]) -> Iterator[TissueFrame]:
    """Decode frames ``indices`` (0-based) of ``clip`` one at a time and compose their tissue regions."""
    layout = TissueLayout.of(clip)
    for frame in iter_frames(clip, list(indices)):
        yield layout.compose(frame)


def read_label_frames(path: Path, indices: Sequence[int]) -> dict[int, NDArray[np.uint8]]:
    """Frames ``indices`` of the ``labels`` array of a masks .npz, read without loading the others.

    Returns a dict index → uint8 ``[rows, cols]`` (source grid). Raises ValueError when the file does not
    hold a uint8 ``labels`` ``[frames, rows, cols]`` array or an index is outside it.
    """
    with zipfile.ZipFile(path) as archive, archive.open("labels.npy") as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        if dtype != np.uint8 or len(shape) != 3 or fortran:
            raise ValueError(f"{path.name}: labels are {dtype} {shape}, expected uint8 [frames, rows, cols]")
        frames, rows, cols = shape
        start, size = member.tell(), rows * cols
        found: dict[int, NDArray[np.uint8]] = {}
        for i in sorted(set(indices)):
            if not 0 <= i < frames:
                raise ValueError(f"{path.name}: no frame {i} in labels of {frames} frames")
            member.seek(start + i * size)
            found[i] = np.frombuffer(member.read(size), np.uint8).reshape(rows, cols)
        return found
