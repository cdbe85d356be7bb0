"""A smooth, invertible displacement field for probe compression: stiff vessels in soft tissue.

The probe-fixed upward displacement ``u`` (mm; a point at reference depth ``z`` is seen at ``z − u``) solves
a scalar elasticity problem on a coarse grid, ``div(E·(∇u − ε*)) = 0``: ``u = 0`` at the probe face, the
tissue stiffness ``E`` rising with depth (strain is largest under the probe) and lowest in fat, vessel
contents about a thousand times stiffer than tissue so that they move as a whole, and an eigenstrain
``ε*`` (along depth) inside each vessel group that thins it. The solution is linear in the drivers, so it
is built once per clip as basis fields — one per unit probe push (``u = 1`` at the bottom) and one per unit
thinning of each mechanical group — and every frame is a weighted sum. Lateral widening of a collapsing
vein is a second field with a lateral eigenstrain. Because the field is harmonic-like away from the
vessels, the pull of a collapsing vein spreads laterally and decays with distance (no column-shaped
trough): tissue closes in from above, below and the sides.

Inside a vessel the thinning is exact: a point follows the field at the top of its vessel in its column,
plus the thinning of the vessel's own groups above it (the column model), and tissue under a vessel is
corrected by the small discretisation mismatch so that both walls stay attached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from dvt_us.phantom.tissue import COMPLIANCE, ReferenceGrid, TissueMap

_MAX_UNKNOWNS = 12_000
_VESSEL_COMPLIANCE = 1e-3
_BOTTOM_BLEND_MM = 2.5


@dataclass(frozen=True)
class CoarseGrid:
    """Cell-centred coarse grid: ``block`` × ``block`` reference pixels per cell."""

    block: int
    rows: int
    cols: int
    spacing_mm: float
    x0_mm: float


@dataclass(frozen=True)
class FieldBasis:
    """Basis fields on a :class:`CoarseGrid`.

    ``vertical`` float32 ``[1 + K, rows, cols]``: upward displacement per unit probe push, then per unit
    thinning of each mechanical group. ``lateral`` float32 ``[V, rows, cols]``: rightward displacement per
    unit widening of each vein.
    """

    coarse: CoarseGrid
    vertical: np.ndarray
    lateral: np.ndarray


def coarse_grid(grid: ReferenceGrid) -> CoarseGrid:
    """The coarsest block size that keeps at most ``_MAX_UNKNOWNS`` cells but no coarser than 1 mm."""
    area = grid.rows * grid.cols
    block = max(4, math.ceil(math.sqrt(area / _MAX_UNKNOWNS)))
    return CoarseGrid(block, math.ceil(grid.rows / block), math.ceil(grid.cols / block),
                      block * grid.spacing_mm, grid.x0_mm)


def _block_mean(a: np.ndarray, cg: CoarseGrid) -> np.ndarray:
    pr, pc = cg.rows * cg.block - a.shape[0], cg.cols * cg.block - a.shape[1]
    padded = np.pad(a, ((0, pr), (0, pc)), mode="edge")
    out: np.ndarray = padded.reshape(cg.rows, cg.block, cg.cols, cg.block).mean(axis=(1, 3))
    return out


def _staircase(tmap: TissueMap, cg: CoarseGrid, n_veins: int) -> tuple[np.ndarray, np.ndarray]:
    """Each vessel as a staircase of stiff coarse cells carrying its groups' column thickness as eigenstrain.

    Cells at least half covered by a vessel are stiff, and so is, in every column the vessel touches, its
    most covered cell. Returns the per-group eigenstrain ``[K, rows, cols]`` (its column sum times the cell
    size is the group's thickness in that column) and the stiff-cell mask.
    """
    k = 2 * n_veins + 1
    cover = np.stack([_block_mean((tmap.group == i + 1).astype(np.float32), cg) for i in range(k)])
    eigen = np.zeros_like(cover)
    vessel_cells = np.zeros(cover.shape[1:], bool)
    for j in range(n_veins + 1):
        own = [2 * n_veins] if j == n_veins else [2 * j, 2 * j + 1]
        cv = cover[own].sum(axis=0)
        mask = cv >= 0.5
        col = np.nonzero(cv.sum(axis=0) > 0)[0]
        mask[cv[:, col].argmax(axis=0), col] = True
        weight = cv * mask
        weight /= np.maximum(weight.sum(axis=0, keepdims=True), 1e-9)
        for i in own:
            eigen[i] = weight * cover[i].sum(axis=0, keepdims=True)
        vessel_cells |= mask
    return eigen, vessel_cells


def solve_basis(tmap: TissueMap, n_veins: int, strain_decay_depth_mm: float) -> FieldBasis:
    """Assemble and solve the coarse problem for every basis field (one sparse factorisation)."""
    g = tmap.grid
    cg = coarse_grid(g)
    depth = (np.arange(g.rows, dtype=np.float32) + 0.5) * g.spacing_mm
    soft = np.maximum(COMPLIANCE[tmap.tissue], 0.05) * np.exp(-depth / strain_decay_depth_mm)[:, None]
    eigen, vessel_cells = _staircase(tmap, cg, n_veins)
    k = 2 * n_veins + 1
    soft_mean = _block_mean(soft.astype(np.float32) * (tmap.group == 0), cg) + 1e-3
    stiff = np.where(vessel_cells, 1.0 / _VESSEL_COMPLIANCE, 1.0 / soft_mean)
    rows, cols, h = cg.rows, cg.cols, cg.spacing_mm
    n = rows * cols
    idx = np.arange(n).reshape(rows, cols)
    gv = 2.0 * stiff[:-1] * stiff[1:] / (stiff[:-1] + stiff[1:])  # vertical faces [rows-1, cols]
    gh = 2.0 * stiff[:, :-1] * stiff[:, 1:] / (stiff[:, :-1] + stiff[:, 1:])  # lateral faces
    diag = np.zeros((rows, cols))
    diag[:-1] += gv
    diag[1:] += gv
    diag[:, :-1] += gh
    diag[:, 1:] += gh
    g_top, g_bottom = 2.0 * stiff[0], 2.0 * stiff[-1]  # Dirichlet faces half a cell away
    diag[0] += g_top
    diag[-1] += g_bottom
    a = sp.coo_matrix((np.concatenate([diag.ravel(), -gv.ravel(), -gv.ravel(), -gh.ravel(), -gh.ravel()]),
                       (np.concatenate([idx.ravel(), idx[:-1].ravel(), idx[1:].ravel(), idx[:, :-1].ravel(),
                                        idx[:, 1:].ravel()]),
                        np.concatenate([idx.ravel(), idx[1:].ravel(), idx[:-1].ravel(), idx[:, 1:].ravel(),
                                        idx[:, :-1].ravel()]))), shape=(n, n)).tocsc()
    rhs = np.zeros((n, 1 + k + n_veins))
    push = np.zeros((rows, cols))
    push[-1] = g_bottom
    rhs[:, 0] = push.ravel()
    for i in range(k):  # eigenstrain along depth: flux g·(Δu − h·χ) through each vertical face
        chi = 0.5 * (eigen[i, :-1] + eigen[i, 1:]) * h * gv
        b = np.zeros((rows, cols))
        b[:-1] -= chi
        b[1:] += chi
        rhs[:, 1 + i] = b.ravel()
    for v in range(n_veins):  # lateral eigenstrain: the collapsing vein widens
        c = eigen[2 * v] + eigen[2 * v + 1]
        chi = 0.5 * (c[:, :-1] + c[:, 1:]) * h * gh
        b = np.zeros((rows, cols))
        b[:, :-1] -= chi
        b[:, 1:] += chi
        rhs[:, 1 + k + v] = b.ravel()
    lu = spla.splu(a, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
    sol = lu.solve(rhs).T.reshape(-1, rows, cols).astype(np.float32)
    return FieldBasis(cg, sol[: 1 + k], sol[1 + k :])


def sample(fields: np.ndarray, cg: CoarseGrid, x_mm: np.ndarray, depth_mm: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``fields`` ``[F, rows, cols]`` at points: float32 ``[F, n]`` (edges clamped)."""
    n = x_mm.size
    width = 4096
    m = max(1, math.ceil(n / width))
    mx = np.zeros(m * width, np.float32)
    mz = np.zeros(m * width, np.float32)
    mx[:n] = (x_mm - cg.x0_mm) / cg.spacing_mm - 0.5
    mz[:n] = depth_mm / cg.spacing_mm - 0.5
    map_x, map_z = mx.reshape(m, width), mz.reshape(m, width)
    out = np.empty((len(fields), n), np.float32)
    for f, field in enumerate(fields):
        s = cv2.remap(np.ascontiguousarray(field, np.float32), map_x, map_z, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
        out[f] = np.asarray(s).ravel()[:n]
    return out


def bottom_blend(distance_mm: np.ndarray) -> np.ndarray:
    """Weight of the wall-attachment correction below a vessel: 1 at its wall, 0 from 2.5 mm down."""
    t = np.clip(distance_mm / _BOTTOM_BLEND_MM, 0.0, 1.0)
    out: np.ndarray = 1.0 - t * t * (3.0 - 2.0 * t)
    return out


def jacobian_determinant(x_new: np.ndarray, z_new: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Determinant of the map's Jacobian on a regular grid of reference points ``[rows, cols]`` each."""
    dx_dc = np.diff(x_new, axis=1)[:-1] / spacing_mm
    dz_dc = np.diff(z_new, axis=1)[:-1] / spacing_mm
    dx_dr = np.diff(x_new, axis=0)[:, :-1] / spacing_mm
    dz_dr = np.diff(z_new, axis=0)[:, :-1] / spacing_mm
    out: np.ndarray = dx_dc * dz_dr - dx_dr * dz_dc
    return out
