from __future__ import annotations

from dataclasses import replace

import numpy as np

from dvt_us.anatomy import Segment
from dvt_us.phantom import CompressionAdequacy, PhantomParams, VeinState, sample_params


def small_params(
    seed: int, state: VeinState = VeinState.NORMAL, adequacy: CompressionAdequacy = CompressionAdequacy.ADEQUATE,
    *, segment: Segment = Segment.CFV, shape: tuple[int, int] = (240, 320), n_frames: int = 16,
) -> PhantomParams:
    """Small, fast clip parameters with a plain grey map (gamma 1, no speckle reduction or persistence)."""
    p = sample_params(np.random.default_rng(seed), segment, state, adequacy, shape=shape, n_frames=n_frames)
    im = replace(p.imaging, gamma=1.0, speckle_reduction=0.0, persistence=0.0, gain_db=0.0)
    return replace(p, imaging=im)
