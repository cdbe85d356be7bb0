"""The scene as a tissue map and as acoustic scatterers, in the reference (uncompressed) configuration.

:func:`rasterize` paints a :class:`~dvt_us.phantom.scene.Scene` onto a fine reference grid (tissue class,
mechanical group, backscatter in dB with texture) and lists the truth polygons of each vessel.
:func:`sample_scatterers` turns that map into point scatterers: a diffuse population (about one per
simulation cell, complex Gaussian amplitudes, so speckle is fully developed wherever tissue is
homogeneous) plus coherent scatterers strung densely along specular interfaces (fascia, vessel intima,
bone surface), whose phases add up only where the interface faces the probe.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from dvt_us.phantom.scene import Ellipse, Scene, Vein, VeinState

_SHIFT = 4  # cv2 sub-pixel bits


class Tissue(enum.IntEnum):
    """Tissue classes of the reference map."""

    SKIN = 1
    FAT = 2
    FASCIA = 3
    MUSCLE = 4
    SEPTUM = 5
    SHEATH = 6
    NODE = 7
    BONE_SURFACE = 8
    BONE = 9
    VEIN_WALL = 10
    ARTERY_WALL = 11
    CALCIFICATION = 12
    VEIN_BLOOD = 13
    ARTERY_BLOOD = 14
    THROMBUS = 15
    VALVE = 16


# Round-trip attenuation of each tissue relative to the clip's soft-tissue coefficient.
_ATTENUATION = np.ones(17, np.float32)
_ATTENUATION[[Tissue.VEIN_BLOOD, Tissue.ARTERY_BLOOD, Tissue.VALVE]] = 0.25
_ATTENUATION[Tissue.FAT] = 0.8
_ATTENUATION[Tissue.MUSCLE] = 1.1
_ATTENUATION[Tissue.THROMBUS] = 0.8
_ATTENUATION[Tissue.BONE] = 25.0
_ATTENUATION[Tissue.BONE_SURFACE] = 25.0
_ATTENUATION[Tissue.CALCIFICATION] = 12.0

_NO_INTERFACE = np.array([Tissue.VEIN_BLOOD, Tissue.ARTERY_BLOOD, Tissue.THROMBUS, Tissue.VALVE, Tissue.NODE,
                          Tissue.BONE])

# Soft-tissue compliance (how much of the probe's push each tissue takes up), per tissue.
COMPLIANCE = np.zeros(17, np.float32)
COMPLIANCE[[Tissue.SKIN, Tissue.NODE]] = 0.6
COMPLIANCE[Tissue.FAT] = 1.0
COMPLIANCE[[Tissue.FASCIA, Tissue.SEPTUM]] = 0.3
COMPLIANCE[[Tissue.MUSCLE, Tissue.VEIN_WALL]] = 0.5
COMPLIANCE[Tissue.SHEATH] = 0.7
COMPLIANCE[[Tissue.ARTERY_WALL, Tissue.CALCIFICATION]] = 0.15


@dataclass(frozen=True)
class ReferenceGrid:
    """A regular grid in reference mm: pixel ``[r, c]`` is centred at ``(x0_mm + (c+0.5)·s, (r+0.5)·s)``."""

    x0_mm: float
    spacing_mm: float
    rows: int
    cols: int

    def to_pixels(self, x_mm: np.ndarray, depth_mm: np.ndarray) -> np.ndarray:
        """Fixed-point ``int32 [n, 2]`` (col, row) vertices for cv2 drawing with ``_SHIFT`` bits."""
        c = (x_mm - self.x0_mm) / self.spacing_mm - 0.5
        r = depth_mm / self.spacing_mm - 0.5
        return np.round(np.stack([c, r], axis=1) * (1 << _SHIFT)).astype(np.int32)


@dataclass(frozen=True)
class Region:
    """A truth polygon: vertices in reference mm and the label it paints (1 lumen, 2 thrombus, 3 artery)."""

    x_mm: np.ndarray
    depth_mm: np.ndarray
    label: int


@dataclass(frozen=True)
class TissueMap:
    """The painted reference configuration (all arrays ``[rows, cols]`` on ``grid``)."""

    grid: ReferenceGrid
    tissue: np.ndarray
    """uint8 :class:`Tissue` codes."""
    group: np.ndarray
    """int8 mechanical group: 0 soft tissue, ``2v+1`` blood of vein ``v``, ``2v+2`` its thrombus,
    ``2V+1`` artery lumen."""
    backscatter_db: np.ndarray
    """float32 diffuse backscatter amplitude, dB re muscle, texture included."""
    regions: tuple[tuple[Region, ...], ...]
    """Per vein (same order as ``scene.veins``) then the artery: truth polygons in drawing order."""


def clip_convex(px: np.ndarray, pz: np.ndarray, cx: np.ndarray, cz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clip polygon ``(px, pz)`` by the convex counter-clockwise polygon ``(cx, cz)`` (Sutherland–Hodgman)."""
    pts = list(zip(px.tolist(), pz.tolist(), strict=True))
    n = len(cx)
    for i in range(n):
        ax, az, bx, bz = cx[i], cz[i], cx[(i + 1) % n], cz[(i + 1) % n]

        def side(p: tuple[float, float], ax: float = ax, az: float = az, bx: float = bx, bz: float = bz) -> float:
            return (bx - ax) * (p[1] - az) - (bz - az) * (p[0] - ax)

        out: list[tuple[float, float]] = []
        for j, cur in enumerate(pts):
            prev = pts[j - 1]
            sc, sp = side(cur), side(prev)
            if sc >= 0:
                if sp < 0:
                    t = sp / (sp - sc)
                    out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
                out.append(cur)
            elif sp >= 0:
                t = sp / (sp - sc)
                out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
        pts = out
        if not pts:
            break
    arr = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def _grown(e: Ellipse, mm: float) -> Ellipse:
    return Ellipse(e.center_x_mm, e.center_depth_mm, e.semi_width_mm + mm, e.semi_depth_mm + mm, e.angle_rad)


