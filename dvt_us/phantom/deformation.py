"""Probe pressure over time and the tissue displacement it causes, with per-frame truth.

Inside each vessel the probe thins the contents column by column: blood in a vein thins to
``VeinMechanics.blood_min_thickness_ratio`` once the pressure reaches ``collapse_pressure``, thrombus and
the artery barely thin. Around the vessels, the displacement is the smooth field of
:mod:`dvt_us.phantom.elastic` (stiff vessels in soft tissue whose compliance decays with depth), so a
collapsing vein pulls the tissue around it in from all sides with a pull that spreads laterally and
decays with distance. On top: a collapsed vein widens, the artery pulses radially with the cardiac
cycle, and the probe drifts laterally and tilts in plane.

All maps are *forward* (reference mm → current mm) and are applied to scatterers and to the truth
polygons alike, so image and labels move together.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import cv2
import numpy as np

from dvt_us.phantom import elastic
from dvt_us.phantom.scene import Ellipse, Scene
from dvt_us.phantom.tissue import _SHIFT, ReferenceGrid, TissueMap


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
    """The clip's mechanics: column thickness tables (exact thinning inside vessels) and the smooth field.

    Vessel ``j`` is vein ``j`` (mechanical groups ``2j+1`` blood, ``2j+2`` thrombus) for ``j < n_veins``,
    and the artery (group ``2·n_veins+1``) for ``j = n_veins``.
    """

    grid: ReferenceGrid
    cumulative: np.ndarray
    """float32 ``[K, rows+1, cols]``: thickness (mm) of each mechanical group above each row boundary."""
    totals: np.ndarray
    """float32 ``[K, cols]``: thickness of each group in each column, mm."""
    n_veins: int
    top_row: np.ndarray
    """int32 ``[J, cols]``: first reference row of vessel ``j`` in each column (``-1`` where absent)."""
    bottom_row: np.ndarray
    """int32 ``[J, cols]``: one past its last row."""
    basis: elastic.FieldBasis
    mismatch: np.ndarray
    """float32 ``[J, 1+K, cols]``: field minus exact value at each vessel's bottom wall (discretisation)."""
    widening_gain: tuple[float, ...]
    """Per vein: widening achieved by the lateral field per unit eigenstrain (surroundings resist)."""
    max_push_mm: float
    """Largest probe push that keeps every soft-tissue cell's strain ≤ 60 % (thin fat under the probe)."""


def own_groups(vessel: int, n_veins: int) -> list[int]:
    """Mechanical group indices (0-based, i.e. group − 1) of vessel ``vessel``."""
    return [2 * n_veins] if vessel >= n_veins else [2 * vessel, 2 * vessel + 1]


def column_model(tmap: TissueMap, vessels: tuple[Ellipse, ...], strain_decay_depth_mm: float) -> ColumnModel:
    """Build the mechanics of a painted scene (``vessels``: vein lumens, then the artery lumen)."""
    n_veins = len(vessels) - 1
    g = tmap.grid
    k = 2 * n_veins + 1
    planes = np.zeros((k, g.rows + 1, g.cols), np.float32)
    for i in range(k):
        planes[i, 1:] = np.cumsum(tmap.group == i + 1, axis=0, dtype=np.float32) * g.spacing_mm
    top = np.full((n_veins + 1, g.cols), -1, np.int32)
    bottom = np.full((n_veins + 1, g.cols), -1, np.int32)
    for j in range(n_veins + 1):
        mask = np.isin(tmap.group, [i + 1 for i in own_groups(j, n_veins)])
        has = mask.any(axis=0)
        top[j, has] = mask.argmax(axis=0)[has]
        bottom[j, has] = g.rows - mask[::-1].argmax(axis=0)[has]
    basis = elastic.solve_basis(tmap, n_veins, strain_decay_depth_mm)
    cols = np.arange(g.cols)
    xc = (g.x0_mm + (cols + 0.5) * g.spacing_mm).astype(np.float32)
    mismatch = np.zeros((n_veins + 1, k + 1, g.cols), np.float32)
    for j in range(n_veins + 1):
        cols_with = np.nonzero(top[j] >= 0)[0]
        f_top = elastic.sample(basis.vertical, basis.coarse, xc[cols_with], top[j, cols_with] * g.spacing_mm)
        f_bot = elastic.sample(basis.vertical, basis.coarse, xc[cols_with], bottom[j, cols_with] * g.spacing_mm)
        exact = f_top.copy()
        for i in own_groups(j, n_veins):
            exact[1 + i] += planes[i, -1, cols_with]
        mismatch[j][:, cols_with] = f_bot - exact
        sigma = basis.coarse.spacing_mm / g.spacing_mm  # spread laterally: no shear at the vessel's tips
        mismatch[j] = np.asarray(cv2.GaussianBlur(mismatch[j], (0, 0), sigmaX=sigma, sigmaY=0.01), np.float32)
    gain = []
    for v, e in enumerate(vessels[:-1]):
        side = elastic.sample(basis.lateral[v : v + 1], basis.coarse,
                              np.array([e.center_x_mm - e.semi_width_mm, e.center_x_mm + e.semi_width_mm]),
                              np.full(2, e.center_depth_mm))[0]
        gain.append(float(np.clip((side[1] - side[0]) / (2.0 * e.semi_width_mm), 0.0, 1.5)))
    strain = float(np.diff(basis.vertical[0], axis=0).max()) / basis.coarse.spacing_mm
    return ColumnModel(g, planes, planes[:, -1].copy(), n_veins, top, bottom, basis, mismatch, tuple(gain),
                       0.6 / max(strain, 1e-6))


