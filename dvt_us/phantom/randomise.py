"""What scanners, sonographers and patients vary, sampled wide on purpose.

The models trained on these clips are judged on an independent simulator and on real scans, so the
ranges below are deliberately broad rather than tuned to look like one machine.
"""

from __future__ import annotations

import math

import numpy as np

from dvt_us.anatomy import Laterality, Segment
from dvt_us.phantom.bmode import Imaging
from dvt_us.phantom.cine import PhantomParams
from dvt_us.phantom.deformation import CompressionAdequacy, sample_compression
from dvt_us.phantom.scene import DEEP_SEGMENTS, SUPPORTED_SEGMENTS, VeinState, sample_scene

INADEQUATE_PROBABILITY = 0.15
_MAX_ROWS = 900


def sample_imaging(
    rng: np.random.Generator, shape: tuple[int, int] | None = None, depth_mm: float | None = None, *,
    deep: bool = False,
) -> Imaging:
    """Draw scanner settings.

    Parameters
    ----------
    rng
        The only source of randomness.
    shape
        Output ``(rows, cols)``; by default the pixel size (0.05–0.2 mm) and field width (35–60 mm) are
        drawn and the shape follows. When given, the pixel size is ``depth_mm / rows`` and the width
        ``cols × spacing`` (kept within 25–80 mm by adjusting the depth).
    depth_mm
        Imaging depth, default drawn from 30–60 mm (deep: 100–140 mm).
    deep
        Iliac/IVC settings: a low-frequency (2–5 MHz) curved-array-like probe, deep field, wide view.
    """
    u = rng.uniform
    max_depth = 160.0 if deep else 80.0
    depth = (u(100.0, 140.0) if deep else u(30.0, 60.0)) if depth_mm is None else depth_mm
    if shape is None:
        spacing = math.exp(u(math.log(max(0.05, depth / _MAX_ROWS)), math.log(0.25)))
        width = u(70.0, 110.0) if deep else u(35.0, 60.0)
    else:
        rows, cols = shape
        depth = float(np.clip(depth, 25.0 * rows / cols, (160.0 if deep else 80.0) * rows / cols))
        depth = float(np.clip(depth, 25.0, max_depth))
        spacing = depth / rows
        width = cols * spacing
    f_max = min(12.0, 8.0 + (60.0 - depth) / 7.5)
    frequency = u(2.0, 5.0) if deep else u(5.0, f_max)
    return Imaging(
        center_frequency_mhz=frequency, fractional_bandwidth=u(0.4, 0.8), f_number=u(1.5, 3.5),
        focus_depth_mm=u(0.3, 0.8) * depth, depth_of_field_mm=u(10.0, 30.0), depth_mm=depth, width_mm=width,
        spacing_mm=spacing, frame_rate_hz=u(15.0, 60.0), attenuation_db_cm_mhz=u(0.5, 1.0),
        tgc_compensation=u(0.6, 1.1), tgc_sliders_db=tuple(float(v) for v in rng.normal(0.0, 2.0, 8)),
        dynamic_range_db=u(40.0, 70.0), gain_db=u(-8.0, 8.0), noise_db=u(-75.0, -45.0),
        sidelobe_db=u(-40.0, -25.0), clutter_db=u(-40.0, -25.0), reverberation_db=u(-30.0, -12.0),
        gamma=u(0.75, 1.35), speckle_reduction=u(0.0, 0.6) if rng.random() < 0.5 else 0.0,
        persistence=u(0.0, 0.5) if rng.random() < 0.5 else 0.0,
    )


def sample_params(
    rng: np.random.Generator,
    segment: Segment | None = None,
    state: VeinState | None = None,
    adequacy: CompressionAdequacy | None = None,
    *,
    shape: tuple[int, int] | None = None,
    n_frames: int | None = None,
) -> PhantomParams:
    """Draw a whole clip's parameters; anything given is held fixed, the rest is drawn.

    Segment and state are uniform over :data:`~dvt_us.phantom.scene.SUPPORTED_SEGMENTS` and
    :class:`VeinState`; compression is inadequate with probability 0.15; 20–60 frames. Iliac and IVC
    segments get deep, low-frequency imaging and ``indeterminate`` compression truth.
    """
    seg = SUPPORTED_SEGMENTS[int(rng.integers(len(SUPPORTED_SEGMENTS)))] if segment is None else segment
    st = list(VeinState)[int(rng.integers(len(VeinState)))] if state is None else state
    if adequacy is None:
        adequacy = (CompressionAdequacy.INADEQUATE if rng.random() < INADEQUATE_PROBABILITY
                    else CompressionAdequacy.ADEQUATE)
    imaging = sample_imaging(rng, shape, deep=seg in DEEP_SEGMENTS)
    side = Laterality.RIGHT if rng.random() < 0.5 else Laterality.LEFT
    scene = sample_scene(seg, st, imaging.width_mm, imaging.depth_mm, rng, laterality=side)
    frames = int(rng.integers(20, 61)) if n_frames is None else n_frames
    return PhantomParams(scene, sample_compression(adequacy, rng), imaging, frames)
