"""Findings of one clip from its measurements and the classifier's probabilities (DESIGN.md section 4).

Pure: the inputs are the per-frame measures of the target vein (:class:`ClipMeasures`) and, for a
compression cine, the compressibility classifier's probabilities. The measured diameter ratio and the
classifier must agree; when they do not, the clip is flagged for a reader, and when the classifier is
unsure the clip is indeterminate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dvt_us.findings.vocabulary import (
    OCCLUSIVE_MIN_THROMBUS_FRACTION,
    Compressibility,
    compressibility_from_ratio,
)
from dvt_us.preprocess.clip_features import ClipMeasures

MIN_CONFIDENCE = 0.6
"""Below this classifier probability a clip is indeterminate."""
MIN_VEIN_FRAMES = 0.5
"""Share of frames in which the vein must be seen for a clip to be measured."""
MIN_TISSUE_SHIFT_MM = 1.0
"""Compression is adequate when the tissue or the artery moves at least this far, or the vein shrinks."""
ADEQUATE_MAX_AREA_RATIO = 0.8
COAPTED_MAX_MODEL_PX = 1.5
"""A residual AP diameter of at most this many segmentation-model pixels counts as coapted walls.

The model sees a view at its input size (128 pixels across a 600x800 view: about 6 source pixels each), and on
a fully compressed vein it leaves a sliver of about that width: on the validation trial (phantom seed 2000,
153 compressible cines), a median 1.5 model pixels on the vein where the truth has 0.7. Against the ratio
alone, a small calf vein of 9 model pixels could then never measure compressible. The allowance took measured
compressible calls of compressible cines from 0.58 to 0.77, for one more of 49 partial cines missed."""


def classifier_call(probabilities: Sequence[float], abnormal_min_probability: float | None = None,
                    ) -> tuple[Compressibility, float]:
    """The classifier's class for 4 probabilities (:class:`Compressibility` order), and its probability.

    Without an operating point this is the most probable class. With one (``abnormal_min_probability``
    in the model's manifest, chosen on validation data for sensitivity), the clip is abnormal when
    P(partial) + P(noncompressible) reaches it: the more probable of the two, with the pair's probability;
    otherwise the more probable of compressible and indeterminate.
    """
    p = [float(v) for v in probabilities]
    classes = list(Compressibility)
    if abnormal_min_probability is None:
        best = int(np.argmax(p))
        return classes[best], p[best]
    abnormal = p[1] + p[2]
    if abnormal >= abnormal_min_probability:
        return (Compressibility.PARTIAL if p[1] >= p[2] else Compressibility.NONCOMPRESSIBLE), abnormal
    return (Compressibility.COMPRESSIBLE, p[0]) if p[0] >= p[3] else (Compressibility.INDETERMINATE, p[3])


@dataclass(frozen=True)
class CompressibilityCall:
    """The clip's compressibility: the final label, the classifier's call and the measured call."""

    label: Compressibility
    confidence: float
    """Probability of the classifier's call (:func:`classifier_call`), also when low confidence made
    ``label`` indeterminate."""
    classifier: Compressibility
    probabilities: tuple[float, float, float, float]
    """Classifier probabilities in :class:`Compressibility` order."""
    measured: Compressibility
    """From the diameter ratio rule (a residual within :data:`COAPTED_MAX_MODEL_PX` counts as coapted), or
    INDETERMINATE when the vein was not measured."""
    agree: bool
    flagged: bool
    """True when a reader should look: classifier and measurement disagree, or confidence is low."""


@dataclass(frozen=True)
class CompressionFindings:
    """Findings of one compression cine (or still pair), target vein only. Lengths in mm, areas in mm²."""

    frames: int
    vein_found: bool
    area_mm2: tuple[float, ...]
    ap_diameter_mm: tuple[float, ...]
    uncompressed_frame: int
    max_compression_frame: int
    baseline_area_mm2: float
    min_area_mm2: float
    area_ratio: float
    uncompressed_diameter_mm: float
    residual_diameter_mm: float
    diameter_ratio: float
    thrombus_area_fraction: float
    occlusive: bool
    compression_adequate: bool
    tissue_shift_mm: float
    compressibility: CompressibilityCall
    indeterminate_reason: str | None


def _adequacy(measures: ClipMeasures, area_ratio: float) -> tuple[bool, float]:
    shifts = []
    for depth in (measures.artery_depth_mm, measures.vein_top_mm):
        seen = depth[np.isfinite(depth)]
        if len(seen) > 1:
            shifts.append(float(np.abs(seen - seen[0]).max()))
    shift = max(shifts, default=0.0)
    return shift >= MIN_TISSUE_SHIFT_MM or area_ratio <= ADEQUATE_MAX_AREA_RATIO, shift


def key_frames(area_mm2: np.ndarray) -> tuple[int, int]:
    """(uncompressed, maximal compression) frame indices of a compression cine's vein area curve.

    Maximal compression is the smallest area; uncompressed the largest area before it, so that a vein
    that re-distends after the probe is released (often a little wider than at rest) does not move the
    uncompressed frame past the compression. A cine whose first frame is already the smallest (the probe
    was pressed before recording) takes the largest area anywhere as uncompressed.
    """
    if len(area_mm2) == 0:
        return 0, 0
    i1 = int(np.argmin(area_mm2))
    i0 = int(np.argmax(area_mm2[: i1 + 1])) if i1 > 0 else int(np.argmax(area_mm2))
    return i0, i1


def compression_findings(measures: ClipMeasures, probabilities: np.ndarray,
                         key: tuple[int, int] | None = None,
                         abnormal_min_probability: float | None = None,
                         model_pixel_mm: float = 0.0) -> CompressionFindings:
    """Findings of a compression clip from its measures and the classifier's 4 probabilities.

    ``key`` gives the (uncompressed, maximal compression) frames when the acquisition says which they
    are (a still pair: 0 and 1); else they are found from the area curve (:func:`key_frames`).
    ``abnormal_min_probability`` is the classifier's operating point, if its manifest has one.
    ``model_pixel_mm`` is the AP size of one segmentation-model pixel: a residual of at most
    :data:`COAPTED_MAX_MODEL_PX` of them is measured compressible, whatever the ratio.
    """
    if np.shape(probabilities) != (len(Compressibility),):
        raise ValueError(f"expected {len(Compressibility)} classifier probabilities, got {np.shape(probabilities)}")
    probs = (float(probabilities[0]), float(probabilities[1]), float(probabilities[2]), float(probabilities[3]))
    area, ap = measures.vein_area_mm2, measures.ap_diameter_mm
    frames = len(area)
    seen = float((area > 0).mean()) if frames else 0.0
    found = measures.found and seen >= MIN_VEIN_FRAMES
    i0, i1 = key if key is not None else key_frames(area)
    if not (0 <= i0 < max(frames, 1) and 0 <= i1 < max(frames, 1)):
        raise ValueError(f"key frames {key} outside the clip's {frames} frames")
    base_area = float(area[i0]) if frames else 0.0
    min_area = float(area[i1]) if frames else 0.0
    area_ratio = min_area / base_area if base_area > 0 else float("nan")
    ap0 = float(ap[i0]) if frames else 0.0
    ap1 = float(ap[i1]) if frames else 0.0
    diameter_ratio = ap1 / ap0 if ap0 > 0 else float("nan")
    thrombus = float(measures.thrombus_area_mm2[i1] / min_area) if min_area > 0 else 0.0
    adequate, shift = _adequacy(measures, area_ratio if found else 1.0)

    classifier, confidence = classifier_call(probs, abnormal_min_probability)
    if not (found and np.isfinite(diameter_ratio)):
        measured = Compressibility.INDETERMINATE
    elif ap1 <= COAPTED_MAX_MODEL_PX * model_pixel_mm:
        measured = Compressibility.COMPRESSIBLE
    else:
        measured = compressibility_from_ratio(diameter_ratio)
    if not adequate and measured is not Compressibility.NONCOMPRESSIBLE:
        measured = Compressibility.INDETERMINATE
    agree = classifier is measured
    reason = None
    if not found:
        label, reason = Compressibility.INDETERMINATE, "vein not found in enough frames"
    elif confidence < MIN_CONFIDENCE:
        label, reason = Compressibility.INDETERMINATE, f"classifier unsure (p={confidence:.2f})"
    else:
        label = classifier
        if label is Compressibility.INDETERMINATE:
            reason = "inadequate compression" if not adequate else "classifier: indeterminate"
    call = CompressibilityCall(label, confidence, classifier, probs, measured, agree,
                               flagged=not agree or label is Compressibility.INDETERMINATE)
    return CompressionFindings(
        frames=frames, vein_found=found,
        area_mm2=tuple(round(float(a), 3) for a in area), ap_diameter_mm=tuple(round(float(d), 3) for d in ap),
        uncompressed_frame=i0, max_compression_frame=i1, baseline_area_mm2=base_area, min_area_mm2=min_area,
        area_ratio=area_ratio, uncompressed_diameter_mm=ap0, residual_diameter_mm=ap1,
        diameter_ratio=diameter_ratio, thrombus_area_fraction=thrombus,
        occlusive=thrombus >= OCCLUSIVE_MIN_THROMBUS_FRACTION, compression_adequate=adequate,
        tissue_shift_mm=shift, compressibility=call, indeterminate_reason=reason,
    )


@dataclass(frozen=True)
class FlowFindings:
    """Findings of a colour Doppler frame: how much of the vein lumen is filled with colour."""

    vein_found: bool
    flow_fill_fraction: float
    """Coloured pixels over the target vein's cross-section (lumen + thrombus), 0 … 1."""
    vein_area_mm2: float


def flow_findings(vein: np.ndarray, coloured: np.ndarray, spacing_mm: tuple[float, float]) -> FlowFindings:
    """Flow fill of the target vein: ``vein`` and ``coloured`` are bool ``[rows, cols]`` of one view."""
    area_px = int(vein.sum())
    if area_px == 0:
        return FlowFindings(False, 0.0, 0.0)
    return FlowFindings(True, float((vein & coloured).sum() / area_px), area_px * spacing_mm[0] * spacing_mm[1])

