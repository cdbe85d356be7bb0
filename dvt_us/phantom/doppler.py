"""Colour Doppler frames: B-mode grey outside a colour box, flow colour inside it.

Inside the box, patent lumen (label 1) is coloured by a velocity field that is highest in the middle of
each lumen (a distance-transform profile), on the scanner's coarse colour grid, with velocity noise,
wall-filter dropout, aliasing above the Nyquist velocity and blooming past the wall. Venous flow is one
colour (red towards the probe, blue away), the artery the other. Thrombus (label 2) is never coloured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from dvt_us.phantom import cine, deformation
from dvt_us.phantom.cine import PhantomParams
from dvt_us.phantom.scene import VeinState


@dataclass(frozen=True)
class ColourBox:
    """The colour region in output pixels: rows ``[top, bottom)``, columns ``[left, right)``."""

    top: int
    left: int
    bottom: int
    right: int

    def __post_init__(self) -> None:
        if not (0 <= self.top < self.bottom and 0 <= self.left < self.right):
            raise ValueError(f"empty or negative colour box {self}")

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Boolean ``[rows, cols]``, True inside the box."""
        m = np.zeros(shape, bool)
        m[self.top : self.bottom, self.left : self.right] = True
        return m


@dataclass(frozen=True)
class DopplerSettings:
    """Colour Doppler acquisition for one frame; velocities in cm/s along the beam."""

    nyquist_cm_s: float
    vein_velocity_cm_s: float
    artery_velocity_cm_s: float
    vein_towards_probe: bool
    wall_filter_fraction: float
    """Velocities below this fraction of Nyquist are not coloured."""
    velocity_noise: float
    """Relative velocity noise per colour block (standard deviation)."""
    dropout: float
    """Probability that a colour block over flow is missing."""
    block_px: int
    blooming_px: int
    flash_probability: float
    box_margin_mm: tuple[float, float, float, float]
    """Margins (top, left, bottom, right) around the target vein, mm."""


def sample_doppler(state: VeinState, rng: np.random.Generator) -> DopplerSettings:
    """Draw colour Doppler settings; slow venous flow (sparse colour) is as possible as brisk flow."""
    u = rng.uniform
    nyquist = u(8.0, 40.0)  # set for venous flow: veins alias only occasionally, arteries often
    vein_v = nyquist * u(0.15, 1.1) * (0.6 if state is VeinState.CHRONIC else 1.0)
    return DopplerSettings(
        nyquist_cm_s=nyquist, vein_velocity_cm_s=vein_v, artery_velocity_cm_s=u(20.0, 120.0),
        vein_towards_probe=bool(rng.random() < 0.5), wall_filter_fraction=u(0.02, 0.12),
        velocity_noise=u(0.05, 0.35), dropout=u(0.0, 0.3), block_px=int(rng.integers(2, 7)),
        blooming_px=int(rng.integers(0, 4)), flash_probability=u(0.0, 0.3),
        box_margin_mm=(u(2.0, 10.0), u(2.0, 12.0), u(2.0, 10.0), u(2.0, 12.0)),
    )


@dataclass(frozen=True)
class DopplerFrame:
    """A colour Doppler frame with its truth."""

    rgb: np.ndarray
    """uint8 ``[rows, cols, 3]`` (R, G, B)."""
    labels: np.ndarray
    """uint8 ``[rows, cols]``: 0 background, 1 lumen, 2 thrombus, 3 artery."""
    colour_box: ColourBox
    colour_mask: np.ndarray
    """bool ``[rows, cols]``: pixels shown in colour."""
    flow_fill_fraction: float
    """Truth: patent lumen over the target vein's cross-section (0 occluded … 1 patent)."""
    coloured_fraction: float
    """Fraction of the target vein's cross-section actually shown in colour (blooming can exceed truth)."""
    spacing_mm: float


def _profile(mask: np.ndarray) -> np.ndarray:
    """Parabolic-ish velocity profile 0…1 inside each connected region of ``mask``."""
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    n, comp = cv2.connectedComponents(mask.astype(np.uint8))
    peak = np.zeros(n, np.float32)
    np.maximum.at(peak, comp.ravel().astype(np.intp), dist.ravel())
    rel = dist / np.maximum(peak[comp], 1e-6)
    return np.where(mask, 1.0 - (1.0 - rel) ** 2, 0.0).astype(np.float32)