def vein_regions(vein: Vein) -> tuple[Region, ...]:
    """Truth polygons of a vein, in drawing order (later ones paint over earlier ones)."""
    lx, lz = vein.lumen.outline(240)
    regions = [Region(lx, lz, 2 if vein.fills_lumen else 1)]
    if vein.patent_radius_profile:
        theta = np.linspace(0.0, 2.0 * math.pi, 240, endpoint=False)
        prof = np.asarray(vein.patent_radius_profile)
        knots = np.linspace(0.0, 2.0 * math.pi, len(prof) + 1)
        rho = np.interp(theta, knots, np.append(prof, prof[0]))
        px, pz = vein.lumen.at(theta, rho)
        regions.append(Region(px, pz, 1))
    if vein.thrombus is not None:
        tx, tz = vein.thrombus.outline(120)
        tx, tz = clip_convex(tx, tz, lx, lz)
        if len(tx) >= 3:
            regions.append(Region(tx, tz, 2))
    for w in vein.webs:
        dx, dz = w.end_x_mm - w.start_x_mm, w.end_depth_mm - w.start_depth_mm
        norm = math.hypot(dx, dz) or 1.0
        nx, nz = -dz / norm * w.thickness_mm / 2, dx / norm * w.thickness_mm / 2
        x = np.array([w.start_x_mm + nx, w.end_x_mm + nx, w.end_x_mm - nx, w.start_x_mm - nx])
        z = np.array([w.start_depth_mm + nz, w.end_depth_mm + nz, w.end_depth_mm - nz, w.start_depth_mm - nz])
        regions.append(Region(x, z, 2))
    return tuple(regions)


def _smooth_noise(shape: tuple[int, int], sigma_px: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Unit-variance Gaussian random field, smoothed with std ``(sigma_rows, sigma_cols)`` pixels."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    out = cv2.GaussianBlur(noise, (0, 0), sigmaX=max(sigma_px[1], 0.3), sigmaY=max(sigma_px[0], 0.3),
                           borderType=cv2.BORDER_REFLECT)
    field = np.asarray(out, np.float32)
    return field / np.float32(field.std() + 1e-12)


