"""B-mode image formation: a convolution model in complex baseband (IQ).

Each scatterer at depth ``z`` contributes ``a·exp(−i·2k₀z)`` to the simulation cell it falls in (``k₀``
the wavenumber at the centre frequency); the cell field is then convolved with the pulse-echo point
spread function: a real Gaussian envelope along depth (set by the two-way bandwidth) and, across, a
Gaussian beam whose width grows away from the transmit focus, plus a weak wide component standing for
side lobes. Then frequency-dependent attenuation along each column (so bone and calcium shadow and blood
enhances), a probe-fixed clutter/reverberation field, electronic noise, envelope detection (``|IQ|``),
time-gain compensation, log compression with the scanner's dynamic range, gain and grey map, and
resampling to the output pixel grid.

Axis order everywhere: ``[rows (depth), cols (lateral)]``; depth 0 is the probe face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.fft

SPEED_OF_SOUND_MM_US = 1.54
_MAX_SIM_ROWS = 720
_MAX_SIM_COLS = 480


@dataclass(frozen=True)
class Imaging:
    """Scanner settings for one clip. Attenuation is round trip; levels in dB are re muscle speckle RMS."""

    center_frequency_mhz: float
    fractional_bandwidth: float
    """Two-way −6 dB bandwidth over centre frequency."""
    f_number: float
    """Lateral FWHM at the focus is ``wavelength × f_number``."""
    focus_depth_mm: float
    depth_of_field_mm: float
    """Distance from the focus over which the beam widens by √2."""
    depth_mm: float
    width_mm: float
    spacing_mm: float
    """Output pixel size (isotropic), mm per pixel."""
    frame_rate_hz: float
    attenuation_db_cm_mhz: float
    tgc_compensation: float
    """Fraction of the nominal soft-tissue attenuation undone by TGC."""
    tgc_sliders_db: tuple[float, ...]
    """Extra TGC gain at evenly spaced depths from 0 to ``depth_mm``."""
    dynamic_range_db: float
    gain_db: float
    noise_db: float
    sidelobe_db: float
    """Peak of the wide (4σ) lateral PSF component relative to the main lobe."""
    clutter_db: float
    reverberation_db: float
    gamma: float
    speckle_reduction: float
    """0 … 1 blend towards a median-filtered image."""
    persistence: float
    """0 … <1 weight of the previous displayed frame."""

    def __post_init__(self) -> None:
        if not 1.0 <= self.center_frequency_mhz <= 20.0:
            raise ValueError(f"center_frequency_mhz {self.center_frequency_mhz} outside 1–20")
        if not 0.02 <= self.spacing_mm <= 1.0:
            raise ValueError(f"spacing_mm {self.spacing_mm} outside 0.02–1.0")
        if not 0.0 <= self.persistence < 1.0 or not 0.0 <= self.speckle_reduction <= 1.0:
            raise ValueError("persistence must lie in [0, 1) and speckle_reduction in [0, 1]")
        if self.dynamic_range_db <= 0 or self.frame_rate_hz <= 0:
            raise ValueError("dynamic_range_db and frame_rate_hz must be positive")

    @property
    def rows(self) -> int:
        """Output image rows (depth)."""
        return round(self.depth_mm / self.spacing_mm)

    @property
    def cols(self) -> int:
        """Output image columns (lateral)."""
        return round(self.width_mm / self.spacing_mm)

    @property
    def wavelength_mm(self) -> float:
        """Wavelength at the centre frequency, mm."""
        return SPEED_OF_SOUND_MM_US / self.center_frequency_mhz


def axial_sigma_mm(im: Imaging) -> float:
    """Standard deviation of the Gaussian pulse-echo envelope along depth, mm."""
    sigma_f = im.fractional_bandwidth * im.center_frequency_mhz / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    return SPEED_OF_SOUND_MM_US / (2.0 * math.pi * sigma_f) / 2.0


def lateral_sigma_mm(im: Imaging, depth_mm: np.ndarray) -> np.ndarray:
    """Standard deviation of the Gaussian beam across, mm, at each depth (narrowest at the focus)."""
    s0 = im.wavelength_mm * im.f_number / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    return s0 * np.sqrt(1.0 + ((depth_mm - im.focus_depth_mm) / im.depth_of_field_mm) ** 2)


@dataclass(frozen=True)
class SimGrid:
    """The simulation grid in current mm.

    Cell ``[i, j]`` spans depth ``[i·dz, (i+1)·dz)`` and lateral ``[j·dx, (j+1)·dx)``.
    """

    rows: int
    cols: int
    dz_mm: float
    dx_mm: float


def sim_grid(im: Imaging) -> SimGrid:
    """Cells about one axial σ deep and one focal lateral σ wide (capped for speed)."""
    dz = max(1.1 * axial_sigma_mm(im), im.depth_mm / _MAX_SIM_ROWS)
    dx = max(float(lateral_sigma_mm(im, np.array(im.focus_depth_mm))), im.width_mm / _MAX_SIM_COLS)
    rows, cols = math.ceil(im.depth_mm / dz), math.ceil(im.width_mm / dx)
    return SimGrid(rows, cols, im.depth_mm / rows, im.width_mm / cols)


@dataclass(frozen=True)
class Beam:
    """Precomputed point-spread function on a :class:`SimGrid`."""

    lateral_transfer: np.ndarray
    """float32 ``[rows, fft_cols]``: per-depth lateral transfer function (FFT along columns)."""
    fft_cols: int
    axial_kernel: np.ndarray
    """float32 ``[taps]``: Gaussian envelope along depth, peak 1."""
    reference_rms: float
    """Speckle RMS of unit-amplitude diffuse scatterers at the focus (the 0 dB of every level)."""


def make_beam(im: Imaging, grid: SimGrid) -> Beam:
    """The depth-dependent PSF, with a wide side-lobe component at ``sidelobe_db``."""
    z = (np.arange(grid.rows) + 0.5) * grid.dz_mm
    sig = lateral_sigma_mm(im, z)
    sig0 = float(lateral_sigma_mm(im, np.array(im.focus_depth_mm)))
    n = scipy.fft.next_fast_len(grid.cols + int(8 * 4 * sig.max() / grid.dx_mm) + 1)
    k = scipy.fft.fftfreq(n, d=grid.dx_mm)
    main = np.exp(-2.0 * (math.pi * sig[:, None] * k[None, :]) ** 2)
    side = np.exp(-2.0 * (math.pi * 4.0 * sig[:, None] * k[None, :]) ** 2)
    eps = 10.0 ** (im.sidelobe_db / 20.0)
    # Peak-1 Gaussians in space; scaled so that speckle power is mildly higher in the focal zone.
    transfer = (sig[:, None] * main + eps * 4.0 * sig[:, None] * side) * math.sqrt(2 * math.pi) / grid.dx_mm
    transfer *= ((sig0 / sig) ** 0.75)[:, None]
    sz = axial_sigma_mm(im)
    half = max(1, math.ceil(3.0 * sz / grid.dz_mm))
    taps = np.exp(-0.5 * ((np.arange(-half, half + 1) * grid.dz_mm) / sz) ** 2).astype(np.float32)
    rms = math.sqrt((sig0 * math.sqrt(math.pi) / grid.dx_mm) * float((taps**2).sum()))
    return Beam(transfer.astype(np.float32), n, taps, rms)


def splat(x_mm: np.ndarray, depth_mm: np.ndarray, weights: tuple[np.ndarray, np.ndarray],
          grid: SimGrid) -> tuple[np.ndarray, np.ndarray]:
    """Sum the complex weights ``(real, imag)`` of points into their cells.

    Returns the complex64 ``[rows, cols]`` cell field and the flat cell index of each point (``-1`` outside).
    """
    iz = (depth_mm * np.float32(1.0 / grid.dz_mm)).astype(np.int32)
    ix = (x_mm * np.float32(1.0 / grid.dx_mm)).astype(np.int32)
    inside = (depth_mm >= 0) & (iz < grid.rows) & (x_mm >= 0) & (ix < grid.cols)
    flat = np.where(inside, iz * grid.cols + ix, -1)
    sel = flat[inside]
    size = grid.rows * grid.cols
    re = np.bincount(sel, weights=weights[0][inside], minlength=size)
    im = np.bincount(sel, weights=weights[1][inside], minlength=size)
    field = np.empty(size, np.complex64)
    field.real, field.imag = re, im
    return field.reshape(grid.rows, grid.cols), flat


def scatter_weights(im: Imaging, depth_mm: np.ndarray, amplitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Baseband contribution ``amplitude·exp(−i·2k₀·depth)`` of each scatterer, as float32 (real, imag)."""
    theta = depth_mm.astype(np.float32) * np.float32(4.0 * math.pi / im.wavelength_mm)
    c, s = np.cos(theta), np.sin(theta)
    ar, ai = amplitude.real, amplitude.imag
    return ar * c + ai * s, ai * c - ar * s


