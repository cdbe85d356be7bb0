"""Findings per clip, segment, leg and visit from measurements (pure functions, synthetic inputs)."""

from __future__ import annotations

import numpy as np
import pytest

from dvt_us.anatomy import Laterality, Segment
from dvt_us.findings.clip_findings import classifier_call, compression_findings, flow_findings
from dvt_us.findings.segment_findings import (
    SegmentEvidence,
    change_since_baseline,
    leg_findings,
    segment_findings,
)
from dvt_us.findings.vocabulary import Compressibility, Patency, Thrombus
from dvt_us.preprocess.clip_features import ClipMeasures

L = Laterality.LEFT


def _measures(area: list[float], ap: list[float], thrombus: list[float] | None = None,
              shift_mm: float = 2.0) -> ClipMeasures:
    n = len(area)
    thrombus_arr = np.asarray(thrombus if thrombus is not None else [0.0] * n)
    depth = 20.0 - np.linspace(0, shift_mm, n)
    return ClipMeasures(
        vein_area_mm2=np.asarray(area), lumen_area_mm2=np.asarray(area) - thrombus_arr,
        thrombus_area_mm2=thrombus_arr, ap_diameter_mm=np.asarray(ap), artery_area_mm2=np.full(n, 30.0),
        artery_depth_mm=depth, vein_top_mm=depth + 5, found=True,
    )


NORMAL = _measures([100, 90, 40, 3, 2, 60, 100], [10, 9, 4, 0.6, 0.5, 7, 10])
OCCLUDED = _measures([150, 149, 148, 147, 148, 150], [12, 12, 11.9, 11.8, 11.9, 12], [150, 149, 148, 147, 148, 150])
P = {c: np.eye(4)[i] * 0.9 + 0.025 for i, c in enumerate(Compressibility)}


def test_agreeing_compressible_clip() -> None:
    f = compression_findings(NORMAL, P[Compressibility.COMPRESSIBLE])
    assert f.compressibility.label is Compressibility.COMPRESSIBLE
    assert f.compressibility.measured is Compressibility.COMPRESSIBLE
    assert f.compressibility.agree and not f.compressibility.flagged
    assert (f.uncompressed_frame, f.max_compression_frame) == (0, 4)
    assert f.diameter_ratio == pytest.approx(0.05)
    assert f.residual_diameter_mm == pytest.approx(0.5)
    assert f.compression_adequate


@pytest.mark.parametrize(("residual_mm", "measured"), [
    (0.59, Compressibility.COMPRESSIBLE),  # 1.48 model pixels of 0.4 mm: coapted walls, at the model's resolution
    (0.60, Compressibility.COMPRESSIBLE),  # 1.5 pixels
    (0.62, Compressibility.PARTIAL),  # 1.55 pixels, and 17 % of the 3.6 mm vein
])
def test_a_residual_within_the_models_resolution_counts_as_coapted(residual_mm: float,
                                                                   measured: Compressibility) -> None:
    """A small calf vein (3.6 mm, 9 model pixels): its residual sliver is above 10 % yet within 1.5 pixels."""
    small = _measures([10, 9, 4, 1, 0.8, 6, 10], [3.6, 3.4, 2, 0.8, residual_mm, 2.5, 3.6])
    f = compression_findings(small, P[Compressibility.COMPRESSIBLE], model_pixel_mm=0.4)
    assert f.diameter_ratio > 0.10
    assert f.compressibility.measured is measured
    assert compression_findings(small, P[Compressibility.COMPRESSIBLE]).compressibility.measured \
        is Compressibility.PARTIAL, "without the model's pixel size the ratio alone decides"


