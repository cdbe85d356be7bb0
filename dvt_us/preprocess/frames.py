"""From decoded frames to what the models see: per view, a grayscale B-mode crop and a colour-flow map.

Only the tissue regions leave this module; everything outside them is annotation space (burned-in
names and dates) and is never passed on. Frames are streamed: one source frame is decoded, cropped
and converted at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dvt_us.ingest.calibration import View
from dvt_us.ingest.clip import Clip
from dvt_us.ingest.pixels import RawFrame, colour_mask, iter_raw_frames, luma_chroma


@dataclass(frozen=True)
class ViewFrame:
    """One view (tissue region) of one frame.

    ``bmode`` is uint8 luminance ``[rows, cols]`` of the view box. ``colour_flow`` is float32
    ``[rows, cols]`` in [-1, 1] where colour Doppler pixels are (red positive, blue negative: the
    red-minus-blue colour difference, not a calibrated velocity), 0 elsewhere; ``None`` when the
    frame has no colour.
    """

    view: View
    bmode: NDArray[np.uint8]
    colour_flow: NDArray[np.float32] | None

    @property
    def spacing_mm(self) -> tuple[float, float] | None:
        """(row, col) pixel spacing of the view in mm, ``None`` when uncalibrated."""
        return self.view.spacing_mm


@dataclass(frozen=True)
class Frame:
    """All views of one source frame. ``index`` is 0-based (DICOM frame number − 1)."""

    index: int
    time_s: float
    views: tuple[ViewFrame, ...]


# Red minus blue in terms of JPEG/JFIF chroma: R - B = 1.402 Cr - 1.772 Cb.
_CR_TO_RB, _CB_TO_RB = 1.402 / 255.0, -1.772 / 255.0


def view_frame(raw: RawFrame, view: View) -> ViewFrame:
    """Crop one view out of a decoded frame and split it into B-mode and colour flow."""
    box = view.box
    crop = RawFrame(raw.index, raw.pixels[box.row0 : box.row1, box.col0 : box.col1], raw.colour_space)
    luma, chroma = luma_chroma(crop)
    flow: NDArray[np.float32] | None = None
    if chroma is not None:
        mask = colour_mask(chroma)
        if view.colour_flow_box is not None:  # colour outside the declared colour box is graphics, not flow
            cb = view.colour_flow_box
            inside = np.zeros_like(mask)
            inside[cb.row0 - box.row0 : cb.row1 - box.row0, cb.col0 - box.col0 : cb.col1 - box.col0] = True
            mask &= inside
        if mask.any():
            rb = _CR_TO_RB * chroma[..., 1] + _CB_TO_RB * chroma[..., 0]
            flow = np.where(mask, np.clip(rb, -1.0, 1.0), 0.0).astype(np.float32)
    return ViewFrame(view, np.ascontiguousarray(luma), flow)


def iter_frames(clip: Clip, indices: list[int] | None = None) -> Iterator[Frame]:
    """Stream the frames of a clip (all, or 0-based ``indices``) as cropped, converted views."""
    for raw in iter_raw_frames(clip.source, clip.pixels, indices):
        views = tuple(view_frame(raw, view) for view in clip.views)
        yield Frame(raw.index, clip.frame_times_s[raw.index], views)
