"""Per-frame measurements of a compression cine from its label maps, and the classifier's input.

Labels follow DESIGN.md section 5 (0 background, 1 vein lumen, 2 thrombus, 3 artery). The *target*
vein is the vein component (lumen + thrombus) with the largest area at the clip's most distended frame,
followed through the clip by overlap (:mod:`dvt_us.preprocess.vein_tracking`). The artery is the artery
component nearest to the target vein in the frame where the target is largest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dvt_us.preprocess.vein_tracking import (
    LUMEN,
    THROMBUS,
    FrameSummary,
    LabelReader,
    ap_diameter_px,
    iter_targets,
    nearest_artery,
    summarise_frame,
    top_row,
)

FEATURES = (
    "vein_area_rel", "lumen_area_rel", "thrombus_area_rel", "ap_diameter_rel",
    "artery_area_rel", "artery_shift", "vein_top_shift", "vein_size",
)
"""Names of the classifier's per-step features, in channel order."""
SHIFT_SCALE_MM = 5.0


@dataclass(frozen=True)
class ClipMeasures:
    """Per-frame measurements of the target vein and its artery, in mm and mm² (``[frames]`` each)."""

    vein_area_mm2: NDArray[np.float64]
    lumen_area_mm2: NDArray[np.float64]
    thrombus_area_mm2: NDArray[np.float64]
    ap_diameter_mm: NDArray[np.float64]
    artery_area_mm2: NDArray[np.float64]
    artery_depth_mm: NDArray[np.float64]
    """Artery centroid depth; NaN where no artery is seen."""
    vein_top_mm: NDArray[np.float64]
    """Depth of the ROI's upper vein edge; NaN where no vein pixel is left."""
    found: bool
    """False when no vein is segmented in any frame."""


def measure_frames(summaries: Sequence[FrameSummary], read: LabelReader,
                   spacing_mm: tuple[float, float], origin_rc: tuple[int, int] = (0, 0)) -> ClipMeasures:
    """Measure the target vein and artery in every frame, reading one frame's labels at a time.

    ``summaries`` are the frames' :func:`~dvt_us.preprocess.vein_tracking.summarise_frame`, in order;
    ``read(frame)`` gives a frame's labels again (:func:`~dvt_us.preprocess.vein_tracking.iter_targets`
    says in which order it is asked), or only a window of them whose top-left pixel is ``origin_rc`` of the
    frame, if that window holds every labelled pixel of every frame and starts on an even row and column
    (:func:`~dvt_us.preprocess.vein_tracking.aligned_window`): the measures are the same, bit for bit.
    ``spacing_mm`` is the (row, col) pixel spacing.
    """
    dy, dx = spacing_mm
    r0, c0 = origin_rc
    if r0 % 2 or c0 % 2:
        raise ValueError(f"origin {origin_rc}: a window must start on an even row and column (aligned_window)")
    frames = len(summaries)
    nan = np.full(frames, np.nan)
    lumen_px, thrombus_px = np.zeros(frames), np.zeros(frames)  # pixel counts
    ap_px, top_px = np.zeros(frames), np.full(frames, np.nan)
    ref, ref_px, centre = -1, -1, (0.0, 0.0)  # the frame with the largest target (the first of equals)
    vein_px = np.array([s.vein_px for s in summaries], np.int64)
    for f, labels, target in iter_targets(vein_px, read):
        lumen_px[f] = np.count_nonzero(target & (labels == LUMEN))
        thrombus_px[f] = np.count_nonzero(target & (labels == THROMBUS))
        ap_px[f], top_px[f] = ap_diameter_px(target), top_row(target) + r0
        area = int(lumen_px[f] + thrombus_px[f])
        if area > ref_px or (area == ref_px and f < ref):
            rows, cols = np.nonzero(target)  # in the frame, as the artery centroids are
            ref, ref_px, centre = f, area, (float((rows + r0).mean()), float((cols + c0).mean()))
    if ref < 0:
        zeros = np.zeros(frames)
        return ClipMeasures(zeros, zeros, zeros, zeros, zeros, nan, nan, found=False)
    lumen, thrombus = lumen_px * dy * dx, thrombus_px * dy * dx
    artery = np.array([nearest_artery(s, centre) for s in summaries]).reshape(frames, 2)
    return ClipMeasures(
        vein_area_mm2=lumen + thrombus, lumen_area_mm2=lumen, thrombus_area_mm2=thrombus, ap_diameter_mm=ap_px * dy,
        artery_area_mm2=artery[:, 0] * dy * dx, artery_depth_mm=artery[:, 1] * dy, vein_top_mm=top_px * dy,
        found=True,
    )


def measure_clip(labels: NDArray[np.uint8], spacing_mm: tuple[float, float]) -> ClipMeasures:
    """Measure the target vein and artery in every frame of ``labels`` ``[frames, rows, cols]`` in memory."""
    return measure_frames([summarise_frame(f) for f in labels], lambda f: labels[f], spacing_mm)


def track_target(vein: NDArray[np.bool_]) -> NDArray[np.bool_] | None:
    """The target vein in every frame of ``vein`` ``[frames, rows, cols]`` in memory, or None if no vein at all.

    See :func:`~dvt_us.preprocess.vein_tracking.iter_targets`.
    """
    areas = vein.reshape(len(vein), -1).sum(axis=1)
    target = np.zeros_like(vein)
    found = False
    for f, _, mask in iter_targets(areas, lambda f: vein[f].astype(np.uint8)):
        target[f], found = mask, True
    return target if found else None


def _shift(depth_mm: NDArray[np.float64]) -> NDArray[np.float64]:
    seen = np.isfinite(depth_mm)
    if not seen.any():
        return np.zeros_like(depth_mm)
    filled = np.interp(np.arange(len(depth_mm)), np.nonzero(seen)[0], depth_mm[seen])
    shift: NDArray[np.float64] = (filled - filled[0]) / SHIFT_SCALE_MM
    return shift


def classifier_input(measures: ClipMeasures, steps: int) -> NDArray[np.float32]:
    """The compressibility classifier's input ``[len(FEATURES), steps]``: features resampled in time."""
    vmax = max(float(measures.vein_area_mm2.max()), 1e-6)
    apmax = max(float(measures.ap_diameter_mm.max()), 1e-6)
    artery_ref = float(np.median(measures.artery_area_mm2[measures.artery_area_mm2 > 0])) \
        if (measures.artery_area_mm2 > 0).any() else 1.0
    rows = np.stack([
        measures.vein_area_mm2 / vmax,
        measures.lumen_area_mm2 / vmax,
        measures.thrombus_area_mm2 / vmax,
        measures.ap_diameter_mm / apmax,
        measures.artery_area_mm2 / artery_ref,
        _shift(measures.artery_depth_mm),
        _shift(measures.vein_top_mm),
        np.full(len(measures.vein_area_mm2), np.log1p(vmax) / 5.0),
    ])
    src = np.linspace(0.0, 1.0, rows.shape[1]) if rows.shape[1] > 1 else np.zeros(1)
    dst = np.linspace(0.0, 1.0, steps)
    out = np.stack([np.interp(dst, src, r) if rows.shape[1] > 1 else np.full(steps, r[0]) for r in rows])
    curves: NDArray[np.float32] = np.nan_to_num(out, nan=0.0).astype(np.float32)
    return curves