def test_key_frames_survive_a_vein_that_redistends_wider_after_release() -> None:
    # rest 20 mm², pressed to 1.5 mm², released to 21.4 mm² (wider than at rest), the last frame 21 mm².
    overshoot = _measures([20, 19, 5, 4, 1.5, 3, 21.4, 21.0], [5, 4.9, 2, 1.5, 0.3, 1, 5.2, 5.1])
    f = compression_findings(overshoot, P[Compressibility.COMPRESSIBLE])
    assert (f.uncompressed_frame, f.max_compression_frame) == (0, 4)
    assert f.compressibility.measured is Compressibility.COMPRESSIBLE
    # Pressed before the recording started: the widest frame anywhere is the uncompressed one.
    pressed_first = compression_findings(_measures([1, 8, 20, 18], [0.2, 2, 5, 4.5]), P[Compressibility.COMPRESSIBLE])
    assert (pressed_first.uncompressed_frame, pressed_first.max_compression_frame) == (2, 0)


def test_a_still_pair_keeps_its_order_even_when_the_vein_widens() -> None:
    pair = _measures([150, 152], [12, 12.2], [150, 152])
    f = compression_findings(pair, P[Compressibility.NONCOMPRESSIBLE], key=(0, 1))
    assert (f.uncompressed_frame, f.max_compression_frame) == (0, 1)
    assert f.diameter_ratio > 1 and f.compressibility.measured is Compressibility.NONCOMPRESSIBLE
    with pytest.raises(ValueError, match="outside the clip"):
        compression_findings(pair, P[Compressibility.NONCOMPRESSIBLE], key=(0, 2))


def test_disagreement_is_flagged_and_low_confidence_is_indeterminate() -> None:
    f = compression_findings(NORMAL, P[Compressibility.PARTIAL])
    assert f.compressibility.label is Compressibility.PARTIAL and f.compressibility.flagged
    unsure = compression_findings(NORMAL, np.array([0.4, 0.3, 0.2, 0.1]))
    assert unsure.compressibility.label is Compressibility.INDETERMINATE
    assert "unsure" in (unsure.indeterminate_reason or "")


def test_the_operating_point_calls_abnormal_on_the_pair_of_abnormal_probabilities() -> None:
    probs = [0.45, 0.3, 0.2, 0.05]  # most probable: compressible; abnormal together: 0.5
    assert classifier_call(probs) == (Compressibility.COMPRESSIBLE, 0.45)
    assert classifier_call(probs, 0.5) == (Compressibility.PARTIAL, pytest.approx(0.5))
    assert classifier_call(probs, 0.6) == (Compressibility.COMPRESSIBLE, 0.45)
    assert classifier_call([0.1, 0.2, 0.3, 0.4], 0.4)[0] is Compressibility.NONCOMPRESSIBLE
    assert classifier_call([0.1, 0.1, 0.1, 0.7], 0.4) == (Compressibility.INDETERMINATE, 0.7)
    called = compression_findings(NORMAL, np.array([0.2, 0.7, 0.05, 0.05]), abnormal_min_probability=0.3)
    assert called.compressibility.classifier is Compressibility.PARTIAL
    assert called.compressibility.confidence == pytest.approx(0.75)
    unsure = compression_findings(NORMAL, np.array([0.55, 0.25, 0.1, 0.1]), abnormal_min_probability=0.3)
    assert unsure.compressibility.classifier is Compressibility.PARTIAL  # 0.35 >= 0.3, yet unsure:
    assert unsure.compressibility.label is Compressibility.INDETERMINATE and unsure.compressibility.flagged


def test_occlusive_clip_and_inadequate_compression() -> None:
    f = compression_findings(OCCLUDED, P[Compressibility.NONCOMPRESSIBLE])
    assert f.occlusive and f.thrombus_area_fraction == pytest.approx(1.0)
    assert f.compressibility.measured is Compressibility.NONCOMPRESSIBLE
    still = _measures([100, 99, 98, 97, 99], [10, 10, 9.9, 9.8, 10], shift_mm=0.2)
    g = compression_findings(still, P[Compressibility.INDETERMINATE])
    assert not g.compression_adequate
    assert g.compressibility.measured is Compressibility.NONCOMPRESSIBLE  # a still vein can be occluded...
    assert g.compressibility.label is Compressibility.INDETERMINATE  # ...but the classifier calls it, and flags
    assert g.compressibility.flagged and g.indeterminate_reason == "inadequate compression"


