"""Figures of the human report: key frames with mask overlays (PNG via OpenCV) and small plots (matplotlib).

Key frames are the tissue-region crops that ``dvt-us analyze`` stored (:class:`~dvt_us.report.visit_folder.KeyFrames`);
annotation space never reaches this module, so nothing here can show burned-in text. Plots use matplotlib's
object API (``Figure`` + Agg canvas) and no pyplot state, so rendering is thread-safe and deterministic
(PNG written without a ``Software`` or date entry).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import NDArray

from dvt_us.report.labels import LABEL_NAMES, LABEL_RGB, RGB
from dvt_us.report.visit_folder import KeyFrames

__all__ = ["LABEL_NAMES", "LABEL_RGB"]

FILL_ALPHA = 0.4
"""Opacity of the translucent label fill over the B-mode grey."""
FLOW_POSITIVE_RGB: RGB = (230, 30, 30)
FLOW_NEGATIVE_RGB: RGB = (30, 80, 235)
SCALE_BAR_RGB: RGB = (255, 255, 255)
MAX_SIDE_PX = 360
"""Key frames larger than this (rows or cols) are downsampled before drawing, to keep the report small."""
MIN_SIDE_PX = 240
"""Key frames smaller than this (both rows and cols) are upsampled by a whole factor, so that outlines and
the scale bar's label stay legible."""
_BAR_CHOICES_MM = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
_BAR_THICKNESS_PX = 3
_BAR_MARGIN_PX = 8


@dataclass(frozen=True)
class ScaleBar:
    """A horizontal scale bar: ``length_mm`` millimetres drawn as ``length_px`` image columns."""

    length_mm: float
    length_px: int


@dataclass(frozen=True)
class KeyFrameFigure:
    """One key frame drawn for the report.

    ``pixel_mm`` is the (row, col) size of one pixel of ``png`` in millimetres after any downsampling,
    ``None`` when the clip is uncalibrated (then ``scale_bar`` is ``None`` too).
    """

    name: str
    frame: int
    """0-based frame index in the clip (DICOM frame number − 1)."""
    png: bytes
    rows: int
    cols: int
    pixel_mm: tuple[float, float] | None
    scale_bar: ScaleBar | None

    def fit_mm(self, width_mm: float, height_mm: float) -> tuple[float, float]:
        """Display (width, height) in mm of the image scaled to fit a ``width_mm`` × ``height_mm`` box."""
        scale = min(width_mm / self.cols, height_mm / self.rows)
        return round(self.cols * scale, 2), round(self.rows * scale, 2)

    @property
    def data_uri(self) -> str:
        """The PNG as a ``data:`` URI for an ``<img src>``."""
        return png_data_uri(self.png)


