"""Probe pressure over time and the tissue displacement it causes, with per-frame truth.

The probe presses along depth. Each image column (lateral position) is a stack of tissues in series:
blood in a vein thins to ``VeinMechanics.blood_min_thickness_ratio`` once the pressure reaches
``collapse_pressure``, thrombus and the artery barely thin, and the rest of the probe's push is taken up by
soft tissue in proportion to its compliance, which decays with depth (strain is largest under the probe).
Every column is pushed by the same distance (a flat probe), so beside a collapsing vein the soft tissue
compresses more. On top of that column model: a collapsed vein widens laterally, the artery pulses
radially with the cardiac cycle, and the probe drifts laterally and tilts in plane.

All maps are *forward* (reference mm → current mm) and are applied to scatterers and to the truth
polygons alike, so image and labels move together.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from dvt_us.phantom.scene import Ellipse, Scene
from dvt_us.phantom.tissue import _SHIFT, COMPLIANCE, ReferenceGrid, TissueMap


class CompressionAdequacy(enum.Enum):
    """Whether the sonographer pressed hard enough for the exam to mean anything."""

    ADEQUATE = "adequate"
    INADEQUATE = "inadequate"
    """Low probe pressure: tissue barely moves and even a normal vein keeps > 80 % of its area."""


@dataclass(frozen=True)
class Compression:
    """How one compression manoeuvre is performed. Phase fractions are of the clip duration."""

    adequacy: CompressionAdequacy
    peak_pressure: float
    """Relative probe pressure at the hold (0.9–1 adequate, 0.02–0.08 inadequate)."""
    rest_fraction: float
    press_fraction: float
    hold_fraction: float
    release_fraction: float
    tremor: float
    """Hand tremor during the hold, relative pressure standard deviation."""
    global_compression_mm: float
    """Push taken up by soft tissue at full pressure, beyond what the vessels give up, mm."""
    strain_decay_depth_mm: float
    """e-folding depth of soft-tissue compliance, mm."""
    drift_mm: float
    """Peak lateral probe drift over the clip, mm (signed)."""
    tilt_deg: float
    """Peak in-plane probe rotation over the clip, degrees (signed)."""
    elevation_rad: float
    """Decorrelation phase of the diffuse scatterers at full pressure (out-of-plane motion)."""
    heart_rate_bpm: float
    cardiac_phase: float
    respiration_period_s: float
    respiration_fraction: float
    """Respiratory variation of venous lumen thickness, fraction."""

    def __post_init__(self) -> None:
        total = self.rest_fraction + self.press_fraction + self.hold_fraction + self.release_fraction
        if total > 1.0 + 1e-9 or min(self.press_fraction, self.hold_fraction) <= 0:
            raise ValueError(f"compression phase fractions must be positive and sum to ≤ 1, got {total}")
        if not 0.0 <= self.peak_pressure <= 1.0:
            raise ValueError(f"peak_pressure must lie in [0, 1], got {self.peak_pressure}")


def sample_compression(adequacy: CompressionAdequacy, rng: np.random.Generator) -> Compression:
    """Draw one compression manoeuvre; ``INADEQUATE`` uses a peak pressure of 0.02–0.08."""
    u = rng.uniform
    rest, press, hold = u(0.05, 0.25), u(0.15, 0.35), u(0.1, 0.35)
    release = min(u(0.1, 0.3), 1.0 - rest - press - hold)
    adequate = adequacy is CompressionAdequacy.ADEQUATE
    return Compression(
        adequacy=adequacy, peak_pressure=u(0.9, 1.0) if adequate else u(0.02, 0.08),
        rest_fraction=rest, press_fraction=press, hold_fraction=hold, release_fraction=max(release, 0.0),
        tremor=u(0.0, 0.03), global_compression_mm=u(1.0, 8.0), strain_decay_depth_mm=u(12.0, 40.0),
        drift_mm=u(-3.0, 3.0), tilt_deg=u(-2.5, 2.5), elevation_rad=u(0.0, 1.2),
        heart_rate_bpm=u(50.0, 110.0), cardiac_phase=u(0.0, 1.0), respiration_period_s=u(3.0, 6.0),
        respiration_fraction=u(0.0, 0.08),
    )


@dataclass(frozen=True)
class MotionTrack:
    """Per-frame drivers, each float64 ``[frames]``."""

    time_s: np.ndarray
    pressure: np.ndarray
    """Relative probe pressure, 0 at rest."""
    drift_x_mm: np.ndarray
    tilt_rad: np.ndarray
    cardiac: np.ndarray
    """Arterial distension waveform, 0 (diastole) … 1 (systolic peak)."""
    respiration: np.ndarray
    """−1 … 1."""
    elevation_rad: np.ndarray


def _smoothstep(t: np.ndarray) -> np.ndarray:
    c: np.ndarray = np.clip(t, 0.0, 1.0)
    out: np.ndarray = c * c * (3.0 - 2.0 * c)
    return out


def cardiac_waveform(phase: np.ndarray) -> np.ndarray:
    """Arterial diameter waveform over one cycle (phase 0–1): fast systolic rise, slow diastolic decay."""
    p = np.mod(phase, 1.0)
    rise = np.sin(0.5 * math.pi * np.clip(p / 0.15, 0.0, 1.0)) ** 2
    decay = np.exp(-np.clip(p - 0.15, 0.0, None) / 0.22)
    w = np.where(p < 0.15, rise, decay)
    out: np.ndarray = (w - math.exp(-0.85 / 0.22)) / (1.0 - math.exp(-0.85 / 0.22))
    return out


def motion_track(c: Compression, n_frames: int, frame_time_s: float, rng: np.random.Generator) -> MotionTrack:
    """Sample the pressure curve (rest → press → hold → release → rest) and the other drivers per frame."""
    if n_frames < 2:
        raise ValueError(f"a cine needs at least 2 frames, got {n_frames}")
    t = np.arange(n_frames) * frame_time_s
    f = np.arange(n_frames) / (n_frames - 1)
    up = _smoothstep((f - c.rest_fraction) / c.press_fraction)
    t_release = c.rest_fraction + c.press_fraction + c.hold_fraction
    down = _smoothstep((f - t_release) / max(c.release_fraction, 1e-6)) if c.release_fraction > 0 else 0 * f
    hold = (up > 0.999) & (f < t_release)
    tremor = np.convolve(rng.normal(0.0, c.tremor, n_frames + 4), np.ones(5) / 5.0, mode="valid")[:n_frames]
    pressure = np.clip(c.peak_pressure * (up * (1.0 - down) + hold * tremor), 0.0, 1.0)
    base = pressure / max(c.peak_pressure, 1e-6)
    wobble = 0.2 * np.sin(2 * math.pi * (f * rng.uniform(0.5, 1.5) + rng.uniform(0, 1)))
    return MotionTrack(
        time_s=t, pressure=pressure,
        drift_x_mm=c.drift_mm * (base + wobble * base), tilt_rad=np.radians(c.tilt_deg) * (base + wobble),
        cardiac=cardiac_waveform(c.cardiac_phase + t * c.heart_rate_bpm / 60.0),
        respiration=np.sin(2 * math.pi * t / c.respiration_period_s + rng.uniform(0, 2 * math.pi)),
        elevation_rad=c.elevation_rad * base,
    )


@dataclass(frozen=True)
class ColumnModel:
    """Cumulative thickness tables of the column model, on the reference grid."""

    grid: ReferenceGrid
    cumulative: np.ndarray
    """float32 ``[K+1, rows+1, cols]``: thickness (mm) of each mechanical group above each row boundary,
    and (last plane) the normalised cumulative soft-tissue compliance (0 at the skin, 1 at the bottom)."""
    totals: np.ndarray
    """float32 ``[K, cols]``: thickness of each group in each column, mm."""
    n_veins: int
    vessels: tuple[Ellipse, ...]
    """Vein lumens then the artery lumen: around each, soft tissue moves as the vessel centre does."""


_BLEND_OUTER_RHO = 2.2


def column_model(tmap: TissueMap, vessels: tuple[Ellipse, ...], strain_decay_depth_mm: float) -> ColumnModel:
    """Build the column model of a painted scene (``vessels``: vein lumens, then the artery lumen)."""
    n_veins = len(vessels) - 1
    g = tmap.grid
    k = 2 * n_veins + 1
    planes = np.zeros((k + 1, g.rows + 1, g.cols), np.float32)
    for i in range(k):
        planes[i, 1:] = np.cumsum(tmap.group == i + 1, axis=0, dtype=np.float32) * g.spacing_mm
    depth = (np.arange(g.rows, dtype=np.float32) + 0.5) * g.spacing_mm
    weight = COMPLIANCE[tmap.tissue] * (tmap.group == 0) * np.exp(-depth / strain_decay_depth_mm)[:, None]
    soft = np.cumsum(weight, axis=0, dtype=np.float32)
    planes[k, 1:] = soft / np.maximum(soft[-1:], 1e-9)
    return ColumnModel(g, planes, planes[:k, -1].copy(), n_veins, vessels)


@dataclass(frozen=True)
class Anchors:
    """Points tied to the column model.

    ``q`` float32 ``[K, n]``: thickness of each group above the point; ``h`` float32 ``[K, n]``: the
    group's total in the point's column; ``w`` float32 ``[n]``: normalised soft compliance above the point;
    ``blend``: per vessel, the indices of points near it and their weight (1 inside, 0 at ρ = 2.2), with
    which the shift caused by everything but the vessel itself is pulled to its value at the vessel
    centre (lateral coupling: a vessel moves as a whole, so round vessels stay round and a vein
    collapsing above an artery does not imprint its shape on it).
    """

    x_mm: np.ndarray
    depth_mm: np.ndarray
    q: np.ndarray
    h: np.ndarray
    w: np.ndarray
    blend: tuple[tuple[np.ndarray, np.ndarray], ...]


def anchor(model: ColumnModel, x_mm: np.ndarray, depth_mm: np.ndarray) -> Anchors:
    """Tie reference points to the column model (linear along depth, nearest column)."""
    grid = model.grid
    r = np.clip(depth_mm / grid.spacing_mm, 0.0, grid.rows - 1e-3)
    r0 = r.astype(np.int32)
    f = (r - r0).astype(np.float32)
    c = np.clip(((x_mm - grid.x0_mm) / grid.spacing_mm).astype(np.int32), 0, grid.cols - 1)
    vals = model.cumulative[:, r0, c] * (1.0 - f) + model.cumulative[:, r0 + 1, c] * f
    blend = []
    for e in model.vessels:
        near = np.nonzero((np.abs(x_mm - e.center_x_mm) < _BLEND_OUTER_RHO * e.semi_width_mm)
                          & (np.abs(depth_mm - e.center_depth_mm) < _BLEND_OUTER_RHO * e.semi_depth_mm))[0]
        rho = e.rho(x_mm[near], depth_mm[near])
        beta = 1.0 - _smoothstep((rho - 1.0) / (_BLEND_OUTER_RHO - 1.0))
        blend.append((near[beta > 0], beta[beta > 0].astype(np.float32)))
    return Anchors(x_mm.astype(np.float32), depth_mm.astype(np.float32), vals[:-1].astype(np.float32),
                   model.totals[:, c].astype(np.float32), vals[-1].astype(np.float32), tuple(blend))


@dataclass(frozen=True)
class FrameState:
    """Everything the forward map needs for one frame."""

    thinning: np.ndarray
    """float32 ``[K]``: 1 − thickness ratio of each mechanical group."""
    push_mm: float
    rest_at_vessels_mm: tuple[float, ...]
    """Upward shift at each vessel centre from everything but the vessel itself (see :class:`Anchors`)."""
    widening: tuple[tuple[float, float, float, float, float], ...]
    """Per vein: (fraction, centre x mm, centre depth mm, semi-width mm, semi-depth mm)."""
    artery: tuple[float, float, float, float]
    """(centre x mm, centre depth mm, radius mm, radial distension mm)."""
    tilt_rad: float
    drift_x_mm: float
    pivot_x_mm: float


def frame_state(scene: Scene, compression: Compression, model: ColumnModel, track: MotionTrack, i: int) -> FrameState:
    """Thickness ratios, probe push and local-motion parameters at frame ``i``."""
    p = float(track.pressure[i])
    thin = np.zeros(2 * model.n_veins + 1, np.float32)
    widen = []
    for v, vein in enumerate(scene.veins):
        m = vein.mechanics
        collapse = (min(p / m.collapse_pressure, 1.0)) ** m.collapse_exponent
        breath = 1.0 + compression.respiration_fraction * (1.0 - collapse) * float(track.respiration[i])
        blood = (1.0 - (1.0 - m.blood_min_thickness_ratio) * collapse) * breath
        thin[2 * v] = 1.0 - blood
        thin[2 * v + 1] = (1.0 - m.thrombus_min_thickness_ratio) * p
        widen.append(m.lateral_widening * max(thin[2 * v], 0.0))
    thin[-1] = (1.0 - scene.artery.min_thickness_ratio) * p
    delta = thin @ model.totals
    push = float(delta.max()) + p * compression.global_compression_mm
    cx = np.array([v.lumen.center_x_mm for v in scene.veins] + [scene.artery.lumen.center_x_mm])
    cz = np.array([v.lumen.center_depth_mm for v in scene.veins] + [scene.artery.lumen.center_depth_mm])
    centres = anchor(replace(model, vessels=()), cx, cz)
    total = thin @ centres.q + centres.w * (push - thin @ centres.h)
    own = [thin[_own_groups(j, len(thin))] @ centres.q[_own_groups(j, len(thin)), j] for j in range(len(cx))]
    soft = tuple(float(t - o) for t, o in zip(total, own, strict=True))
    column_only = FrameState(thin, push, soft, (), (0.0, 0.0, 1.0, 0.0), 0.0, 0.0, 0.0)
    mx, mz = displace(column_only, centres)
    widening = tuple((float(e), float(x), float(z), v.lumen.semi_width_mm, v.lumen.semi_depth_mm)
                     for e, x, z, v in zip(widen, mx, mz, scene.veins, strict=False))
    with_widening = FrameState(thin, push, soft, widening, (0.0, 0.0, 1.0, 0.0), 0.0, 0.0, 0.0)
    ax, az = displace(with_widening, anchor(replace(model, vessels=()), cx[-1:], cz[-1:]))
    radius = scene.artery.lumen.semi_width_mm
    dist = radius * scene.artery.pulsation_fraction * float(track.cardiac[i])
    return FrameState(thin, push, soft, widening, (float(ax[0]), float(az[0]), radius, dist),
                      float(track.tilt_rad[i]), float(track.drift_x_mm[i]), scene.width_mm / 2.0)


def _own_groups(vessel: int, n_groups: int) -> list[int]:
    """Mechanical groups of vessel ``vessel`` (veins first, the artery last)."""
    return [n_groups - 1] if 2 * vessel >= n_groups - 1 else [2 * vessel, 2 * vessel + 1]


def displace(fs: FrameState, a: Anchors) -> tuple[np.ndarray, np.ndarray]:
    """Forward-map anchored reference points to current ``(x_mm, depth_mm)`` (float32 ``[n]`` each)."""
    shift = fs.thinning @ a.q + a.w * (fs.push_mm - fs.thinning @ a.h)
    if a.blend and fs.rest_at_vessels_mm:  # weighted mean over nearby vessels, order-free
        weight = np.zeros_like(shift)
        pulled = np.zeros_like(shift)
        for j, ((idx, beta), rest) in enumerate(zip(a.blend, fs.rest_at_vessels_mm, strict=False)):
            own = _own_groups(j, len(fs.thinning))
            weight[idx] += beta
            pulled[idx] += beta * (np.float32(rest) + fs.thinning[own] @ a.q[own][:, idx])
        near = np.nonzero(weight)[0]
        wsum = weight[near]
        shift[near] = shift[near] * (1.0 - np.minimum(wsum, 1.0)) + pulled[near] / np.maximum(wsum, 1.0)
    z = a.depth_mm - shift
    x = a.x_mm.copy()
    for frac, cx, cz, sw, sd in fs.widening:
        if frac <= 1e-4:
            continue
        sel = np.nonzero((np.abs(x - cx) < 4 * sw) & (np.abs(z - cz) < 4 * sd))[0]
        dx, dz = x[sel] - cx, z[sel] - cz
        rho2 = (dx / sw) ** 2 + (dz / sd) ** 2
        f = np.where(rho2 <= 1.0, 1.0, np.clip((1.0 / np.maximum(rho2, 1.0) - 1 / 16) * 16 / 15, 0.0, 1.0))
        x[sel] += (frac * dx * f).astype(np.float32)
    ax, az, rad, dist = fs.artery
    if dist != 0.0:
        sel = np.nonzero((np.abs(x - ax) < 4 * rad) & (np.abs(z - az) < 4 * rad))[0]
        dx, dz = x[sel] - ax, z[sel] - az
        r = np.maximum(np.hypot(dx, dz), 1e-6)
        g = np.where(r <= rad, 1.0 / rad, np.clip((rad / r - 0.25) / 0.75, 0.0, 1.0) / r)
        x[sel] += (dist * g * dx).astype(np.float32)
        z[sel] += (dist * g * dz).astype(np.float32)
    if fs.tilt_rad != 0.0 or fs.drift_x_mm != 0.0:
        c, s = math.cos(fs.tilt_rad), math.sin(fs.tilt_rad)
        xr = x - fs.pivot_x_mm
        x, z = fs.pivot_x_mm + c * xr - s * z + fs.drift_x_mm, s * xr + c * z
    return x.astype(np.float32, copy=False), z.astype(np.float32, copy=False)


@dataclass(frozen=True)
class VesselMeasures:
    """Truth measures of one frame (target vein and artery), from the column model."""

    vein_area_mm2: float
    vein_ap_diameter_mm: float
    thrombus_area_mm2: float
    artery_area_mm2: float


def measure(model: ColumnModel, fs: FrameState) -> VesselMeasures:
    """Cross-sections of the target vein (lumen incl. thrombus) and artery at one frame."""
    s = model.grid.spacing_mm
    blood = (1.0 - fs.thinning[0]) * model.totals[0]
    clot = (1.0 - fs.thinning[1]) * model.totals[1]
    stretch = 1.0 + (fs.widening[0][0] if fs.widening else 0.0)
    _, _, rad, dist = fs.artery
    art = float(((1.0 - fs.thinning[-1]) * model.totals[-1]).sum() * s * (1.0 + dist / rad) ** 2)
    return VesselMeasures(float((blood + clot).sum() * s * stretch), float((blood + clot).max()),
                          float(clot.sum() * s * stretch), art)


def draw_labels(
    tmap: TissueMap, model: ColumnModel, fs: FrameState, shape: tuple[int, int], spacing_mm: float,
) -> np.ndarray:
    """Truth labels at the output grid, uint8 ``[rows, cols]``: 0 background, 1 lumen, 2 thrombus, 3 artery.

    Pixel ``[r, c]`` is centred at ``((c+0.5)·spacing_mm, (r+0.5)·spacing_mm)`` in current mm. A vein
    whose walls have coapted is still drawn, as its one-pixel outline.
    """
    out = np.zeros(shape, np.uint8)
    scale = float(1 << _SHIFT) / spacing_mm
    for regions in tmap.regions:
        for j, region in enumerate(regions):
            x, z = displace(fs, anchor(model, region.x_mm, region.depth_mm))
            pts = np.round(np.stack([x * scale - (1 << _SHIFT) / 2, z * scale - (1 << _SHIFT) / 2], 1))
            poly = [pts.astype(np.int32)]
            area_px = 0.5 * abs(float(np.dot(x, np.roll(z, 1)) - np.dot(z, np.roll(x, 1)))) / spacing_mm**2
            perimeter_px = float(np.hypot(np.diff(x, append=x[:1]), np.diff(z, append=z[:1])).sum()) / spacing_mm
            if j == 0 and area_px < 1.5 * perimeter_px:  # coapted walls: keep the vein as a line
                cv2.polylines(out, poly, True, region.label, 1, lineType=cv2.LINE_8, shift=_SHIFT)
            cv2.fillPoly(out, poly, region.label, lineType=cv2.LINE_8, shift=_SHIFT)
    return out
