"""Per-frame measurements of a compression cine from its label maps, and the classifier's input.

Labels follow DESIGN.md section 5 (0 background, 1 vein lumen, 2 thrombus, 3 artery). The *target*
vein is the vein component (lumen + thrombus) with the largest area at the clip's most distended frame,
followed through the clip by overlap (:func:`track_target`). The artery is the artery component nearest
to the target vein.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

FEATURES = (
    "vein_area_rel", "lumen_area_rel", "thrombus_area_rel", "ap_diameter_rel",
    "artery_area_rel", "artery_shift", "vein_top_shift", "vein_size",
)
"""Names of the classifier's per-step features, in channel order."""
SHIFT_SCALE_MM = 5.0
_LUMEN, _THROMBUS, _ARTERY = 1, 2, 3


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


def _largest_component(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    count, comp, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(mask)
    return np.asarray(comp == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])))


def _best_overlap(mask: NDArray[np.bool_], previous: NDArray[np.bool_], grow_px: int) -> NDArray[np.bool_]:
    """The component of ``mask`` that overlaps most with ``previous`` grown by ``grow_px``."""
    count, comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(mask)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow_px + 1, 2 * grow_px + 1))
    near = cv2.dilate(previous.astype(np.uint8), kernel).astype(bool)
    overlaps = np.bincount(comp[near], minlength=count)[1:]
    if overlaps.max() == 0:
        return np.zeros_like(mask)
    return np.asarray(comp == 1 + int(np.argmax(overlaps)))


def track_target(vein: NDArray[np.bool_]) -> NDArray[np.bool_] | None:
    """The target vein in every frame of ``vein`` ``[frames, rows, cols]``, or None if no vein at all.

    Starts from the largest component of the most distended frame and follows it both ways in time by
    overlap, so a neighbouring vein (deep femoral, saphenous, paired calf veins) is never mixed in. A
    frame where the lumen has vanished keeps the last seen outline for matching the next frame.
    """
    if len(vein) == 0:
        return None
    areas = vein.reshape(len(vein), -1).sum(axis=1)
    if areas.max() == 0:
        return None
    ref = int(np.argmax(areas))
    target = np.zeros_like(vein)
    target[ref] = _largest_component(vein[ref])
    rows = np.nonzero(target[ref].any(axis=1))[0]
    grow = max(2, int((rows[-1] - rows[0] + 1) * 0.25))
    for order in (range(ref + 1, len(vein)), range(ref - 1, -1, -1)):
        last = target[ref]
        for f in order:
            target[f] = _best_overlap(vein[f], last, grow)
            if target[f].any():
                last = target[f]
    return target


def _ap_diameter_px(vein_roi: NDArray[np.bool_]) -> float:
    """Longest vertical run of vein pixels in any column (the anteroposterior diameter), in pixels."""
    if not vein_roi.any():
        return 0.0
    padded = np.pad(vein_roi, ((1, 1), (0, 0))).astype(np.int8)
    edges = np.diff(padded, axis=0)
    best = 0
    for col in np.nonzero(vein_roi.any(axis=0))[0]:
        starts, stops = np.nonzero(edges[:, col] == 1)[0], np.nonzero(edges[:, col] == -1)[0]
        best = max(best, int((stops - starts).max()))
    return float(best)


def _artery_depth(labels: NDArray[np.uint8], centre: tuple[float, float]) -> tuple[float, float]:
    """(area px, centroid row) of the artery component nearest ``centre``; (0, nan) if none."""
    artery = (labels == _ARTERY).astype(np.uint8)
    count, _, stats, centroids = cv2.connectedComponentsWithStats(artery, connectivity=8)
    if count <= 1:
        return 0.0, float("nan")
    dist = np.hypot(centroids[1:, 1] - centre[0], centroids[1:, 0] - centre[1])
    best = 1 + int(np.argmin(dist))
    return float(stats[best, cv2.CC_STAT_AREA]), float(centroids[best, 1])


def measure_clip(labels: NDArray[np.uint8], spacing_mm: tuple[float, float]) -> ClipMeasures:
    """Measure the target vein and artery in every frame of ``labels`` ``[frames, rows, cols]``."""
    dy, dx = spacing_mm
    frames = len(labels)
    target = track_target((labels == _LUMEN) | (labels == _THROMBUS))
    nan = np.full(frames, np.nan)
    if target is None:
        zeros = np.zeros(frames)
        return ClipMeasures(zeros, zeros, zeros, zeros, zeros, nan, nan, found=False)
    flat = target.reshape(frames, -1)
    lumen = (flat & (labels.reshape(frames, -1) == _LUMEN)).sum(axis=1) * dy * dx
    thrombus = (flat & (labels.reshape(frames, -1) == _THROMBUS)).sum(axis=1) * dy * dx
    ap = np.array([_ap_diameter_px(f) for f in target]) * dy
    ref = int(np.argmax(flat.sum(axis=1)))
    ref_rows, ref_cols = np.nonzero(target[ref])
    centre = (float(ref_rows.mean()), float(ref_cols.mean()))
    artery = np.array([_artery_depth(f, centre) for f in labels])
    tops = np.array([float(np.nonzero(f.any(axis=1))[0][0]) if f.any() else np.nan for f in target])
    return ClipMeasures(
        vein_area_mm2=lumen + thrombus, lumen_area_mm2=lumen, thrombus_area_mm2=thrombus, ap_diameter_mm=ap,
        artery_area_mm2=artery[:, 0] * dy * dx, artery_depth_mm=artery[:, 1] * dy, vein_top_mm=tops * dy,
        found=True,
    )


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
