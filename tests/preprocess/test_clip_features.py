"""Clip measurements follow the target vein and agree with the phantom's own truth."""

from __future__ import annotations

import numpy as np
import pytest

from dvt_us.anatomy import Segment
from dvt_us.phantom import CompressionAdequacy, VeinState, sample_params, simulate_cine
from dvt_us.preprocess.clip_features import FEATURES, classifier_input, measure_clip, track_target


@pytest.mark.parametrize("state", list(VeinState))
def test_measures_agree_with_phantom_truth(state: VeinState) -> None:
    rng = np.random.default_rng(7)
    params = sample_params(rng, segment=Segment.CFV, state=state, adequacy=CompressionAdequacy.ADEQUATE,
                           shape=(200, 260), n_frames=16)
    cine = simulate_cine(params, rng)
    m = measure_clip(cine.labels, (cine.spacing_mm, cine.spacing_mm))
    truth = cine.truth
    assert m.found
    assert m.vein_area_mm2.max() == pytest.approx(truth.baseline_area_mm2, rel=0.1)
    assert m.ap_diameter_mm.min() / m.ap_diameter_mm.max() == pytest.approx(truth.diameter_ratio, abs=0.1)
    curves = classifier_input(m, 32)
    assert curves.shape == (len(FEATURES), 32) and np.isfinite(curves).all()


def test_a_neighbouring_vein_is_not_mixed_in() -> None:
    labels = np.zeros((5, 60, 80), np.uint8)
    for f, radius in enumerate([10, 7, 3, 0, 8]):  # the target collapses and comes back
        yy, xx = np.mgrid[:60, :80]
        if radius:
            labels[f][(yy - 30) ** 2 + (xx - 20) ** 2 <= radius**2] = 1
        labels[f][(yy - 30) ** 2 + (xx - 60) ** 2 <= 36] = 1  # a smaller vein that does not compress
    target = track_target(labels == 1)
    assert target is not None
    assert not target[:, :, 45:].any(), "the other vein never joins the target"
    assert not target[3].any() and target[4].any()


def test_degenerate_clips() -> None:
    assert not measure_clip(np.zeros((0, 8, 8), np.uint8), (0.1, 0.1)).found
    empty = measure_clip(np.zeros((4, 8, 8), np.uint8), (0.1, 0.1))
    assert not empty.found
    assert classifier_input(empty, 8).shape == (len(FEATURES), 8)