def apply_psf(field: np.ndarray, beam: Beam) -> np.ndarray:
    """Convolve a complex64 ``[rows, cols]`` cell field with the PSF (FFT across, FIR along depth)."""
    cols = field.shape[1]
    spec = scipy.fft.fft(field, n=beam.fft_cols, axis=1, workers=1)
    spec *= beam.lateral_transfer
    lat = scipy.fft.ifft(spec, axis=1, workers=1)[:, :cols].astype(np.complex64)
    flat = lat.view(np.float32)  # [rows, 2·cols] interleaved re/im: columns are independent along depth
    out = cv2.filter2D(flat, -1, beam.axial_kernel.reshape(-1, 1), borderType=cv2.BORDER_CONSTANT)
    return np.ascontiguousarray(out).view(np.complex64)


def attenuation_gain(im: Imaging, att_sum: np.ndarray, counts: np.ndarray, grid: SimGrid) -> np.ndarray:
    """Round-trip amplitude transmission to each cell, float32 ``[rows, cols]``.

    ``att_sum`` and ``counts`` are per-cell sums of the scatterers' relative attenuation and their number;
    empty cells count as soft tissue.
    """
    rel = np.where(counts > 0, att_sum / np.maximum(counts, 1), 1.0).astype(np.float32)
    rel = np.asarray(cv2.blur(rel, (3, 3)), np.float32)
    db_per_mm = im.attenuation_db_cm_mhz * im.center_frequency_mhz / 10.0
    path = np.cumsum(rel, axis=0) * grid.dz_mm
    gain: np.ndarray = np.power(10.0, -db_per_mm * path / 20.0).astype(np.float32)
    return gain


