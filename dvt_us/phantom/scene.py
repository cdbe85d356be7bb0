"""Anatomy of a transverse lower-limb venous compression view, in millimetres.

Coordinates: ``x_mm`` is lateral across the probe face (0 at the left image edge, increasing to the
right, i.e. along image columns) and ``depth_mm`` is distance from the skin/probe face (0 at the top row,
increasing down the image rows). Everything here is the *reference* (uncompressed) configuration; the
deformation module moves it frame by frame.

A :class:`Scene` is a frozen parameter object: skin, subcutaneous fat, deep fascia, muscle with septa,
optional bone, the perivascular sheath, the target vein (with its thrombus, valves or post-thrombotic
change), companion veins and the artery. :func:`sample_scene` draws one from a numpy ``Generator`` for a
:class:`~dvt_us.anatomy.Segment` and a :class:`VeinState`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace

import numpy as np

from dvt_us.anatomy import Laterality, Segment


class VeinState(enum.Enum):
    """What is in the target vein, and so how it behaves under the probe."""

    NORMAL = "normal"
    """Patent; the walls coapt under compression."""
    NONOCCLUSIVE = "nonocclusive"
    """Thrombus occupies part of the lumen; the vein collapses onto it."""
    OCCLUSIVE = "occlusive"
    """Thrombus fills the lumen; the (often dilated) vein does not compress."""
    CHRONIC = "chronic"
    """Post-thrombotic change: thick irregular echogenic wall layer, webs, small vein, partial compression."""


class VesselRole(enum.Enum):
    """Why a vessel is in the scene. Only the ``TARGET`` vein carries the scene's :class:`VeinState`."""

    TARGET = "target"
    COMPANION = "companion"
    """The other vein of a pair (calf veins) or a duplicated femoral vein."""
    DEEP_FEMORAL = "deep_femoral"
    SAPHENOUS = "saphenous"


SUPPORTED_SEGMENTS: tuple[Segment, ...] = (
    Segment.IVC, Segment.CIV, Segment.EIV,
    Segment.CFV, Segment.SFJ, Segment.PFV, Segment.FV_P, Segment.FV_M, Segment.FV_D,
    Segment.POP, Segment.PTV, Segment.PER,
)
"""Every simulated segment."""

DEEP_SEGMENTS: tuple[Segment, ...] = (Segment.IVC, Segment.CIV, Segment.EIV)
"""Iliac veins and IVC: deep, imaged with a low-frequency curved probe and judged by colour filling, not by
compression (their compression clips are ``indeterminate``)."""


