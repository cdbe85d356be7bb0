from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from dvt_us.phantom import Imaging, VeinState, simulate_cine
from dvt_us.phantom.bmode import apply_psf, make_beam, scatter_weights, sim_grid, splat

from .conftest import small_params

RAYLEIGH_SNR = math.sqrt(math.pi / (4.0 - math.pi))  # 1.913
LUMEN_CONTRAST_DB = 15.0


def _imaging(frequency_mhz: float) -> Imaging:
    return Imaging(
        center_frequency_mhz=frequency_mhz, fractional_bandwidth=0.6, f_number=2.0, focus_depth_mm=20.0,
        depth_of_field_mm=15.0, depth_mm=40.0, width_mm=40.0, spacing_mm=0.1, frame_rate_hz=30.0,
        attenuation_db_cm_mhz=0.7, tgc_compensation=1.0, tgc_sliders_db=(), dynamic_range_db=60.0, gain_db=0.0,
        noise_db=-80.0, sidelobe_db=-35.0, clutter_db=-40.0, reverberation_db=-30.0, gamma=1.0,
        speckle_reduction=0.0, persistence=0.0,
    )


@pytest.mark.parametrize("frequency_mhz", [5.0, 7.5, 12.0])
def test_fully_developed_speckle_is_rayleigh(frequency_mhz: float) -> None:
    im = _imaging(frequency_mhz)
    grid = sim_grid(im)
    beam = make_beam(im, grid)
    rng = np.random.default_rng(3)
    n = grid.rows * grid.cols * 2  # homogeneous tissue, two scatterers per cell on average, uniform positions
    x = rng.uniform(0, im.width_mm, n).astype(np.float32)
    z = rng.uniform(0, im.depth_mm, n).astype(np.float32)
    amp = np.ones(n, np.complex64)
    field, _ = splat(x, z, scatter_weights(im, z, amp), grid)
    env = np.abs(apply_psf(field, beam))
    inner = env[grid.rows // 8 : -grid.rows // 8, grid.cols // 8 : -grid.cols // 8]
    snr = inner.mean() / inner.std()
    assert snr == pytest.approx(RAYLEIGH_SNR, rel=0.05)


def test_vein_lumen_is_darker_than_surrounding_tissue() -> None:
    params = small_params(5, VeinState.NORMAL)
    cine = simulate_cine(params, np.random.default_rng(5))
    frame, labels = cine.frames[0].astype(float), cine.labels[0]
    lumen = ndimage.binary_erosion(labels == 1, iterations=3)
    vessels = labels > 0
    ring = ndimage.binary_dilation(vessels, iterations=25) & ~ndimage.binary_dilation(vessels, iterations=8)
    assert lumen.sum() > 50
    contrast_db = (frame[ring].mean() - frame[lumen].mean()) * params.imaging.dynamic_range_db / 255.0
    assert contrast_db >= LUMEN_CONTRAST_DB
