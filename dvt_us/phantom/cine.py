"""Compression cines and still pairs: frames, per-frame truth masks and measures, and clip truth labels.

Scatterers are drawn once per clip and advected by the deformation, so speckle is temporally coherent;
only electronic noise is new in every frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dvt_us.anatomy import Segment
from dvt_us.findings.vocabulary import (
    OCCLUSIVE_MIN_THROMBUS_FRACTION,
    Compressibility,
    compressibility_from_ratio,
)
from dvt_us.phantom import bmode, deformation, tissue
from dvt_us.phantom.deformation import Compression, CompressionAdequacy, MotionTrack
from dvt_us.phantom.scene import DEEP_SEGMENTS, Scene, VeinState

REFERENCE_SPACING_MM = 0.1


@dataclass(frozen=True)
class PhantomParams:
    """Everything that defines one clip except the random draws of speckle, texture and noise."""

    scene: Scene
    compression: Compression
    imaging: bmode.Imaging
    n_frames: int

    def __post_init__(self) -> None:
        if not 2 <= self.n_frames <= 400:
            raise ValueError(f"n_frames must lie in 2–400, got {self.n_frames}")
        im, sc = self.imaging, self.scene
        if abs(im.width_mm - sc.width_mm) > 1e-6 or abs(im.depth_mm - sc.depth_mm) > 1e-6:
            raise ValueError(f"scene field {sc.width_mm}x{sc.depth_mm} mm differs from imaging "
                             f"{im.width_mm}x{im.depth_mm} mm")

    @property
    def frame_time_s(self) -> float:
        """Time between frames, s."""
        return 1.0 / self.imaging.frame_rate_hz


@dataclass(frozen=True)
class ClipTruth:
    """Scalar truth of a compression clip (target vein), per DESIGN.md section 4."""

    segment: Segment
    state: VeinState
    adequacy: CompressionAdequacy
    compressibility: Compressibility
    uncompressed_frame: int
    max_compression_frame: int
    baseline_area_mm2: float
    min_area_mm2: float
    area_ratio: float
    uncompressed_diameter_mm: float
    residual_diameter_mm: float
    diameter_ratio: float
    thrombus_area_fraction: float
    """Thrombus area over vein cross-section at maximal compression."""
    occlusive: bool
    """``thrombus_area_fraction ≥ 0.9``."""


@dataclass(frozen=True)
class Cine:
    """A simulated compression cine. Arrays are read-only."""

    frames: np.ndarray
    """uint8 ``[frames, rows, cols]`` B-mode."""
    labels: np.ndarray
    """uint8 ``[frames, rows, cols]``: 0 background, 1 vein lumen, 2 thrombus, 3 artery."""
    pressure: np.ndarray
    """float64 ``[frames]`` relative probe pressure (0 rest, ~1 full)."""
    vein_area_mm2: np.ndarray
    vein_ap_diameter_mm: np.ndarray
    artery_area_mm2: np.ndarray
    frame_time_s: float
    spacing_mm: float
    truth: ClipTruth


@dataclass(frozen=True)
class StillPair:
    """Uncompressed and maximally compressed stills of one clip (uint8 ``[rows, cols]`` each)."""

    uncompressed: np.ndarray
    compressed: np.ndarray
    uncompressed_labels: np.ndarray
    compressed_labels: np.ndarray
    spacing_mm: float
    truth: ClipTruth


@dataclass(frozen=True)
class ClipModel:
    """Per-clip precomputation shared by all frames."""

    params: PhantomParams
    tmap: tissue.TissueMap
    columns: deformation.ColumnModel
    scatterers: tissue.Scatterers
    anchors: deformation.Anchors
    region_anchors: tuple[tuple[deformation.Anchors, ...], ...]
    grid: bmode.SimGrid
    beam: bmode.Beam
    clutter: np.ndarray
    tgc: np.ndarray
    track: MotionTrack
    states: tuple[deformation.FrameState, ...]
    measures: tuple[deformation.VesselMeasures, ...]


def _reference_grid(p: PhantomParams) -> tissue.ReferenceGrid:
    c, sc = p.compression, p.scene
    vessels = [*(v.lumen.semi_depth_mm + v.wall_thickness_mm for v in sc.veins), sc.artery.lumen.semi_depth_mm]
    push = 2.0 * sum(vessels) + c.global_compression_mm + 5.0
    margin = abs(c.drift_mm) * 1.3 + math.radians(abs(c.tilt_deg)) * 1.3 * (sc.depth_mm + push) + 3.0
    s = REFERENCE_SPACING_MM
    return tissue.ReferenceGrid(-margin, s, math.ceil((sc.depth_mm + push) / s),
                                math.ceil((sc.width_mm + 2 * margin) / s))


def prepare_clip(params: PhantomParams, rng: np.random.Generator) -> ClipModel:
    """Paint the scene, draw scatterers and the motion track, and precompute the beam."""
    sc, im = params.scene, params.imaging
    rgrid = _reference_grid(params)
    tmap = tissue.rasterize(sc, rgrid, rng)
    vessels = (*(v.lumen for v in sc.veins), sc.artery.lumen)
    columns = deformation.column_model(tmap, vessels, params.compression.strain_decay_depth_mm)
    grid = bmode.sim_grid(im)
    beam = bmode.make_beam(im, grid)
    psf = (bmode.axial_sigma_mm(im), float(bmode.lateral_sigma_mm(im, np.array(im.focus_depth_mm))))
    scat = tissue.sample_scatterers(sc, tmap, (grid.dz_mm, grid.dx_mm), psf, rng)
    anchors = deformation.anchor(columns, scat.x_mm, scat.depth_mm)
    track = deformation.motion_track(params.compression, params.n_frames, params.frame_time_s, rng)
    states = tuple(deformation.frame_state(sc, params.compression, columns, track, i)
                   for i in range(params.n_frames))
    clutter = bmode.clutter_field(im, grid, beam, sc.layers.skin_mm + sc.layers.fat_mm, rng)
    regions = deformation.region_anchors(columns, tmap)
    return ClipModel(params, tmap, columns, scat, anchors, regions, grid, beam, clutter, bmode.tgc_gain(im, grid),
                     track, states,
                     tuple(deformation.measure(columns, s) for s in states))


def render_envelope(clip: ClipModel, i: int, rng: np.random.Generator) -> np.ndarray:
    """Envelope (``|IQ|``) of frame ``i`` before TGC and log compression, float32 ``[sim rows, sim cols]``.

    Levels are relative to :attr:`~dvt_us.phantom.bmode.Beam.reference_rms` (unit-amplitude speckle).
    """
    im, grid, sc = clip.params.imaging, clip.grid, clip.scatterers
    x, z = deformation.displace(clip.states[i], clip.anchors)
    phi = float(clip.track.elevation_rad[i])
    amp = sc.coherent + sc.diffuse_a if phi == 0.0 else (
        sc.coherent + sc.diffuse_a * np.float32(math.cos(phi)) + sc.diffuse_b * np.float32(math.sin(phi)))
    field, flat = bmode.splat(x, z, bmode.scatter_weights(im, z, amp), grid)
    inside = flat >= 0
    size = grid.rows * grid.cols
    counts = np.bincount(flat[inside], minlength=size).reshape(grid.rows, grid.cols)
    att = np.bincount(flat[inside], weights=sc.attenuation[inside], minlength=size).reshape(grid.rows, grid.cols)
    iq = (bmode.apply_psf(field, clip.beam) + clip.clutter) * bmode.attenuation_gain(im, att, counts, grid)
    noise_rms = np.float32(clip.beam.reference_rms * 10 ** (im.noise_db / 20.0) / math.sqrt(2.0))
    re = iq.real + rng.standard_normal(iq.shape, dtype=np.float32) * noise_rms
    im_ = iq.imag + rng.standard_normal(iq.shape, dtype=np.float32) * noise_rms
    envelope: np.ndarray = np.sqrt(re * re + im_ * im_)
    return envelope


def render_frames(clip: ClipModel, indices: list[int], rng: np.random.Generator,
                  persistence: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """B-mode frames and truth labels for frame ``indices``: two uint8 ``[len(indices), rows, cols]``."""
    im = clip.params.imaging
    shape = (im.rows, im.cols)
    frames = np.empty((len(indices), *shape), np.uint8)
    labels = np.empty((len(indices), *shape), np.uint8)
    previous: np.ndarray | None = None
    for n, i in enumerate(indices):
        env = render_envelope(clip, i, rng) * clip.tgc[:, None]
        gray = bmode.post_process(bmode.to_gray(env, im, clip.beam, shape), previous, im)
        previous = gray if persistence else None
        frames[n] = np.clip(gray + 0.5, 0, 255).astype(np.uint8)
        labels[n] = deformation.draw_labels(clip.tmap, clip.region_anchors, clip.states[i], shape,
                                             im.spacing_mm)
    return frames, labels


def clip_truth(clip: ClipModel) -> ClipTruth:
    """Scalar truth from the per-frame measures of the target vein."""
    p = clip.params
    area = np.array([m.vein_area_mm2 for m in clip.measures])
    ap = np.array([m.vein_ap_diameter_mm for m in clip.measures])
    clot = np.array([m.thrombus_area_mm2 for m in clip.measures])
    i0 = int(np.argmin(clip.track.pressure))
    i1 = int(np.argmin(area))
    ratio = float(ap[i1] / ap[i0])
    if p.compression.adequacy is CompressionAdequacy.INADEQUATE or p.scene.segment in DEEP_SEGMENTS:
        cls = Compressibility.INDETERMINATE
    else:
        cls = compressibility_from_ratio(ratio)
    fraction = float(clot[i1] / area[i1]) if area[i1] > 0 else 0.0
    return ClipTruth(p.scene.segment, p.scene.state, p.compression.adequacy, cls, i0, i1, float(area[i0]),
                     float(area[i1]), float(area[i1] / area[i0]), float(ap[i0]), float(ap[i1]), ratio,
                     fraction, fraction >= OCCLUSIVE_MIN_THROMBUS_FRACTION)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def simulate_cine(params: PhantomParams, rng: np.random.Generator) -> Cine:
    """Simulate a compression cine.

    Parameters
    ----------
    params
        Scene, compression manoeuvre, scanner settings and frame count.
    rng
        The only source of randomness (speckle, textures, tremor, noise): the same seed gives the same bytes.

    Returns
    -------
    Cine
        Frames and labels ``[frames, rows, cols]`` on the output grid (``imaging.spacing_mm`` per pixel,
        row 0 at the probe face), per-frame pressure and target-vein area (mm²) and AP diameter (mm), and
        the clip truth.
    """
    clip = prepare_clip(params, rng)
    frames, labels = render_frames(clip, list(range(params.n_frames)), rng)
    return Cine(
        frames=_readonly(frames), labels=_readonly(labels), pressure=_readonly(clip.track.pressure.copy()),
        vein_area_mm2=_readonly(np.array([m.vein_area_mm2 for m in clip.measures])),
        vein_ap_diameter_mm=_readonly(np.array([m.vein_ap_diameter_mm for m in clip.measures])),
        artery_area_mm2=_readonly(np.array([m.artery_area_mm2 for m in clip.measures])),
        frame_time_s=params.frame_time_s, spacing_mm=params.imaging.spacing_mm, truth=clip_truth(clip),
    )


def simulate_still_pair(params: PhantomParams, rng: np.random.Generator) -> StillPair:
    """The uncompressed and the maximally compressed frame of a compression (no persistence)."""
    clip = prepare_clip(params, rng)
    truth = clip_truth(clip)
    frames, labels = render_frames(clip, [truth.uncompressed_frame, truth.max_compression_frame], rng,
                                   persistence=False)
    return StillPair(_readonly(frames[0]), _readonly(frames[1]), _readonly(labels[0]), _readonly(labels[1]),
                     params.imaging.spacing_mm, truth)
