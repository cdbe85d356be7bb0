"""Ultrasound phantom: transverse venous compression B-mode cines and colour Doppler frames with truth.

Typical use::

    rng = np.random.default_rng(seed)
    params = sample_params(rng, segment=Segment.CFV, state=VeinState.OCCLUSIVE)
    cine = simulate_cine(params, rng)          # frames, labels [frames, rows, cols], truth
    pair = simulate_still_pair(params, rng)    # uncompressed / max-compressed stills
    colour = simulate_doppler(params, rng)     # RGB frame, colour box, flow_fill_fraction

Everything is a pure function of its parameters and the numpy ``Generator`` passed in: no global
random state, no disk or clock. Labels: 0 background, 1 vein lumen, 2 thrombus, 3 artery.
"""

from dvt_us.findings.vocabulary import Compressibility
from dvt_us.phantom import deformation, elastic
from dvt_us.phantom.bmode import Imaging
from dvt_us.phantom.cine import (
    Cine,
    ClipTruth,
    PhantomParams,
    StillPair,
    simulate_cine,
    simulate_still_pair,
)
from dvt_us.phantom.deformation import Compression, CompressionAdequacy, sample_compression
from dvt_us.phantom.doppler import ColourBox, DopplerFrame, DopplerSettings, sample_doppler, simulate_doppler
from dvt_us.phantom.randomise import sample_imaging, sample_params
from dvt_us.phantom.scene import DEEP_SEGMENTS, SUPPORTED_SEGMENTS, Scene, VeinState, sample_scene

__all__ = [
    "DEEP_SEGMENTS",
    "SUPPORTED_SEGMENTS",
    "Cine",
    "ClipTruth",
    "ColourBox",
    "Compressibility",
    "Compression",
    "CompressionAdequacy",
    "DopplerFrame",
    "DopplerSettings",
    "Imaging",
    "PhantomParams",
    "Scene",
    "StillPair",
    "VeinState",
    "deformation",
    "elastic",
    "sample_compression",
    "sample_doppler",
    "sample_imaging",
    "sample_params",
    "sample_scene",
    "simulate_cine",
    "simulate_doppler",
    "simulate_still_pair",
]
