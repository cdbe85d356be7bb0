"""Follow the target vein through a clip frame by frame, reading each frame's labels when it is needed.

Labels follow DESIGN.md section 5 (0 background, 1 vein lumen, 2 thrombus, 3 artery). A clip is seen in
two passes, neither of which holds more than one frame's labels: :func:`summarise_frame` while the frames
are segmented (vein area, artery components), then :func:`iter_targets`, which starts from the largest
vein component of the most distended frame and follows it by overlap to the end of the clip and back to
its start, asking a :data:`LabelReader` for each frame in that order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

LUMEN, THROMBUS, ARTERY = 1, 2, 3

LabelReader = Callable[[int], NDArray[np.uint8]]
"""``read(frame)``: the uint8 labels ``[rows, cols]`` of a 0-based frame of the clip."""


@dataclass(frozen=True)
class FrameSummary:
    """What the tracking pass needs of one frame before the target vein is known (pixels, pixel units)."""

    vein_px: int
    """Pixels labelled vein (lumen or thrombus), any component."""
    artery_area_px: NDArray[np.float64]
    """Area of each artery component ``[components]``."""
    artery_centroid_rc: NDArray[np.float64]
    """(row, col) centroid of each artery component ``[components, 2]``."""


def vein_mask(labels: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Pixels labelled vein lumen or thrombus."""
    return np.asarray((labels == LUMEN) | (labels == THROMBUS))


def summarise_frame(labels: NDArray[np.uint8]) -> FrameSummary:
    """The vein area and the artery components of one frame's labels ``[rows, cols]``."""
    vein_px = int(np.count_nonzero((labels == LUMEN) | (labels == THROMBUS)))
    artery = labels == ARTERY
    rows, cols = np.flatnonzero(artery.any(axis=1)), np.flatnonzero(artery.any(axis=0))
    if len(rows) == 0:
        return FrameSummary(vein_px, np.zeros(0), np.zeros((0, 2)))
    r0, _, c0, _ = aligned_window((int(rows[0]), 0, int(cols[0]), 0))  # components in the whole frame's order
    crop = np.ascontiguousarray(artery[r0 : rows[-1] + 1, c0 : cols[-1] + 1]).view(np.uint8)
    count, _, stats, centroids = cv2.connectedComponentsWithStats(crop, connectivity=8)
    area = stats[1:count, cv2.CC_STAT_AREA].astype(np.float64)[:, None]
    # OpenCV's centroid is the exact integer sum of pixel coordinates over the area: recover the sums
    # in the crop, shift them to the frame and divide once more, as a whole-frame labelling would.
    sums_rc = np.rint(np.asarray(centroids)[1:count, ::-1] * area) + np.array([r0, c0]) * area
    return FrameSummary(vein_px, area[:, 0], sums_rc / area)


def nearest_artery(summary: FrameSummary, centre_rc: tuple[float, float]) -> tuple[float, float]:
    """(area px, centroid row) of the artery component nearest ``centre_rc``; (0, nan) when there is none."""
    if len(summary.artery_area_px) == 0:
        return 0.0, float("nan")
    rc = summary.artery_centroid_rc
    best = int(np.argmin(np.hypot(rc[:, 0] - centre_rc[0], rc[:, 1] - centre_rc[1])))
    return float(summary.artery_area_px[best]), float(rc[best, 0])


def aligned_window(window: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """``(row0, row1, col0, col1)`` with row0 and col0 rounded down to even numbers.

    OpenCV labels 8-connected components by 2x2 blocks counted from the image origin, so the order of the
    labels (which breaks ties between components of equal size or overlap here) depends on the parity of a
    crop's origin. Inside a window on an even row and column, it is the order of the whole frame.
    """
    row0, row1, col0, col1 = window
    return row0 - row0 % 2, row1, col0 - col0 % 2, col1


def largest_component(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The largest 8-connected component of ``mask`` (all False when it is empty)."""
    count, comp, stats, _ = cv2.connectedComponentsWithStats(np.ascontiguousarray(mask).view(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(mask)
    return np.asarray(comp == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])))


def best_overlap(mask: NDArray[np.bool_], previous: NDArray[np.bool_], grow_px: int) -> NDArray[np.bool_]:
    """The component of ``mask`` that overlaps most with ``previous`` grown by ``grow_px``."""
    count, comp = cv2.connectedComponents(np.ascontiguousarray(mask).view(np.uint8), connectivity=8)
    rows, cols = np.flatnonzero(previous.any(axis=1)), np.flatnonzero(previous.any(axis=0))
    if count <= 1 or len(rows) == 0:
        return np.zeros_like(mask)
    # Grow only the box around ``previous`` (with room for the growth): outside it nothing is near.
    r0, r1 = max(int(rows[0]) - grow_px, 0), int(rows[-1]) + grow_px + 1
    c0, c1 = max(int(cols[0]) - grow_px, 0), int(cols[-1]) + grow_px + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow_px + 1, 2 * grow_px + 1))
    near = cv2.dilate(np.ascontiguousarray(previous[r0:r1, c0:c1]).view(np.uint8), kernel).astype(bool)
    overlaps = np.bincount(comp[r0:r1, c0:c1][near], minlength=count)[1:]
    if overlaps.max() == 0:
        return np.zeros_like(mask)
    return np.asarray(comp == 1 + int(np.argmax(overlaps)))


def iter_targets(vein_px: NDArray[np.int64], read: LabelReader,
                 ) -> Iterator[tuple[int, NDArray[np.uint8], NDArray[np.bool_]]]:
    """``(frame, labels, target)`` for every frame, in tracking order; nothing when no frame has a vein.

    ``vein_px`` ``[frames]`` is each frame's vein area (:attr:`FrameSummary.vein_px`). The order is the most
    distended frame (the first of equals), the later frames forwards, then the earlier ones backwards. Each
    frame keeps the component overlapping the last non-empty target of its direction, so a neighbouring
    vein (deep femoral, saphenous, paired calf veins) is never mixed in and a frame where the lumen has
    vanished does not lose the outline for the next one.
    """
    if len(vein_px) == 0 or int(vein_px.max()) == 0:
        return
    ref = int(np.argmax(vein_px))
    labels = read(ref)
    first = largest_component(vein_mask(labels))
    rows = np.nonzero(first.any(axis=1))[0]
    grow = max(2, int((rows[-1] - rows[0] + 1) * 0.25))
    yield ref, labels, first
    for order in (range(ref + 1, len(vein_px)), range(ref - 1, -1, -1)):
        last = first
        for f in order:
            labels = read(f)
            target = best_overlap(vein_mask(labels), last, grow)
            yield f, labels, target
            if target.any():
                last = target


def ap_diameter_px(vein: NDArray[np.bool_]) -> float:
    """Longest vertical run of vein pixels in any column (the anteroposterior diameter), in pixels."""
    rows, cols = np.nonzero(vein.any(axis=1))[0], np.nonzero(vein.any(axis=0))[0]
    if len(rows) == 0:
        return 0.0
    box = vein[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    filled = np.cumsum(box, axis=0, dtype=np.int32)
    # Run length at each pixel: pixels so far minus pixels so far at the last gap above it.
    at_gap = np.maximum.accumulate(np.where(box, 0, filled), axis=0)
    return float((filled - at_gap).max())


def top_row(vein: NDArray[np.bool_]) -> float:
    """Row of the uppermost vein pixel; NaN when there is none."""
    rows = np.nonzero(vein.any(axis=1))[0]
    return float(rows[0]) if len(rows) else float("nan")