def tgc_gain(im: Imaging, grid: SimGrid) -> np.ndarray:
    """TGC amplitude gain per sim row, float32 ``[rows]``."""
    z = (np.arange(grid.rows) + 0.5) * grid.dz_mm
    nominal = im.tgc_compensation * im.attenuation_db_cm_mhz * im.center_frequency_mhz * z / 10.0
    knots = np.linspace(0.0, im.depth_mm, len(im.tgc_sliders_db))
    sliders = np.interp(z, knots, np.asarray(im.tgc_sliders_db)) if im.tgc_sliders_db else 0.0 * z
    return np.power(10.0, (nominal + sliders) / 20.0).astype(np.float32)


def clutter_field(im: Imaging, grid: SimGrid, beam: Beam, skin_echo_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Probe-fixed haze: side-lobe/off-axis clutter and near-field reverberation bands, complex64."""
    z = (np.arange(grid.rows) + 0.5) * grid.dz_mm
    level_db = np.full(grid.rows, im.clutter_db)
    reverb = 10 ** (im.reverberation_db / 20.0) * np.exp(-z / rng.uniform(4.0, 12.0))
    for k in (2, 3, 4):  # multiples of a strong shallow echo
        reverb += 10 ** ((im.reverberation_db - 5.0 * k) / 20.0) * np.exp(-0.5 * ((z - k * skin_echo_mm) / 0.3) ** 2)
    amp = 10 ** (level_db / 20.0) + reverb
    noise = rng.standard_normal((grid.rows, grid.cols), dtype=np.float32) + 1j * rng.standard_normal(
        (grid.rows, grid.cols), dtype=np.float32)
    field = apply_psf(noise.astype(np.complex64) / math.sqrt(2.0), beam)
    out: np.ndarray = (field * amp[:, None].astype(np.float32)).astype(np.complex64)
    return out


def to_gray(envelope: np.ndarray, im: Imaging, beam: Beam, shape: tuple[int, int]) -> np.ndarray:
    """Log-compress a TGC'd envelope (sim grid) and resample it to the output grid: float32 0–255."""
    level = 20.0 * np.log10(np.maximum(envelope, 1e-12) / beam.reference_rms)
    top = 0.6 * im.dynamic_range_db - im.gain_db
    y = np.clip((level - (top - im.dynamic_range_db)) / im.dynamic_range_db, 0.0, 1.0).astype(np.float32)
    y = np.power(y, im.gamma, dtype=np.float32)
    down = shape[0] < y.shape[0] or shape[1] < y.shape[1]
    out = cv2.resize(y, (shape[1], shape[0]), interpolation=cv2.INTER_AREA if down else cv2.INTER_LINEAR)
    return np.asarray(out, np.float32) * np.float32(255.0)


def post_process(gray: np.ndarray, previous: np.ndarray | None, im: Imaging) -> np.ndarray:
    """Speckle reduction and persistence on a float32 0–255 frame; returns float32."""
    if im.speckle_reduction > 0:
        med = cv2.medianBlur(np.clip(gray, 0, 255).astype(np.uint8), 5).astype(np.float32)
        gray = (1.0 - im.speckle_reduction) * gray + im.speckle_reduction * med
    if previous is not None and im.persistence > 0:
        gray = (1.0 - im.persistence) * gray + im.persistence * previous
    return gray
