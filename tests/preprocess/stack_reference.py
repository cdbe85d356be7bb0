"""The stack-based clip measurements as they were before streaming, kept only as the tests' reference.

A verbatim copy of the whole-stack implementation (every frame's labels in memory at once) that
:func:`dvt_us.preprocess.clip_features.measure_frames` replaced; the streaming code must give the same
numbers, bit for bit.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from dvt_us.preprocess.clip_features import ClipMeasures

_LUMEN, _THROMBUS, _ARTERY = 1, 2, 3


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


def reference_track_target(vein: NDArray[np.bool_]) -> NDArray[np.bool_] | None:
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


def reference_measure_clip(labels: NDArray[np.uint8], spacing_mm: tuple[float, float]) -> ClipMeasures:
    """Measure the target vein and artery in every frame of ``labels`` ``[frames, rows, cols]``."""
    dy, dx = spacing_mm
    frames = len(labels)
    target = reference_track_target((labels == _LUMEN) | (labels == _THROMBUS))
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