def test_vein_not_found() -> None:
    empty = ClipMeasures(*(np.zeros(5),) * 5, np.full(5, np.nan), np.full(5, np.nan), found=False)
    f = compression_findings(empty, P[Compressibility.COMPRESSIBLE])
    assert f.compressibility.label is Compressibility.INDETERMINATE and not f.vein_found


def test_flow_fill() -> None:
    vein = np.zeros((10, 10), bool)
    vein[2:6, 2:6] = True
    colour = np.zeros_like(vein)
    colour[2:4, 2:6] = True
    f = flow_findings(vein, colour, (0.5, 0.5))
    assert f.flow_fill_fraction == pytest.approx(0.5) and f.vein_area_mm2 == pytest.approx(4.0)
    assert not flow_findings(np.zeros_like(vein), colour, (0.5, 0.5)).vein_found


def _segment(segment: Segment, *clips: tuple[np.ndarray, ClipMeasures]) -> object:
    evidence = [SegmentEvidence(f"uid{i}", compression=compression_findings(m, p)) for i, (p, m) in enumerate(clips)]
    return segment_findings(L, segment, evidence, rvt_min_residual_mm=3.0)


def test_segment_grades_patency_and_rvt() -> None:
    normal = _segment(Segment.CFV, (P[Compressibility.COMPRESSIBLE], NORMAL))
    assert (normal.thrombus, normal.grade, normal.patency, normal.rvt) == (Thrombus.NONE, 0, Patency.PATENT, False)
    occluded = _segment(Segment.FV_P, (P[Compressibility.NONCOMPRESSIBLE], OCCLUDED))
    assert (occluded.thrombus, occluded.grade, occluded.patency) == (Thrombus.OCCLUSIVE, 3, Patency.OCCLUDED)
    assert occluded.rvt is True
    mixed = _segment(Segment.FV_M, (P[Compressibility.NONCOMPRESSIBLE], OCCLUDED),
                     (P[Compressibility.PARTIAL], NORMAL))
    assert (mixed.grade, mixed.patency) == (2, Patency.PARTIALLY_PATENT)
    assert mixed.clips == ("uid0", "uid1")
    assert mixed.measured_clip == "uid0"  # the noncompressible clip decides, and its diameters are reported


def test_an_uncalibrated_clip_gives_no_residual_diameter_in_mm() -> None:
    occluded = compression_findings(OCCLUDED, P[Compressibility.NONCOMPRESSIBLE])
    evidence = [SegmentEvidence("px", occluded, calibrated=False)]
    f = segment_findings(L, Segment.POP, evidence, rvt_min_residual_mm=2.0)
    assert f.residual_diameter_mm is None and f.diameter_ratio == pytest.approx(occluded.diameter_ratio)
    assert f.rvt is True and f.measured_clip == "px"  # by the diameter ratio, which needs no calibration


def test_leg_and_change_since_baseline() -> None:
    base = [_segment(Segment.CFV, (P[Compressibility.NONCOMPRESSIBLE], OCCLUDED)),
            _segment(Segment.FV_P, (P[Compressibility.NONCOMPRESSIBLE], OCCLUDED)),
            _segment(Segment.POP, (P[Compressibility.COMPRESSIBLE], NORMAL))]
    later = [_segment(Segment.CFV, (P[Compressibility.COMPRESSIBLE], NORMAL)),
             _segment(Segment.FV_P, (P[Compressibility.NONCOMPRESSIBLE], OCCLUDED)),
             _segment(Segment.POP, (P[Compressibility.PARTIAL], NORMAL))]
    leg = leg_findings(L, base, protocol=[Segment.CFV, Segment.FV_P, Segment.FV_M, Segment.POP])
    assert leg.involved == (Segment.CFV, Segment.FV_P) and leg.most_proximal is Segment.CFV
    assert leg.thrombus_score == 6 and leg.missing == (Segment.FV_M,)
    change = change_since_baseline(base, later, L)
    assert change.recanalised == (Segment.CFV,)
    assert change.new_or_extended == (Segment.POP,)
    assert change.score_change == (0 + 3 + 1) - (3 + 3 + 0)
