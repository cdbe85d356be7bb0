from __future__ import annotations

import numpy as np
import pytest

from dvt_us.phantom import Compressibility, CompressionAdequacy, VeinState, simulate_cine, simulate_still_pair

from .conftest import small_params


def test_same_seed_gives_identical_bytes_and_different_seeds_differ() -> None:
    params = small_params(11, VeinState.NONOCCLUSIVE, n_frames=8)
    a = simulate_cine(params, np.random.default_rng(1))
    b = simulate_cine(params, np.random.default_rng(1))
    c = simulate_cine(params, np.random.default_rng(2))
    assert a.frames.tobytes() == b.frames.tobytes()
    assert a.labels.tobytes() == b.labels.tobytes()
    assert a.frames.tobytes() != c.frames.tobytes()
    assert np.mean(a.frames != c.frames) > 0.5  # different speckle, not a few pixels


def test_masks_hold_only_the_four_labels_and_the_vein_is_in_every_frame() -> None:
    for state in VeinState:
        cine = simulate_cine(small_params(21, state), np.random.default_rng(0))
        assert cine.frames.dtype == np.uint8 and cine.labels.dtype == np.uint8
        assert cine.frames.shape == cine.labels.shape == (16, 240, 320)
        assert set(np.unique(cine.labels)) <= {0, 1, 2, 3}
        vein = (cine.labels == 1) | (cine.labels == 2)
        assert vein.reshape(len(vein), -1).any(axis=1).all(), state
        assert (cine.labels == 3).reshape(len(vein), -1).any(axis=1).all(), state


def test_mask_area_agrees_with_measured_area() -> None:
    seed = 30
    while len((params := small_params(seed, VeinState.OCCLUSIVE)).scene.veins) > 1:
        seed += 1
    cine = simulate_cine(params, np.random.default_rng(0))
    px_mm2 = cine.spacing_mm**2
    for i in range(0, len(cine.frames), 5):
        mask_area = ((cine.labels[i] == 1) | (cine.labels[i] == 2)).sum() * px_mm2
        assert mask_area == pytest.approx(cine.vein_area_mm2[i], rel=0.08)


def test_pressure_curve_rests_then_presses() -> None:
    cine = simulate_cine(small_params(4, VeinState.NORMAL, n_frames=20), np.random.default_rng(0))
    assert cine.pressure[0] < 0.05
    assert cine.pressure.max() > 0.85
    assert cine.truth.max_compression_frame > cine.truth.uncompressed_frame


def test_still_pair_is_uncompressed_then_compressed() -> None:
    pair = simulate_still_pair(small_params(8, VeinState.NORMAL), np.random.default_rng(0))
    vein0 = (pair.uncompressed_labels == 1).sum()
    vein1 = (pair.compressed_labels == 1).sum()
    assert vein1 < 0.2 * vein0
    assert pair.truth.compressibility is Compressibility.COMPRESSIBLE


def test_inadequate_compression_is_indeterminate() -> None:
    cine = simulate_cine(small_params(9, VeinState.NORMAL, CompressionAdequacy.INADEQUATE, n_frames=10),
                         np.random.default_rng(0))
    assert cine.truth.compressibility is Compressibility.INDETERMINATE
    assert cine.truth.area_ratio > 0.8