@dataclass(frozen=True)
class Anchors:
    """Reference points tied to the mechanics.

    ``vertical`` float32 ``[1+K, n]``: upward displacement of each point per unit probe push and per unit
    thinning of each group; ``lateral`` float32 ``[V, n]``: rightward displacement per unit widening.
    """

    x_mm: np.ndarray
    depth_mm: np.ndarray
    vertical: np.ndarray
    lateral: np.ndarray


def anchor(model: ColumnModel, x_mm: np.ndarray, depth_mm: np.ndarray, vessel: int | None = None) -> Anchors:
    """Tie reference points to the mechanics.

    ``vessel`` (index as in :class:`ColumnModel`) forces all points to count as inside that vessel (truth
    polygon vertices lie on its boundary); otherwise each point's vessel is read from the painted map.
    """
    g, cg = model.grid, model.basis.coarse
    x = np.asarray(x_mm, np.float32)
    z = np.asarray(depth_mm, np.float32)
    r = np.clip(z / g.spacing_mm, 0.0, g.rows - 1e-3)
    r0 = r.astype(np.int32)
    f = (r - r0).astype(np.float32)
    c = np.clip(((x - g.x0_mm) / g.spacing_mm).astype(np.int32), 0, g.cols - 1)
    vertical = elastic.sample(model.basis.vertical, cg, x, z)
    lateral = elastic.sample(model.basis.lateral, cg, x, z)
    which = np.full(x.size, -1, np.int32)
    if vessel is not None:
        which[:] = vessel
    for j in range(model.n_veins + 1):
        inside = np.nonzero(which == j)[0] if vessel is not None else np.nonzero(
            (model.top_row[j, c] >= 0) & (r0 >= model.top_row[j, c]) & (r0 < model.bottom_row[j, c]))[0]
        if vessel is None:
            which[inside] = j
        if inside.size:
            ci = c[inside]
            top = np.where(model.top_row[j, ci] >= 0, model.top_row[j, ci] * g.spacing_mm, z[inside])
            top = np.minimum(top, z[inside])
            vertical[:, inside] = elastic.sample(model.basis.vertical, cg, x[inside], top)
            for i in own_groups(j, model.n_veins):
                fi = f[inside]
                q = model.cumulative[i, r0[inside], ci] * (1 - fi) + model.cumulative[i, r0[inside] + 1, ci] * fi
                vertical[1 + i, inside] += q
    for j in range(model.n_veins + 1):  # tissue under vessel j: stay attached to its bottom wall
        below = np.nonzero((which < 0) & (model.bottom_row[j, c] >= 0)
                           & (z >= model.bottom_row[j, c] * g.spacing_mm)
                           & (z < model.bottom_row[j, c] * g.spacing_mm + 2.5))[0]
        if below.size:
            w = elastic.bottom_blend(z[below] - model.bottom_row[j, c[below]] * g.spacing_mm)
            vertical[:, below] -= model.mismatch[j][:, c[below]] * w.astype(np.float32)
    return Anchors(x, z, vertical, lateral)


@dataclass(frozen=True)
class FrameState:
    """Everything the forward map needs for one frame."""

    coefficients: np.ndarray
    """float32 ``[1+K]``: probe push (mm), then the thinning (1 − thickness ratio) of each group."""
    widening: np.ndarray
    """float32 ``[V]``: lateral eigenstrain of each vein."""
    artery: tuple[float, float, float, float]
    """(centre x mm, centre depth mm, radius mm, radial distension mm), current configuration."""
    tilt_rad: float
    drift_x_mm: float
    pivot_x_mm: float

    @property
    def thinning(self) -> np.ndarray:
        """float32 ``[K]``: 1 − thickness ratio of each mechanical group."""
        return self.coefficients[1:]