def colour_map(v: np.ndarray) -> np.ndarray:
    """RGB float32 ``[..., 3]`` for velocity ``v`` in units of Nyquist (−1…1).

    Red towards the probe, blue away, brightening to yellow / cyan at high speed.
    """
    f = np.abs(v)
    main = 110.0 + 145.0 * np.minimum(1.0, 2.0 * f)
    green = 230.0 * np.clip(2.0 * f - 1.0, 0.0, 1.0)
    red = np.where(v >= 0, main, 0.0)
    blue = np.where(v < 0, main, 0.0)
    return np.stack([red, green, blue], axis=-1).astype(np.float32)


def colour_overlay(
    gray: np.ndarray, labels: np.ndarray, box: ColourBox, d: DopplerSettings, rng: np.random.Generator, *,
    cardiac: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Colour ``gray`` (uint8 ``[rows, cols]``) inside ``box``; returns RGB uint8 and the colour mask."""
    shape = labels.shape
    sign = 1.0 if d.vein_towards_probe else -1.0
    vel = (sign * d.vein_velocity_cm_s * _profile(labels == 1)
           - sign * d.artery_velocity_cm_s * (0.25 + 0.75 * cardiac) * _profile(labels == 3)) / d.nyquist_cm_s
    b = d.block_px
    coarse = (math.ceil(shape[0] / b), math.ceil(shape[1] / b))
    small = cv2.resize(vel, (coarse[1], coarse[0]), interpolation=cv2.INTER_AREA)
    flow = cv2.resize(((labels == 1) | (labels == 3)).astype(np.float32), (coarse[1], coarse[0]),
                      interpolation=cv2.INTER_AREA) > 0.4
    small = small * (1.0 + d.velocity_noise * rng.standard_normal(coarse).astype(np.float32))
    keep = flow & (np.abs(small) >= d.wall_filter_fraction) & (rng.random(coarse) >= d.dropout)
    if rng.random() < d.flash_probability:  # motion flash: low-velocity colour in tissue
        flash = cv2.GaussianBlur(rng.random(coarse).astype(np.float32), (0, 0), 2.0) > 0.56
        small = np.where(flash & ~keep, rng.choice([-1.0, 1.0]) * 0.2, small)
        keep |= flash
    if d.blooming_px:
        grow = np.ones((2 * d.blooming_px + 1,) * 2, np.uint8)
        bloom = cv2.dilate(keep.astype(np.uint8), grow) > 0
        small = np.where(keep, small, cv2.dilate(small * keep, grow) + cv2.erode(small * keep, grow))
        keep = bloom
    aliased = np.mod(small + 1.0, 2.0) - 1.0
    full_v = cv2.resize(aliased.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    full_k = cv2.resize(keep.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    mask = full_k & box.mask(shape) & (labels != 2)
    rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    rgb[mask] = colour_map(full_v[mask])
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8), mask


def simulate_doppler(
    params: PhantomParams, rng: np.random.Generator, settings: DopplerSettings | None = None,
) -> DopplerFrame:
    """A colour Doppler frame of the uncompressed view described by ``params``."""
    d = sample_doppler(params.scene.state, rng) if settings is None else settings
    clip = cine.prepare_clip(params, rng)
    i = int(np.argmin(clip.track.pressure))
    frames, labels = cine.render_frames(clip, [i], rng, persistence=False)
    gray, lab = frames[0], labels[0]
    im = params.imaging
    target = deformation.draw_labels(clip.tmap, clip.region_anchors, clip.states[i], lab.shape, im.spacing_mm,
                                     vessels=(0,)) > 0
    rows, cols = np.nonzero(target)
    top, left, bottom, right = d.box_margin_mm
    s = im.spacing_mm
    box = ColourBox(max(0, int(rows.min() - top / s)), max(0, int(cols.min() - left / s)),
                    min(lab.shape[0], int(rows.max() + bottom / s) + 1),
                    min(lab.shape[1], int(cols.max() + right / s) + 1))
    rgb, mask = colour_overlay(gray, lab, box, d, rng, cardiac=float(clip.track.cardiac[i]))
    m = clip.measures[i]
    fill = 1.0 - m.thrombus_area_mm2 / m.vein_area_mm2 if m.vein_area_mm2 > 0 else 0.0
    coloured = float((mask & target).sum() / max(target.sum(), 1))
    rgb.setflags(write=False)
    return DopplerFrame(rgb, lab, box, mask, float(fill), coloured, s)