def png_data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,…`` URI of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def encode_png(rgb: NDArray[np.uint8]) -> bytes:
    """PNG bytes of an RGB uint8 image ``[rows, cols, 3]`` (no metadata, so identical input gives identical bytes)."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise ValueError(f"PNG encoding failed for an image of shape {rgb.shape}")
    return bytes(buf.tobytes())


def choose_scale_bar(cols: int, col_spacing_mm: float) -> ScaleBar:
    """The longest round scale bar (1, 2, 5, 10 … mm) no longer than a third of the image width.

    Parameters
    ----------
    cols
        Image width in pixels.
    col_spacing_mm
        Width of one pixel in millimetres (column spacing).

    Returns
    -------
    ScaleBar
        ``length_px = round(length_mm / col_spacing_mm)``; at least the 1 mm bar.
    """
    if col_spacing_mm <= 0 or not math.isfinite(col_spacing_mm):
        raise ValueError(f"pixel spacing must be a positive number of mm, got {col_spacing_mm!r}")
    fitting = [mm for mm in _BAR_CHOICES_MM if mm / col_spacing_mm <= cols / 3]
    mm = fitting[-1] if fitting else _BAR_CHOICES_MM[0]
    return ScaleBar(mm, round(mm / col_spacing_mm))


def draw_scale_bar(rgb: NDArray[np.uint8], bar: ScaleBar) -> None:
    """Draw ``bar`` in place at the bottom left of ``rgb``: a white bar with a dark outline and its length in mm."""
    rows = rgb.shape[0]
    x0, y1 = _BAR_MARGIN_PX, rows - _BAR_MARGIN_PX
    y0, x1 = y1 - _BAR_THICKNESS_PX, x0 + bar.length_px
    cv2.rectangle(rgb, (x0 - 1, y0 - 1), (x1, y1), (0, 0, 0), 1)
    rgb[y0:y1, x0:x1] = SCALE_BAR_RGB
    text = f"{bar.length_mm:g} mm"
    org = (x0, y0 - 6)
    scale = 0.45 if rgb.shape[1] < 300 else 0.65
    cv2.putText(rgb, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 2, cv2.LINE_AA)
    cv2.putText(rgb, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, SCALE_BAR_RGB, 1, cv2.LINE_AA)


def overlay_labels(bmode: NDArray[np.uint8], labels: NDArray[np.uint8], *, fill: bool = True) -> NDArray[np.uint8]:
    """RGB image of a grey B-mode frame with each label filled translucently and outlined in its colour.

    Parameters
    ----------
    bmode
        uint8 luminance ``[rows, cols]``.
    labels
        uint8 labels ``[rows, cols]`` on the same grid: 0 background, 1 vein lumen, 2 thrombus, 3 artery.
    fill
        Whether to fill the labels (opacity :data:`FILL_ALPHA`); outlines are always drawn.

    Returns
    -------
    numpy.ndarray
        uint8 RGB ``[rows, cols, 3]``.
    """
    if bmode.shape != labels.shape:
        raise ValueError(f"B-mode {bmode.shape} and labels {labels.shape} differ in shape")
    rgb = np.repeat(bmode[:, :, None], 3, axis=2).astype(np.float32)
    if fill:
        for label, colour in LABEL_RGB.items():
            inside = labels == label
            rgb[inside] = (1 - FILL_ALPHA) * rgb[inside] + FILL_ALPHA * np.array(colour, np.float32)
    out = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    draw_outlines(out, labels)
    return out


def draw_outlines(rgb: NDArray[np.uint8], labels: NDArray[np.uint8]) -> None:
    """Outline each label of ``labels`` (``[rows, cols]``) in place on ``rgb`` in its colour, 1 pixel wide."""
    for label, colour in LABEL_RGB.items():
        mask = (labels == label).astype(np.uint8)
        if mask.any():
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(rgb, contours, -1, colour, 1)


def overlay_flow(bmode: NDArray[np.uint8], colour_flow: NDArray[np.float32]) -> NDArray[np.uint8]:
    """RGB image of a grey B-mode frame with colour flow drawn red (towards, > 0) and blue (away, < 0).

    ``colour_flow`` is float ``[rows, cols]`` in [-1, 1]; 0 where there is no colour. The colour is blended
    with the grey in proportion to the flow magnitude (at least half opaque where there is flow).
    """
    if bmode.shape != colour_flow.shape:
        raise ValueError(f"B-mode {bmode.shape} and colour flow {colour_flow.shape} differ in shape")
    rgb = np.repeat(bmode[:, :, None], 3, axis=2).astype(np.float32)
    weight = np.where(colour_flow != 0, 0.5 + 0.5 * np.clip(np.abs(colour_flow), 0, 1), 0.0)[:, :, None]
    colour = np.where(colour_flow[:, :, None] > 0, np.array(FLOW_POSITIVE_RGB, np.float32),
                      np.array(FLOW_NEGATIVE_RGB, np.float32))
    out: NDArray[np.uint8] = np.clip(np.rint((1 - weight) * rgb + weight * colour), 0, 255).astype(np.uint8)
    return out


def _fit(image: NDArray, scale: float, interpolation: int) -> NDArray:
    if scale == 1.0:
        return image
    if scale > 1.0:  # a whole factor: pixel (r, c) becomes the k × k block at (k r, k c)
        k = round(scale)
        return np.repeat(np.repeat(image, k, axis=0), k, axis=1) if interpolation == cv2.INTER_NEAREST \
            else np.asarray(cv2.resize(image, (image.shape[1] * k, image.shape[0] * k), interpolation=interpolation))
    rows, cols = image.shape[:2]
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    return np.asarray(cv2.resize(image, size, interpolation=interpolation))


def display_scale(rows: int, cols: int, max_side: int = MAX_SIDE_PX, min_side: int = MIN_SIDE_PX) -> float:
    """Resampling factor of a key frame of ``rows`` × ``cols`` pixels.

    Below 1 to fit ``max_side``, a whole factor above 1 to reach ``min_side``, else 1.
    """
    longest = max(rows, cols)
    if longest > max_side:
        return max_side / longest
    if longest < min_side:
        return float(math.ceil(min_side / longest))
    return 1.0


def key_frame_figure(key: KeyFrames, masks: NDArray[np.uint8], name: str, *, max_side: int = MAX_SIDE_PX,
                     min_side: int = MIN_SIDE_PX) -> KeyFrameFigure:
    """Draw key frame ``name`` of a clip with its mask overlay, colour flow (if any) and a mm scale bar.

    Parameters
    ----------
    key
        The clip's stored key frames (tissue-region crops only).
    masks
        uint8 labels ``[frames, rows, cols]`` of the clip in the source pixel grid.
    name
        ``uncompressed``, ``max_compression`` or ``flow``. A ``flow`` frame shows the colour flow over the
        grey and only the outlines of the labels, so that the colours of flow stay readable.
    max_side, min_side
        Largest and smallest rows/cols of the drawn image in pixels: bigger crops are downsampled (area
        averaging for the image, nearest neighbour for the labels), smaller ones upsampled by a whole factor
        (cubic for the image, pixel replication for the labels); the pixel size in mm is scaled accordingly.

    Returns
    -------
    KeyFrameFigure
        The PNG, its size, its pixel size in mm and the scale bar drawn (``None`` when uncalibrated).
    """
    i = key.index(name)
    bmode = key.bmode[i]
    labels = np.zeros_like(bmode)
    crop = key.mask_crop(masks, name)
    r, c = min(crop.shape[0], bmode.shape[0]), min(crop.shape[1], bmode.shape[1])
    labels[:r, :c] = crop[:r, :c]
    flow = key.colour_flow[i] if key.colour_flow is not None else None
    rows0, cols0 = bmode.shape
    scale = display_scale(rows0, cols0, max_side, min_side)
    bmode = _fit(bmode, scale, cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    labels = _fit(labels, scale, cv2.INTER_NEAREST)
    if flow is not None and np.any(flow):
        flow = _fit(flow, scale, cv2.INTER_NEAREST)
        rgb = overlay_flow(bmode, flow)
        draw_outlines(rgb, labels)
    else:
        rgb = overlay_labels(bmode, labels)
    rows, cols = bmode.shape
    pixel_mm: tuple[float, float] | None = None
    bar: ScaleBar | None = None
    spacing = key.spacing_of(name)
    if spacing is not None:
        pixel_mm = (spacing[0] * rows0 / rows, spacing[1] * cols0 / cols)
        bar = choose_scale_bar(cols, pixel_mm[1])
        draw_scale_bar(rgb, bar)
    return KeyFrameFigure(name, key.frames[i], encode_png(rgb), rows, cols, pixel_mm, bar)


# ---------------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------------

_PLOT_DPI = 200
_FONT_PT = 7


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_PLOT_DPI, metadata={"Software": None})
    return buf.getvalue()


def area_plot_png(times_s: Sequence[float], area_mm2: Sequence[float], key_frames: Mapping[str, int], *,
                  calibrated: bool = True) -> bytes:
    """PNG of the vein area over time of one clip, with the key frames marked.

    Parameters
    ----------
    times_s
        Time of each frame from the start of the clip, in seconds.
    area_mm2
        Vein cross-section area per frame in mm² (in pixels² when the clip is uncalibrated).
    key_frames
        Key-frame name → 0-based frame index, e.g. ``{"uncompressed": 3, "max_compression": 16}``.
    calibrated
        Whether ``area_mm2`` is in mm²; otherwise the axis says pixels², uncalibrated.
    """
    n = min(len(times_s), len(area_mm2))
    if n == 0:
        raise ValueError("no frames to plot")
    fig = Figure(figsize=(3.3, 1.55))
    ax = fig.add_subplot()
    ax.plot(times_s[:n], area_mm2[:n], color="#0072B2", linewidth=1.2)
    styles = {"uncompressed": ("#009E73", "o"), "max_compression": ("#D55E00", "v")}
    for name, frame in key_frames.items():
        if 0 <= frame < n:
            colour, marker = styles.get(name, ("#000000", "s"))
            ax.plot([times_s[frame]], [area_mm2[frame]], marker=marker, color=colour, linestyle="none",
                    markersize=5, label=name.replace("_", " "))
    ax.set_xlabel("time (s)", fontsize=_FONT_PT)
    ax.set_ylabel("vein area (mm²)" if calibrated else "vein area (px², uncalibrated)", fontsize=_FONT_PT)
    ax.tick_params(labelsize=_FONT_PT - 1)
    ax.set_ylim(bottom=0)
    ax.grid(True, linewidth=0.3, alpha=0.6)
    if key_frames:
        ax.legend(fontsize=_FONT_PT - 1, frameon=False, loc="best")
    fig.tight_layout(pad=0.3)
    return _png(fig)


def trajectory_plot_png(visits: Sequence[str], scores: Mapping[str, Sequence[int | None]]) -> bytes:
    """PNG of the thrombus score per leg across the subject's visits (oldest first).

    Parameters
    ----------
    visits
        Visit ids in order (x axis, categorical).
    scores
        Leg label (e.g. ``"right"``) → thrombus score (sum of segment grades) per visit; ``None`` where
        the leg was not reported at that visit.
    """
    fig = Figure(figsize=(3.3, 1.7))
    ax = fig.add_subplot()
    x = list(range(len(visits)))
    styles = [("#0072B2", "o"), ("#D55E00", "s"), ("#009E73", "^")]
    top = 1
    for (label, values), (colour, marker) in zip(sorted(scores.items()), styles * 4, strict=False):
        pts = [(i, v) for i, v in zip(x, values, strict=False) if v is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colour, marker=marker, markersize=4,
                    linewidth=1.2, label=label)
            top = max(top, *(p[1] for p in pts))
    ax.set_xticks(x, list(visits), fontsize=_FONT_PT - 1)
    ax.set_xlim(-0.5, max(len(visits) - 0.5, 0.5))
    ax.set_ylim(-0.3, top + 1)
    ax.tick_params(labelsize=_FONT_PT - 1)
    ax.set_ylabel("thrombus score", fontsize=_FONT_PT)
    ax.set_xlabel("visit", fontsize=_FONT_PT)
    ax.grid(True, linewidth=0.3, alpha=0.6)
    ax.legend(fontsize=_FONT_PT - 1, frameon=False, loc="best")
    fig.tight_layout(pad=0.3)
    return _png(fig)
