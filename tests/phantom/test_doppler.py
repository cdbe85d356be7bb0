from __future__ import annotations

import numpy as np
import pytest

from dvt_us.phantom import VeinState, simulate_doppler

from .conftest import small_params


@pytest.mark.parametrize("state", list(VeinState))
def test_colour_only_inside_box_and_never_over_thrombus(state: VeinState) -> None:
    for seed in (1, 2):
        frame = simulate_doppler(small_params(seed, state, n_frames=4), np.random.default_rng(seed))
        rgb = frame.rgb.astype(int)
        coloured = (rgb.max(axis=2) - rgb.min(axis=2)) > 0
        assert (coloured == frame.colour_mask).all()
        assert not (coloured & ~frame.colour_box.mask(frame.labels.shape)).any()
        assert not (coloured & (frame.labels == 2)).any()


def test_flow_fill_follows_patency() -> None:
    normal = simulate_doppler(small_params(3, VeinState.NORMAL, n_frames=4), np.random.default_rng(0))
    occluded = simulate_doppler(small_params(3, VeinState.OCCLUSIVE, n_frames=4), np.random.default_rng(0))
    partial = simulate_doppler(small_params(3, VeinState.NONOCCLUSIVE, n_frames=4), np.random.default_rng(0))
    assert normal.flow_fill_fraction == pytest.approx(1.0)
    assert occluded.flow_fill_fraction == 0.0 and occluded.coloured_fraction == 0.0
    assert 0.0 < partial.flow_fill_fraction < 1.0
    assert normal.coloured_fraction > partial.coloured_fraction * 0.8