def frame_state(scene: Scene, compression: Compression, model: ColumnModel, track: MotionTrack, i: int) -> FrameState:
    """Thickness ratios, probe push and local-motion parameters at frame ``i``."""
    p = float(track.pressure[i])
    thin = np.zeros(2 * model.n_veins + 1, np.float32)
    widen = np.zeros(model.n_veins, np.float32)
    for v, vein in enumerate(scene.veins):
        m = vein.mechanics
        collapse = (min(p / m.collapse_pressure, 1.0)) ** m.collapse_exponent
        breath = 1.0 + compression.respiration_fraction * (1.0 - collapse) * float(track.respiration[i])
        blood = (1.0 - (1.0 - m.blood_min_thickness_ratio) * collapse) * breath
        thin[2 * v] = 1.0 - blood
        thin[2 * v + 1] = (1.0 - m.thrombus_min_thickness_ratio) * p
        area = model.totals[2 * v : 2 * v + 2].sum(axis=1)
        share = float(area[0] / max(area.sum(), 1e-9))  # only blood gives way: a clot-filled vein keeps its width
        widen[v] = m.lateral_widening * max(thin[2 * v], 0.0) * share
    thin[-1] = (1.0 - scene.artery.min_thickness_ratio) * p
    push = min(0.6 * float((thin @ model.totals).max()) + p * compression.global_compression_mm, model.max_push_mm)
    coefficients = np.concatenate([[push], thin]).astype(np.float32)
    art = scene.artery.lumen
    a = anchor(model, np.array([art.center_x_mm]), np.array([art.center_depth_mm]), vessel=model.n_veins)
    ax = float(art.center_x_mm + (widen @ a.lateral)[0])
    az = float(art.center_depth_mm - (coefficients @ a.vertical)[0])
    radius = art.semi_width_mm
    dist = radius * scene.artery.pulsation_fraction * float(track.cardiac[i])
    return FrameState(coefficients, widen, (ax, az, radius, dist), float(track.tilt_rad[i]),
                      float(track.drift_x_mm[i]), scene.width_mm / 2.0)


def displace(fs: FrameState, a: Anchors) -> tuple[np.ndarray, np.ndarray]:
    """Forward-map anchored reference points to current ``(x_mm, depth_mm)`` (float32 ``[n]`` each)."""
    z = a.depth_mm - fs.coefficients @ a.vertical
    x = a.x_mm + fs.widening @ a.lateral if len(fs.widening) else a.x_mm.copy()
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
    thin = fs.thinning
    blood = (1.0 - thin[0]) * model.totals[0]
    clot = (1.0 - thin[1]) * model.totals[1]
    stretch = 1.0 + (float(fs.widening[0]) * model.widening_gain[0] if len(fs.widening) else 0.0)
    _, _, rad, dist = fs.artery
    art = float(((1.0 - thin[-1]) * model.totals[-1]).sum() * s * (1.0 + dist / rad) ** 2)
    return VesselMeasures(float((blood + clot).sum() * s * stretch), float((blood + clot).max()),
                          float(clot.sum() * s * stretch), art)


def region_anchors(model: ColumnModel, tmap: TissueMap) -> tuple[tuple[Anchors, ...], ...]:
    """Anchors of every truth polygon (per vessel, in drawing order), computed once per clip."""
    return tuple(tuple(anchor(model, r.x_mm, r.depth_mm, vessel=j) for r in regions)
                 for j, regions in enumerate(tmap.regions))


def draw_labels(  # noqa: PLR0917
    tmap: TissueMap, anchors: tuple[tuple[Anchors, ...], ...], fs: FrameState, shape: tuple[int, int],
    spacing_mm: float, vessels: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Truth labels at the output grid, uint8 ``[rows, cols]``: 0 background, 1 lumen, 2 thrombus, 3 artery.

    Pixel ``[r, c]`` is centred at ``((c+0.5)·spacing_mm, (r+0.5)·spacing_mm)`` in current mm. A vein
    whose walls have coapted is still drawn, as its one-pixel outline. ``vessels`` limits the drawing to
    those vessel indices (default all).
    """
    out = np.zeros(shape, np.uint8)
    scale = float(1 << _SHIFT) / spacing_mm
    for v, (regions, region_anchor) in enumerate(zip(tmap.regions, anchors, strict=True)):
        if vessels is not None and v not in vessels:
            continue
        for j, (region, a) in enumerate(zip(regions, region_anchor, strict=True)):
            x, z = displace(fs, a)
            pts = np.round(np.stack([x * scale - (1 << _SHIFT) / 2, z * scale - (1 << _SHIFT) / 2], 1))
            poly = [pts.astype(np.int32)]
            area_px = 0.5 * abs(float(np.dot(x, np.roll(z, 1)) - np.dot(z, np.roll(x, 1)))) / spacing_mm**2
            perimeter_px = float(np.hypot(np.diff(x, append=x[:1]), np.diff(z, append=z[:1])).sum()) / spacing_mm
            if j == 0 and area_px < 1.5 * perimeter_px:  # coapted walls: keep the vein as a line
                cv2.polylines(out, poly, True, region.label, 1, lineType=cv2.LINE_8, shift=_SHIFT)
            cv2.fillPoly(out, poly, region.label, lineType=cv2.LINE_8, shift=_SHIFT)
    return out