@dataclass(frozen=True)
class Ellipse:
    """An ellipse in the transverse plane; ``angle_rad`` rotates the lateral axis towards depth."""

    center_x_mm: float
    center_depth_mm: float
    semi_width_mm: float
    semi_depth_mm: float
    angle_rad: float = 0.0

    def __post_init__(self) -> None:
        if self.semi_width_mm <= 0 or self.semi_depth_mm <= 0:
            raise ValueError(f"ellipse semi-axes must be positive, got {self.semi_width_mm}, {self.semi_depth_mm}")

    def outline(self, n_points: int = 180) -> tuple[np.ndarray, np.ndarray]:
        """Boundary points ``(x_mm, depth_mm)``, each float64 ``[n_points]``, counter-clockwise on screen."""
        t = np.linspace(0.0, 2.0 * math.pi, n_points, endpoint=False)
        return self.at(t, np.ones_like(t))

    def at(self, theta_rad: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points at elliptical angle ``theta_rad`` and normalised radius ``rho`` (1 on the boundary)."""
        u = rho * self.semi_width_mm * np.cos(theta_rad)
        v = rho * self.semi_depth_mm * np.sin(theta_rad)
        c, s = math.cos(self.angle_rad), math.sin(self.angle_rad)
        return self.center_x_mm + c * u - s * v, self.center_depth_mm + s * u + c * v

    def rho(self, x_mm: np.ndarray, depth_mm: np.ndarray) -> np.ndarray:
        """Normalised elliptical radius of points (``< 1`` inside)."""
        dx, dz = x_mm - self.center_x_mm, depth_mm - self.center_depth_mm
        c, s = math.cos(self.angle_rad), math.sin(self.angle_rad)
        u, v = c * dx + s * dz, -s * dx + c * dz
        return np.sqrt((u / self.semi_width_mm) ** 2 + (v / self.semi_depth_mm) ** 2)

    def scaled(self, factor: float) -> Ellipse:
        """The same ellipse with both semi-axes multiplied by ``factor``."""
        return Ellipse(self.center_x_mm, self.center_depth_mm, self.semi_width_mm * factor,
                       self.semi_depth_mm * factor, self.angle_rad)


@dataclass(frozen=True)
class Web:
    """A post-thrombotic web (synechia): a thin echogenic band between two points inside the lumen."""

    start_x_mm: float
    start_depth_mm: float
    end_x_mm: float
    end_depth_mm: float
    thickness_mm: float


@dataclass(frozen=True)
class Valve:
    """Two thin leaflets from the wall towards the centre, at elliptical angles ``angles_rad``."""

    angles_rad: tuple[float, float]
    length_fraction: float
    """Leaflet length as a fraction of the lumen radius along its direction."""


@dataclass(frozen=True)
class VeinMechanics:
    """How the vein's contents thin along depth under probe pressure (1 = uncompressed thickness)."""

    blood_min_thickness_ratio: float
    """Blood-filled lumen thickness at full pressure (≈0.01–0.03: the walls coapt)."""
    collapse_pressure: float
    """Relative probe pressure (0–1) at which the blood lumen is fully collapsed."""
    collapse_exponent: float
    thrombus_min_thickness_ratio: float
    """Thrombus (or post-thrombotic tissue) thickness at full pressure: 0.9–1 acute, 0.5–0.9 chronic."""
    lateral_widening: float
    """Fractional widening of the vein when its lumen has collapsed (a collapsed vein is a wide line)."""


@dataclass(frozen=True)
class Vein:
    """A vein: lumen ellipse (inside the wall), wall, contents and mechanics."""

    role: VesselRole
    state: VeinState
    lumen: Ellipse
    wall_thickness_mm: float
    thrombus: Ellipse | None
    """Non-occlusive thrombus, clipped to the lumen; ``None`` otherwise."""
    fills_lumen: bool
    """True for occlusive thrombus and for post-thrombotic change (the patent channel is cut out of it)."""
    patent_radius_profile: tuple[float, ...]
    """Post-thrombotic patent channel: normalised radius at evenly spaced angles; empty when not chronic."""
    webs: tuple[Web, ...]
    valve: Valve | None
    thrombus_db: float
    """Thrombus echogenicity relative to muscle, dB (−35 near-anechoic acute … +6 echogenic chronic)."""
    blood_db: float
    mechanics: VeinMechanics


@dataclass(frozen=True)
class Artery:
    """The artery: round lumen, bright (optionally calcified) wall, pulsatile diameter."""

    lumen: Ellipse
    wall_thickness_mm: float
    pulsation_fraction: float
    """Peak-to-peak diameter change over the cardiac cycle as a fraction of diastolic diameter (2–4.5 %,
    so that the area stays within ±10 % of its median together with probe compression)."""
    min_thickness_ratio: float
    """Lumen thickness along depth at full probe pressure (0.95–0.99: arteries barely deform)."""
    calcified: bool
    blood_db: float


@dataclass(frozen=True)
class Layers:
    """Superficial layers, undulating gently across the image."""

    skin_mm: float
    fat_mm: float
    fascia_mm: float
    undulation_mm: float
    undulation_period_mm: float
    undulation_phase_rad: float
    septa_depths_mm: tuple[float, ...]
    """Intermuscular septa (bright curved lines) below the fascia."""
    septa_tilts: tuple[float, ...]
    """Slope of each septum (mm depth per mm lateral)."""

    def fascia_depth_mm(self, x_mm: np.ndarray) -> np.ndarray:
        """Depth of the top of the deep fascia at lateral positions ``x_mm``."""
        phase = 2.0 * math.pi * x_mm / self.undulation_period_mm + self.undulation_phase_rad
        return self.skin_mm + self.fat_mm + self.undulation_mm * np.sin(phase)


@dataclass(frozen=True)
class Echogenicity:
    """Backscatter amplitude of each tissue in dB relative to muscle, and texture scales in mm."""

    skin_db: float
    fat_db: float
    fat_septa_db: float
    fascia_db: float
    sheath_db: float
    wall_db: float
    artery_wall_db: float
    bone_db: float
    node_db: float
    fat_lobule_mm: float
    muscle_fibre_mm: float
    muscle_fibre_angle_rad: float
    muscle_texture_db: float
    """Standard deviation of the fibre-texture modulation of muscle backscatter, dB."""
    muscle_streak_db: float
    """Extra backscatter of the sparse bright fibro-adipose streaks (perimysium) in muscle, dB."""


@dataclass(frozen=True)
class Scene:
    """One transverse view: the patient's anatomy at one segment, in the reference configuration."""

    segment: Segment
    laterality: Laterality
    state: VeinState
    width_mm: float
    depth_mm: float
    layers: Layers
    echo: Echogenicity
    veins: tuple[Vein, ...]
    """``veins[0]`` is the target vein; the others are companions (all are labelled vein/thrombus)."""
    artery: Artery
    sheath: Ellipse | None
    """Echogenic perivascular connective tissue around the bundle."""
    bone: Ellipse | None
    nodes: tuple[Ellipse, ...]
    """Hypoechoic distractors (lymph nodes, haematoma): not vessels, labelled background."""
    gas: tuple[Ellipse, ...] = ()
    """Bowel-gas pockets above deep vessels: bright reflectors that cast dirty shadows."""

    def __post_init__(self) -> None:
        if not self.veins or self.veins[0].role is not VesselRole.TARGET:
            raise ValueError("veins[0] must be the target vein")
        if self.segment not in SUPPORTED_SEGMENTS:
            raise ValueError(_unsupported(self.segment))

    @property
    def target(self) -> Vein:
        """The vein whose state is the scene's truth."""
        return self.veins[0]


@dataclass(frozen=True)
class _SegmentAnatomy:
    vein_diameter_mm: tuple[float, float]
    artery_diameter_mm: tuple[float, float]
    artery_offset: str
    """``lateral`` beside the vein, ``superficial``/``deep`` above/below it, ``between`` a vein pair."""
    fat_mm: tuple[float, float]
    paired: bool


_ANATOMY: dict[Segment, _SegmentAnatomy] = {
    Segment.IVC: _SegmentAnatomy((15.0, 25.0), (15.0, 22.0), "lateral", (10.0, 35.0), False),
    Segment.CIV: _SegmentAnatomy((10.0, 16.0), (8.0, 12.0), "lateral", (10.0, 35.0), False),
    Segment.EIV: _SegmentAnatomy((10.0, 16.0), (7.0, 10.0), "lateral", (10.0, 30.0), False),
    Segment.CFV: _SegmentAnatomy((10.0, 14.0), (7.0, 10.0), "lateral", (6.0, 30.0), False),
    Segment.SFJ: _SegmentAnatomy((10.0, 14.0), (7.0, 10.0), "lateral", (6.0, 30.0), False),
    Segment.PFV: _SegmentAnatomy((5.0, 8.0), (4.0, 6.0), "lateral", (5.0, 25.0), False),
    Segment.FV_P: _SegmentAnatomy((7.0, 10.0), (6.0, 8.0), "superficial", (5.0, 25.0), False),
    Segment.FV_M: _SegmentAnatomy((6.0, 10.0), (5.0, 7.5), "superficial", (4.0, 20.0), False),
    Segment.FV_D: _SegmentAnatomy((6.0, 9.0), (5.0, 7.0), "superficial", (3.0, 15.0), False),
    Segment.POP: _SegmentAnatomy((6.0, 10.0), (5.0, 7.0), "deep", (5.0, 20.0), False),
    Segment.PTV: _SegmentAnatomy((3.0, 5.0), (2.0, 3.5), "between", (2.0, 10.0), True),
    Segment.PER: _SegmentAnatomy((3.0, 5.0), (2.0, 3.5), "between", (2.0, 10.0), True),
}


def _unsupported(segment: Segment) -> str:
    valid = ", ".join(s.value for s in SUPPORTED_SEGMENTS)
    return f"segment {segment.value!r} is not simulated; supported segments: {valid}"


def sample_mechanics(state: VeinState, rng: np.random.Generator) -> VeinMechanics:
    """Draw how a vein in ``state`` deforms (see :class:`VeinMechanics` for the ranges)."""
    u = rng.uniform
    thrombus_min = {
        VeinState.NORMAL: 0.95, VeinState.NONOCCLUSIVE: u(0.8, 0.97),
        VeinState.OCCLUSIVE: u(0.9, 0.99), VeinState.CHRONIC: u(0.5, 0.9),
    }[state]
    return VeinMechanics(
        blood_min_thickness_ratio=u(0.01, 0.03),
        collapse_pressure=u(0.45, 0.9),
        collapse_exponent=u(0.7, 1.6),
        thrombus_min_thickness_ratio=thrombus_min,
        lateral_widening=u(0.05, 0.35),
    )


def _target_vein(anat: _SegmentAnatomy, state: VeinState, lumen: Ellipse, rng: np.random.Generator) -> Vein:
    u = rng.uniform
    thrombus: Ellipse | None = None
    fills, valve = False, None
    profile: tuple[float, ...] = ()
    webs: tuple[Web, ...] = ()
    wall = u(0.3, 0.6)
    thrombus_db = u(-35.0, -3.0)  # acute thrombus: anything from near-anechoic to echogenic
    if state is VeinState.NONOCCLUSIVE:
        frac = u(0.35, 0.85)
        direction = u(0.0, 2.0 * math.pi)
        if rng.random() < 0.2:  # free-floating tail, away from the wall
            frac = u(0.3, 0.55)
            offset = u(0.0, 0.9 - frac)
        else:  # wall-adherent
            offset = 1.0 - frac * u(0.5, 0.9)
        cx, cz = lumen.at(np.array([direction]), np.array([offset]))
        thrombus = Ellipse(float(cx[0]), float(cz[0]), lumen.semi_width_mm * frac,
                           lumen.semi_depth_mm * frac * u(0.7, 1.3), u(-0.5, 0.5))
    elif state is VeinState.OCCLUSIVE:
        fills = True
    elif state is VeinState.CHRONIC:
        fills = True
        wall = u(0.7, 1.5)
        thrombus_db = u(-8.0, 6.0)
        k = 16
        base = u(0.55, 0.9)
        wobble = np.convolve(rng.normal(0.0, 0.12, k + 4), np.ones(3) / 3.0, mode="valid")[:k]
        profile = tuple(float(v) for v in np.clip(base + wobble, 0.3, 0.95))
        webs = tuple(_web(lumen, rng) for _ in range(int(rng.integers(0, 3))))
    if state in (VeinState.NORMAL, VeinState.NONOCCLUSIVE) and rng.random() < 0.15:
        a0 = u(-0.4, 0.4) + (math.pi if rng.random() < 0.5 else 0.0)
        valve = Valve((a0, a0 + math.pi + u(-0.3, 0.3)), u(0.5, 0.9))
    return Vein(VesselRole.TARGET, state, lumen, wall, thrombus, fills, profile, webs, valve,
                thrombus_db, u(-45.0, -25.0), sample_mechanics(state, rng))


def _web(lumen: Ellipse, rng: np.random.Generator) -> Web:
    a = rng.uniform(0.0, 2.0 * math.pi)
    b = a + math.pi + rng.uniform(-0.8, 0.8)
    x, z = lumen.at(np.array([a, b]), np.array([0.95, 0.95]))
    return Web(float(x[0]), float(z[0]), float(x[1]), float(z[1]), rng.uniform(0.2, 0.5))


def _companion(role: VesselRole, lumen: Ellipse, rng: np.random.Generator) -> Vein:
    return Vein(role, VeinState.NORMAL, lumen, rng.uniform(0.2, 0.5), None, False, (), (), None,
                -30.0, rng.uniform(-45.0, -25.0), sample_mechanics(VeinState.NORMAL, rng))


def sample_echogenicity(rng: np.random.Generator) -> Echogenicity:
    """Draw tissue backscatter levels (dB re muscle) and texture scales for one patient and scanner."""
    u = rng.uniform
    return Echogenicity(
        skin_db=u(2.0, 10.0), fat_db=u(-8.0, 3.0), fat_septa_db=u(4.0, 12.0), fascia_db=u(10.0, 20.0),
        sheath_db=u(0.0, 8.0), wall_db=u(4.0, 12.0), artery_wall_db=u(8.0, 18.0), bone_db=u(14.0, 22.0),
        node_db=u(-16.0, -6.0),
        fat_lobule_mm=u(1.5, 5.0), muscle_fibre_mm=u(0.8, 4.0), muscle_fibre_angle_rad=u(-0.35, 0.35),
        muscle_texture_db=u(1.5, 4.0), muscle_streak_db=u(3.0, 10.0),
    )


def _artery_position(anat: _SegmentAnatomy, lumen: Ellipse, r_art: float, *, side: float, gap: float,
                     rng: np.random.Generator) -> tuple[float, float]:
    u = rng.uniform
    x, z, r_w, r_d = lumen.center_x_mm, lumen.center_depth_mm, lumen.semi_width_mm, lumen.semi_depth_mm
    if anat.artery_offset == "superficial":
        return x + side * u(0.2, 0.9) * (r_w + r_art), z - u(0.5, 1.0) * (r_d + r_art)
    if anat.artery_offset == "deep":
        return x + side * u(0.0, 0.6) * (r_w + r_art), z + u(0.7, 1.0) * (r_d + r_art + gap)
    spread = 0.4 if anat.artery_offset == "lateral" else 0.5
    return x + side * (r_w + r_art + gap), z + u(-spread, spread) * r_d


def _companions(segment: Segment, lumen: Ellipse, artery: Ellipse, *, side: float, gap: float,
                fat_top_mm: float, depth_mm: float, rng: np.random.Generator) -> list[Vein]:
    """The paired calf vein, an optional deep femoral vein and the great saphenous vein at the SFJ."""
    u = rng.uniform
    x, z, r_w, r_d = lumen.center_x_mm, lumen.center_depth_mm, lumen.semi_width_mm, lumen.semi_depth_mm
    out = []
    if _ANATOMY[segment].paired:  # the second vein of the pair lies on the other side of the artery
        x2 = artery.center_x_mm + side * (artery.semi_width_mm + gap + r_w * u(0.8, 1.2))
        e = Ellipse(x2, z + u(-1.0, 1.0) * r_d, r_w * u(0.8, 1.2), r_d * u(0.8, 1.2), lumen.angle_rad)
        out.append(_companion(VesselRole.COMPANION, e, rng))
    if segment in (Segment.CFV, Segment.FV_P) and rng.random() < 0.3:
        rd = u(2.5, 4.0)
        pos = (x + side * u(0.0, 1.0) * r_w, z + r_d + rd + u(3.0, 10.0))
        if pos[1] + rd < depth_mm - 2.0:
            out.append(_companion(VesselRole.DEEP_FEMORAL, Ellipse(pos[0], pos[1], rd, rd * 0.8), rng))
    if segment is Segment.SFJ:
        rs = u(2.0, 3.5)
        pos = (x - side * r_w * u(0.3, 1.0), max(fat_top_mm + 2.0, z - r_d - rs - u(1.0, 5.0)))
        if pos[1] - rs > fat_top_mm:
            out.append(_companion(VesselRole.SAPHENOUS, Ellipse(pos[0], pos[1], rs * 1.2, rs * 0.8), rng))
    return out


def _surroundings(segment: Segment, bundle: list[Ellipse], layers: Layers, width_mm: float,
                  rng: np.random.Generator) -> tuple[Ellipse | None, Ellipse | None, tuple[Ellipse, ...]]:
    """Perivascular sheath, bone and lymph-node distractors."""
    u = rng.uniform
    sheath = None
    if rng.random() < 0.8:
        xs = [e.center_x_mm for e in bundle]
        zs = [e.center_depth_mm for e in bundle]
        span = max(max(xs) - min(xs), 1.0) / 2.0 + max(e.semi_width_mm for e in bundle) + u(1.0, 4.0)
        spanz = max(max(zs) - min(zs), 1.0) / 2.0 + max(e.semi_depth_mm for e in bundle) + u(1.0, 4.0)
        sheath = Ellipse(float(np.mean(xs)), float(np.mean(zs)), span, spanz, u(-0.2, 0.2))
    bone = None
    bone_chance = {Segment.FV_M: 0.5, Segment.FV_D: 0.6, Segment.POP: 0.4, Segment.PTV: 0.8, Segment.PER: 0.8}
    if rng.random() < bone_chance.get(segment, 0.0):
        deepest = max(e.center_depth_mm + e.semi_depth_mm for e in bundle)
        top_b = deepest + u(4.0, 20.0)
        rb = u(8.0, 16.0)
        bone = Ellipse(u(0.1, 0.9) * width_mm, top_b + rb, rb * u(1.0, 1.6), rb)
    nodes: tuple[Ellipse, ...] = ()
    if segment in (Segment.CFV, Segment.SFJ) and rng.random() < 0.3:
        zn = u(layers.skin_mm + 2.0, layers.skin_mm + layers.fat_mm + 2.0)
        nodes = (Ellipse(u(0.1, 0.9) * width_mm, zn, u(3.0, 8.0), u(1.5, 4.0), u(-0.3, 0.3)),)
    return sheath, bone, nodes


def sample_scene(
    segment: Segment, state: VeinState, width_mm: float, depth_mm: float, rng: np.random.Generator, *,
    laterality: Laterality = Laterality.RIGHT,
) -> Scene:
    """Draw the anatomy of one transverse compression view.

    Parameters
    ----------
    segment
        Venous segment imaged; one of :data:`SUPPORTED_SEGMENTS`.
    state
        Contents of the target vein.
    width_mm, depth_mm
        Field of view (image width across the probe and imaging depth), mm; 25–80 and 25–80.
    rng
        The only source of randomness.
    laterality
        Side; the artery is drawn on the lateral side of the vein (screen left for the right leg, as
        viewed from the feet), mirrored in 15 % of scenes for an unconventional probe orientation.

    Returns
    -------
    Scene
        Vessel centres at 15–50 mm depth (shallower when the field is shallow), inside the field of view.
    """
    if segment not in _ANATOMY:
        raise ValueError(_unsupported(segment))
    deep = segment in DEEP_SEGMENTS
    if not (25.0 <= width_mm <= 160.0 and 25.0 <= depth_mm <= (160.0 if deep else 80.0)):
        raise ValueError(f"field of view {width_mm} x {depth_mm} mm outside 25–80 mm (deep segments: 160 mm)")
    anat = _ANATOMY[segment]
    u = rng.uniform
    d_vein = u(*anat.vein_diameter_mm)
    flat = u(0.55, 0.9)  # veins are oval: flatter in depth than wide
    if state is VeinState.OCCLUSIVE:
        d_vein *= u(1.2, 1.8)
        flat = u(0.8, 1.0)
    elif state is VeinState.CHRONIC:
        d_vein *= u(0.6, 1.0)
    r_w, r_d = d_vein / 2.0, d_vein / 2.0 * flat
    r_art = u(*anat.artery_diameter_mm) / 2.0

    skin = u(1.2, 3.0)
    fat = min(u(*anat.fat_mm), max(2.0, depth_mm * 0.45 - skin))
    fascia_bottom = skin + fat + u(0.5, 1.2)
    top = max(fascia_bottom + 2.0 + r_d, 40.0 if deep else 15.0)
    bottom = min(90.0 if deep else 50.0, depth_mm - r_d - 5.0 - (2 * r_art if anat.artery_offset == "deep" else 0.0))
    vein_z = u(top, max(top, bottom))
    side = -1.0 if laterality is Laterality.RIGHT else 1.0  # artery towards screen left on the right leg
    if rng.random() < 0.15:
        side = -side
    vein_x = width_mm / 2.0 + u(-0.2, 0.2) * width_mm - side * (r_art + r_w) / 2.0
    gap = u(0.5, 3.0)
    lumen = Ellipse(vein_x, vein_z, r_w, r_d, u(-0.25, 0.25))
    art_x, art_z = _artery_position(anat, lumen, r_art, side=side, gap=gap, rng=rng)
    artery = Artery(Ellipse(art_x, art_z, r_art, r_art * u(0.92, 1.0)), u(0.5, 1.1), u(0.02, 0.045),
                    u(0.96, 0.995), rng.random() < 0.15, u(-50.0, -35.0))

    veins = [_target_vein(anat, state, lumen, rng)]
    if segment is Segment.FV_D and rng.random() < 0.2:  # adductor canal: hard to compress even when normal
        mech = replace(veins[0].mechanics, collapse_pressure=u(1.1, 1.6))
        veins[0] = replace(veins[0], mechanics=mech)
    if deep:  # behind the abdominal wall and bowel: the probe barely reaches them
        mech = replace(veins[0].mechanics, collapse_pressure=u(2.0, 4.0), lateral_widening=u(0.0, 0.1))
        veins[0] = replace(veins[0], mechanics=mech)
    veins += _companions(segment, lumen, artery.lumen, side=side, gap=gap, fat_top_mm=skin + 1.0,
                         depth_mm=depth_mm, rng=rng)

    n_septa = int(rng.integers(0, 4))
    septa = tuple(sorted(u(fascia_bottom + 3.0, depth_mm + 10.0) for _ in range(n_septa)))
    layers = Layers(skin, fat, fascia_bottom - skin - fat, u(0.0, 2.0), u(20.0, 80.0), u(0.0, 6.3),
                    septa, tuple(u(-0.15, 0.15) for _ in range(n_septa)))
    sheath, bone, nodes = _surroundings(segment, [v.lumen for v in veins] + [artery.lumen], layers, width_mm, rng)
    gas = _bowel_gas(lumen, fascia_bottom, width_mm, rng) if deep else ()
    return Scene(segment, laterality, state, width_mm, depth_mm, layers, sample_echogenicity(rng),
                 tuple(veins), artery, sheath, bone, nodes, gas)


def _bowel_gas(lumen: Ellipse, fascia_bottom_mm: float, width_mm: float,
               rng: np.random.Generator) -> tuple[Ellipse, ...]:
    """Zero to three flat gas pockets between the abdominal wall and the vessel, mostly off its axis."""
    out = []
    for _ in range(int(rng.integers(0, 4))):
        lowest = lumen.center_depth_mm - lumen.semi_depth_mm - 12.0
        z = rng.uniform(fascia_bottom_mm + 4.0, max(fascia_bottom_mm + 5.0, lowest))
        x = rng.uniform(0.05, 0.95) * width_mm
        if abs(x - lumen.center_x_mm) < lumen.semi_width_mm + 4.0:
            x += np.sign(x - lumen.center_x_mm + 1e-6) * (lumen.semi_width_mm + 6.0)
        out.append(Ellipse(x, z, rng.uniform(3.0, 12.0), rng.uniform(1.0, 3.0), rng.uniform(-0.3, 0.3)))
    return tuple(out)