def _paint_layers(scene: Scene, grid: ReferenceGrid, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Skin, fat lobules, fascia, muscle compartments and septa: tissue codes and backscatter dB."""
    s = grid.spacing_mm
    x = grid.x0_mm + (np.arange(grid.cols, dtype=np.float32) + 0.5) * s
    z = (np.arange(grid.rows, dtype=np.float32) + 0.5) * s
    zz = z[:, None]
    lay, echo = scene.layers, scene.echo
    fascia_top = lay.fascia_depth_mm(x)[None, :]
    tissue = np.full((grid.rows, grid.cols), Tissue.MUSCLE, np.uint8)
    tissue[zz < fascia_top + lay.fascia_mm] = Tissue.FASCIA
    tissue[zz < fascia_top] = Tissue.FAT
    tissue[np.broadcast_to(zz < lay.skin_mm, tissue.shape)] = Tissue.SKIN
    db = np.zeros(tissue.shape, np.float32)

    # Muscle: compartments between septa, each with its own level, and anisotropic fibre texture.
    below = zz >= fascia_top + lay.fascia_mm
    compartment = np.zeros(tissue.shape, np.int8)
    for depth, tilt in zip(lay.septa_depths_mm, lay.septa_tilts, strict=True):
        centre = depth + tilt * (x - scene.width_mm / 2)[None, :] + 0.6 * np.sin(x / 9.0 + depth)[None, :]
        compartment += (zz > centre).astype(np.int8)
        tissue[below & (np.abs(zz - centre) < rng.uniform(0.2, 0.45))] = Tissue.SEPTUM
    levels = rng.normal(0.0, 2.0, len(lay.septa_depths_mm) + 1).astype(np.float32)
    fibre = _smooth_noise(tissue.shape, (rng.uniform(0.1, 0.3) / s, echo.muscle_fibre_mm / s), rng)
    if abs(echo.muscle_fibre_angle_rad) > 0.02:
        rot = cv2.getRotationMatrix2D((grid.cols / 2, grid.rows / 2), math.degrees(echo.muscle_fibre_angle_rad), 1.0)
        fibre = cv2.warpAffine(fibre, rot, (grid.cols, grid.rows), borderMode=cv2.BORDER_REFLECT)
    streaks = echo.muscle_streak_db * np.clip(fibre - 1.0, 0.0, 1.0)
    db += np.where(tissue == Tissue.MUSCLE, levels[compartment] + echo.muscle_texture_db * fibre + streaks, 0.0)

    # Fat: lobules separated by thin echogenic septa.
    lobules = _smooth_noise(tissue.shape, (echo.fat_lobule_mm / s, echo.fat_lobule_mm / s * 1.5), rng)
    fat = tissue == Tissue.FAT
    septa = fat & (np.abs(lobules) < 0.08)
    db[fat] = echo.fat_db + 2.0 * lobules[fat]
    db[septa] = echo.fat_septa_db
    db[tissue == Tissue.SKIN] = echo.skin_db
    db[tissue == Tissue.FASCIA] = echo.fascia_db
    db[tissue == Tissue.SEPTUM] = echo.fascia_db - 3.0

    return tissue, db


def _valve_mask(vein: Vein, grid: ReferenceGrid) -> np.ndarray:
    """Boolean ``[rows, cols]`` of the two valve leaflets of ``vein`` (it must have a valve)."""
    mask = np.zeros((grid.rows, grid.cols), np.uint8)
    if vein.valve is None:
        return mask.astype(bool)
    for angle in vein.valve.angles_rad:
        rho = np.array([1.0, 1.0 - vein.valve.length_fraction])
        vx, vz = vein.lumen.at(np.array([angle, angle + 0.25]), rho)
        p = grid.to_pixels(vx, vz)
        cv2.line(mask, tuple(p[0]), tuple(p[1]), 1, max(1, round(0.25 / grid.spacing_mm)), shift=_SHIFT)
    return mask.astype(bool)


_Painter = Callable[..., np.ndarray]


def _paint_artery(scene: Scene, paint: _Painter, rng: np.random.Generator) -> None:
    """Artery wall (partly calcified in some patients) and lumen."""
    art, echo = scene.artery, scene.echo
    if art.calcified:
        paint(_grown(art.lumen, art.wall_thickness_mm), Tissue.CALCIFICATION, echo.bone_db)
        arc = Ellipse(art.lumen.center_x_mm + rng.uniform(-1, 1), art.lumen.center_depth_mm + rng.uniform(-1, 1),
                      art.lumen.semi_width_mm * 1.1, art.lumen.semi_depth_mm * 1.1)
        paint(_grown(arc, art.wall_thickness_mm * 0.5), Tissue.ARTERY_WALL, echo.artery_wall_db)
    else:
        paint(_grown(art.lumen, art.wall_thickness_mm), Tissue.ARTERY_WALL, echo.artery_wall_db)
    paint(art.lumen, Tissue.ARTERY_BLOOD, art.blood_db, 2 * len(scene.veins) + 1)


def rasterize(scene: Scene, grid: ReferenceGrid, rng: np.random.Generator) -> TissueMap:
    """Paint ``scene`` on ``grid`` (textures drawn from ``rng``) and list its truth polygons."""
    s = grid.spacing_mm
    x = grid.x0_mm + (np.arange(grid.cols, dtype=np.float32) + 0.5) * s
    zz = ((np.arange(grid.rows, dtype=np.float32) + 0.5) * s)[:, None]
    echo = scene.echo
    tissue, db = _paint_layers(scene, grid, rng)
    mottle = _smooth_noise(tissue.shape, (0.6 / s, 0.6 / s), rng)
    group = np.zeros(tissue.shape, np.int8)

    def paint(e: Ellipse, code: Tissue, level: np.ndarray | float, grp: int | None = None) -> np.ndarray:
        mask = np.zeros(tissue.shape, np.uint8)
        ex, ez = e.outline(240)
        cv2.fillPoly(mask, [grid.to_pixels(ex, ez)], 1, lineType=cv2.LINE_8, shift=_SHIFT)
        m = mask.astype(bool)
        tissue[m] = code
        db[m] = level[m] if isinstance(level, np.ndarray) else level
        if grp is not None:
            group[m] = grp
        return m

    if scene.bone is not None:
        paint(scene.bone, Tissue.BONE_SURFACE, echo.bone_db)
        paint(_grown(scene.bone, -1.2), Tissue.BONE, -25.0)
    for gas in scene.gas:  # bowel gas: a bright reflector that shadows everything below it
        paint(gas, Tissue.BONE_SURFACE, echo.bone_db + 4.0 * mottle)
    if scene.sheath is not None:  # soft-edged echogenic connective tissue around the bundle
        rho = scene.sheath.rho(x[None, :], zz)
        blend = np.clip((1.35 - rho - 0.25 * mottle) / 0.5, 0.0, 1.0)
        soft = (tissue == Tissue.MUSCLE) | (tissue == Tissue.FAT) | (tissue == Tissue.SEPTUM)
        db[soft] = ((1.0 - blend) * db + blend * (echo.sheath_db + 3.0 * mottle))[soft]
        tissue[soft & (blend > 0.5)] = Tissue.SHEATH
    for node in scene.nodes:  # lymph node: hypoechoic cortex, echogenic fatty hilum
        paint(node, Tissue.NODE, echo.node_db + 2.0 * mottle)
        paint(node.scaled(0.45), Tissue.NODE, echo.fat_septa_db + 2.0 * mottle)
    _paint_artery(scene, paint, rng)

    regions: list[tuple[Region, ...]] = []
    for v, vein in enumerate(scene.veins):
        paint(_grown(vein.lumen, vein.wall_thickness_mm), Tissue.VEIN_WALL, echo.wall_db - 2.0 + 2.0 * mottle)
        blood_level = vein.blood_db + 3.0 * mottle
        clot_level = vein.thrombus_db + (4.0 if vein.state is VeinState.CHRONIC else 2.5) * mottle
        vr = vein_regions(vein)
        for region in vr:
            mask = np.zeros(tissue.shape, np.uint8)
            cv2.fillPoly(mask, [grid.to_pixels(region.x_mm, region.depth_mm)], 1, shift=_SHIFT)
            m = mask.astype(bool)
            clot = region.label == 2
            tissue[m] = Tissue.THROMBUS if clot else Tissue.VEIN_BLOOD
            db[m] = (clot_level if clot else blood_level)[m]
            group[m] = 2 * v + (2 if clot else 1)
        if vein.valve is not None:
            m = _valve_mask(vein, grid) & (tissue == Tissue.VEIN_BLOOD)
            tissue[m] = Tissue.VALVE
            db[m] = echo.wall_db - 6.0
        regions.append(vr)
    ax, az = scene.artery.lumen.outline(180)
    regions.append((Region(ax, az, 3),))
    return TissueMap(grid, tissue, group, db, tuple(regions))


@dataclass(frozen=True)
class Scatterers:
    """Point scatterers in reference mm: diffuse ones first, then interface ones.

    The complex amplitude at elevational phase ``φ`` is ``coherent + diffuse_a·cos φ + diffuse_b·sin φ``
    (out-of-plane motion slowly swaps the diffuse population; interfaces stay).
    """

    x_mm: np.ndarray
    depth_mm: np.ndarray
    coherent: np.ndarray
    """float32 amplitude of specular interface points (0 for diffuse scatterers)."""
    diffuse_a: np.ndarray
    diffuse_b: np.ndarray
    attenuation: np.ndarray
    """float32 attenuation relative to the clip's soft-tissue coefficient, at each scatterer."""


def _lookup(tmap: TissueMap, x_mm: np.ndarray, depth_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g = tmap.grid
    c = np.clip(((x_mm - g.x0_mm) / g.spacing_mm).astype(np.int32), 0, g.cols - 1)
    r = np.clip((depth_mm / g.spacing_mm).astype(np.int32), 0, g.rows - 1)
    return r, c


def _interfaces(scene: Scene, tmap: TissueMap) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Specular interface polylines ``(x_mm, depth_mm, level_db)``, sampled every ~0.04 mm.

    The layer interfaces (skin, two fascia surfaces, one per septum) come first; they stop at the bundle.
    """
    g = tmap.grid
    x = np.arange(g.x0_mm, g.x0_mm + g.cols * g.spacing_mm, 0.04)
    lay, echo = scene.layers, scene.echo
    top = lay.fascia_depth_mm(x)
    out = [(x, np.full_like(x, 0.15), echo.skin_db + 6.0), (x, top, echo.fascia_db + 6.0),
           (x, top + lay.fascia_mm, echo.fascia_db + 2.0)]
    for depth, tilt in zip(lay.septa_depths_mm, lay.septa_tilts, strict=True):
        out.append((x, depth + tilt * (x - scene.width_mm / 2) + 0.6 * np.sin(x / 9.0 + depth), echo.fascia_db))
    for vessel_lumen, wall, level in [(v.lumen, v.wall_thickness_mm, echo.wall_db) for v in scene.veins] + [
            (scene.artery.lumen, scene.artery.wall_thickness_mm, echo.artery_wall_db)]:
        n = int(2 * math.pi * vessel_lumen.semi_width_mm / 0.04)
        ex, ez = _grown(vessel_lumen, 0.08).outline(n)
        out.append((ex, ez, level + 9.0))
        ox, oz = _grown(vessel_lumen, wall).outline(n)
        out.append((ox, oz, level))
    if scene.bone is not None:
        n = int(2 * math.pi * scene.bone.semi_width_mm / 0.04)
        bx, bz = scene.bone.outline(n)
        out.append((bx, bz, echo.bone_db + 6.0))
    return out


def sample_scatterers(
    scene: Scene, tmap: TissueMap, cell_mm: tuple[float, float], psf_sigma_mm: tuple[float, float],
    rng: np.random.Generator,
) -> Scatterers:
    """Draw the scatterers of ``scene``.

    Parameters
    ----------
    scene, tmap
        The anatomy and its painted reference map.
    cell_mm
        ``(depth, lateral)`` size of a simulation cell; one diffuse scatterer is jittered into each cell of
        the reference domain.
    psf_sigma_mm
        ``(axial, lateral)`` Gaussian PSF standard deviations at the focus, used to scale interface
        strength so that ``level_db`` is the specular echo relative to the muscle speckle RMS.
    rng
        The only source of randomness.
    """
    g = tmap.grid
    dz, dx = cell_mm
    nz, nx = int(g.rows * g.spacing_mm / dz), int(g.cols * g.spacing_mm / dx)
    zc = (np.arange(nz, dtype=np.float32)[:, None] + rng.random((nz, nx), dtype=np.float32)) * dz
    xc = g.x0_mm + (np.arange(nx, dtype=np.float32)[None, :] + rng.random((nz, nx), dtype=np.float32)) * dx
    xd, zd = xc.ravel(), zc.ravel()
    r, c = _lookup(tmap, xd, zd)
    amp = np.power(10.0, tmap.backscatter_db[r, c] / 20.0).astype(np.float32)
    n = xd.size

    def cgauss() -> np.ndarray:
        re = rng.standard_normal(n, dtype=np.float32)
        im = rng.standard_normal(n, dtype=np.float32)
        z: np.ndarray = ((re + 1j * im) * (amp / math.sqrt(2.0))).astype(np.complex64)
        return z

    da, db = cgauss(), cgauss()
    att = _ATTENUATION[tmap.tissue[r, c]]

    sig_z, sig_x = psf_sigma_mm
    # Line strength per mm that gives a peak echo equal to the muscle speckle RMS (see module docstring).
    unit = math.sqrt(math.pi * sig_x * sig_z / (dx * dz)) / (sig_x * math.sqrt(2.0 * math.pi))
    lx, lz, lc = [], [], []
    for line_x, line_z, level in _interfaces(scene, tmap):
        keep = (line_z > 0) & (line_z < g.rows * g.spacing_mm)
        ix, iz = line_x[keep], line_z[keep]
        step = np.hypot(np.diff(ix, append=ix[:1]), np.diff(iz, append=iz[:1]))
        roughness = np.exp(rng.normal(0.0, 0.35, ix.size))
        lx.append(ix)
        lz.append(iz + rng.normal(0.0, 0.01, ix.size))
        lc.append(unit * 10 ** (level / 20.0) * np.minimum(step, 0.1) * roughness)
    n_layer = 3 + len(scene.layers.septa_depths_mm)
    layer = np.concatenate([np.full(len(a), i < n_layer) for i, a in enumerate(lx)])
    ix, iz, ic = (np.concatenate(a).astype(np.float32) for a in (lx, lz, lc))
    ri, ci = _lookup(tmap, ix, iz)
    where = tmap.tissue[ri, ci]
    keep = ~np.isin(where, _NO_INTERFACE) & ~(layer & (where == Tissue.SHEATH))
    ix, iz, ic, ri, ci = ix[keep], iz[keep], ic[keep], ri[keep], ci[keep]
    zeros = np.zeros(ix.size, np.complex64)
    return Scatterers(
        x_mm=np.concatenate([xd, ix]), depth_mm=np.concatenate([zd, iz]),
        coherent=np.concatenate([np.zeros(n, np.float32), ic]),
        diffuse_a=np.concatenate([da, zeros]), diffuse_b=np.concatenate([db, zeros]),
        attenuation=np.concatenate([att, _ATTENUATION[tmap.tissue[ri, ci]]]),
    )
