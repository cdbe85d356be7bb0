from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from dvt_us.anatomy import Segment
from dvt_us.phantom import Compressibility, VeinState, deformation, elastic, sample_params, simulate_cine
from dvt_us.phantom.cine import clip_truth, prepare_clip

from .conftest import small_params

GRID_MM = 0.1
MAX_FOLDED_FRACTION = 2e-4
"""Tissue cells whose Jacobian determinant is ≤ 0 at maximal compression (a few 0.1-mm cells may squeeze to
zero where a collapsing vein meets a stiff artery; the old column model folded whole layers)."""
MAX_FASCIA_DIP_MM = 2.5
MAX_FASCIA_DIP_OF_AP = 0.3


def _max_compression(seed: int, state: VeinState, segment: Segment):
    params = small_params(seed, state, segment=segment)
    clip = prepare_clip(params, np.random.default_rng(seed))
    fs = clip.states[int(np.argmax(clip.track.pressure))]
    still = deformation.FrameState(fs.coefficients, fs.widening, (0.0, 0.0, 1.0, 0.0), 0.0, 0.0, 0.0)
    return params, clip, still


@pytest.mark.parametrize(("segment", "state"), [(Segment.CFV, VeinState.NORMAL), (Segment.POP, VeinState.NONOCCLUSIVE),
                                                (Segment.PTV, VeinState.CHRONIC)])
def test_displacement_is_invertible_in_tissue(segment: Segment, state: VeinState) -> None:
    for seed in (0, 2):
        params, clip, fs = _max_compression(seed, state, segment)
        xs = np.arange(0.0, params.scene.width_mm, GRID_MM)
        zs = np.arange(0.05, params.scene.depth_mm, GRID_MM)
        xx, zz = np.meshgrid(xs, zs)
        x, z = deformation.displace(fs, deformation.anchor(clip.columns, xx.ravel(), zz.ravel()))
        det = elastic.jacobian_determinant(x.reshape(xx.shape), z.reshape(xx.shape), GRID_MM)
        g = clip.tmap.grid
        rows = (zz / g.spacing_mm).astype(int)
        cols = ((xx - g.x0_mm) / g.spacing_mm).astype(int)
        vessel = ndimage.binary_dilation(clip.tmap.group > 0, iterations=3)[rows, cols][:-1, :-1]
        tissue_det = det[~vessel]
        assert (tissue_det <= 0).mean() <= MAX_FOLDED_FRACTION
        assert np.median(tissue_det) > 0.5


@pytest.mark.parametrize("seed", range(3))
def test_layers_above_a_collapsing_vein_dip_only_a_little(seed: int) -> None:
    params, clip, fs = _max_compression(seed, VeinState.NORMAL, Segment.CFV)
    vein, layers = params.scene.target.lumen, params.scene.layers
    fascia = layers.skin_mm + layers.fat_mm
    far = vein.center_x_mm + 3.0 * vein.semi_width_mm + 10.0
    a = deformation.anchor(clip.columns, np.array([vein.center_x_mm, far]), np.array([fascia, fascia]))
    _, z = deformation.displace(fs, a)
    dip = float(z[0] - z[1])
    assert dip < min(MAX_FASCIA_DIP_MM, MAX_FASCIA_DIP_OF_AP * 2.0 * vein.semi_depth_mm)
    assert clip_truth(clip).compressibility is Compressibility.COMPRESSIBLE


@pytest.mark.parametrize("segment", [Segment.EIV, Segment.CIV, Segment.IVC])
def test_deep_segments_are_deep_low_frequency_and_indeterminate(segment: Segment) -> None:
    rng = np.random.default_rng(4)
    params = sample_params(rng, segment, VeinState.NORMAL, shape=(480, 560), n_frames=3)
    vein = params.scene.target.lumen
    assert 40.0 <= vein.center_depth_mm <= 90.0
    assert params.imaging.center_frequency_mhz <= 5.0
    assert params.imaging.depth_mm >= 90.0
    cine = simulate_cine(params, rng)
    assert cine.truth.compressibility is Compressibility.INDETERMINATE
    assert (cine.labels == 1).any() and (cine.labels == 3).any()
