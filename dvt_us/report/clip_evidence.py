"""What ``dvt-us analyze`` keeps of each analysed clip for the renderers: its key frames and its header.

Both are written once, beside report.json (see :mod:`dvt_us.report.visit_folder`), so that the HTML/PDF,
SR and SEG can be rendered again later without the source files. Only tissue regions are kept of the
pixels; the header is the source instance without Pixel Data (what SR and SEG reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom

from dvt_us.ingest.clip import Clip
from dvt_us.ingest.sources import open_source
from dvt_us.preprocess import iter_frames
from dvt_us.report.atomic import atomic_path
from dvt_us.report.visit_folder import KEY_FRAMES_DIR, SOURCES_DIR, KeyFrames


def write_key_frames(clip: Clip, names: Sequence[str], picks: Sequence[tuple[int, int]], visit_dir: Path) -> None:
    """Decode the key frames of ``clip`` again and store them.

    ``picks[i]`` is ``(frame, view)``: the 0-based frame index and the view (tissue region) whose crop is
    key frame ``names[i]``. Views of different sizes are padded with zeros to the largest.
    """
    wanted = sorted({frame for frame, _ in picks})
    decoded = {f.index: f for f in iter_frames(clip, wanted)}
    crops = [decoded[frame].views[view] for frame, view in picks]
    rows, cols = max(c.bmode.shape[0] for c in crops), max(c.bmode.shape[1] for c in crops)
    bmode = np.zeros((len(crops), rows, cols), np.uint8)
    flow = np.zeros((len(crops), rows, cols), np.float32)
    for i, crop in enumerate(crops):
        r, c = crop.bmode.shape
        bmode[i, :r, :c] = crop.bmode
        if crop.colour_flow is not None:
            flow[i, :r, :c] = crop.colour_flow
    key = KeyFrames(
        names=tuple(names), frames=tuple(frame for frame, _ in picks),
        boxes=tuple(clip.views[view].box for _, view in picks), bmode=bmode,
        colour_flow=flow if any(c.colour_flow is not None for c in crops) else None,
        spacings_mm=tuple(clip.views[view].spacing_mm for _, view in picks),
    )
    key.save(visit_dir / KEY_FRAMES_DIR / f"{clip.sop_instance_uid}.npz")


def write_source_header(clip: Clip, visit_dir: Path) -> None:
    """Store the source instance's header (file meta and data set up to Pixel Data)."""
    with open_source(clip.source) as fh:
        ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True)
    with atomic_path(visit_dir / SOURCES_DIR / f"{clip.sop_instance_uid}.dcm") as tmp:
        ds.save_as(tmp, enforce_file_format=False)
