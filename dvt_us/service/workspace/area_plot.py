"""The vein area over time of one clip as inline SVG, with the key frames marked and a frame cursor.

Drawn on the server (no plotting library in the browser); the clip viewer's script moves the cursor
(``line.area-cursor``) to ``frame_x[i]`` of the frame on show. Key frames are ``circle.key-frame`` elements
with ``data-frame`` (0-based) and ``data-name``; clicking one shows that frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

WIDTH, HEIGHT = 360, 150
"""viewBox size of the plot."""
_LEFT, _RIGHT, _TOP, _BOTTOM = 46, 10, 10, 30
KEY_FRAME_COLOURS = {"uncompressed": "#009E73", "max_compression": "#D55E00"}
"""Marker colour per key-frame name (as the human report's area plot); other names are black."""
_FONT = 'font-family="DejaVu Sans, sans-serif" font-size="10" fill="#222"'


@dataclass(frozen=True)
class AreaPlot:
    """The plot's markup and the x (viewBox units) of each frame, for the cursor."""

    svg: Markup
    frame_x: tuple[float, ...]


def area_plot_svg(times_s: Sequence[float], area_mm2: Sequence[float], key_frames: Mapping[str, int], *,
                  calibrated: bool = True) -> AreaPlot:
    """Inline SVG of the area per frame against time.

    Parameters
    ----------
    times_s
        Time of each frame from the first, in seconds.
    area_mm2
        Vein area per frame in mm² (pixels² when not ``calibrated``); as many values as ``times_s``.
    key_frames
        Key-frame name → 0-based frame (frames outside the clip are left out).
    calibrated
        Whether the area is in mm²; the axis label says so.
    """
    n = len(times_s)
    if n < 2 or len(area_mm2) != n:
        raise ValueError(f"an area plot needs ≥ 2 frames and one area per frame, got {n} times, {len(area_mm2)} areas")
    t0, t1 = float(times_s[0]), float(times_s[-1])
    span = (t1 - t0) or 1.0
    top = max(*area_mm2, 1e-9) * 1.1
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    xs = tuple(round(_LEFT + (float(t) - t0) / span * plot_w, 2) for t in times_s)

    def y(a: float) -> float:
        return round(_TOP + plot_h * (1 - float(a) / top), 2)

    points = " ".join(f"{x},{y(a)}" for x, a in zip(xs, area_mm2, strict=True))
    unit = "mm²" if calibrated else "px², uncalibrated"
    base = _TOP + plot_h
    parts = [
        f'<rect x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#999"/>',
        f'<text x="{_LEFT - 4}" y="{base}" text-anchor="end" {_FONT}>0</text>',
        f'<text x="{_LEFT - 4}" y="{_TOP + 8}" text-anchor="end" {_FONT}>{top / 1.1:.0f}</text>',
        f'<text x="{_LEFT}" y="{HEIGHT - 16}" text-anchor="middle" {_FONT}>{t0:.2f}</text>',
        f'<text x="{WIDTH - _RIGHT}" y="{HEIGHT - 16}" text-anchor="middle" {_FONT}>{t1:.2f}</text>',
        f'<text x="{_LEFT + plot_w / 2}" y="{HEIGHT - 4}" text-anchor="middle" {_FONT}>time (s)</text>',
        f'<text x="10" y="{_TOP + plot_h / 2}" text-anchor="middle" {_FONT} '
        f'transform="rotate(-90 10 {_TOP + plot_h / 2})">area ({escape(unit)})</text>',
        f'<polyline class="area-line" points="{points}" fill="none" stroke="#0072B2" stroke-width="1.5"/>',
        f'<line class="area-cursor" x1="{xs[0]}" y1="{_TOP}" x2="{xs[0]}" y2="{base}" stroke="#000"'
        ' stroke-width="1" stroke-dasharray="3 2"/>',
    ]
    for name, frame in key_frames.items():
        if 0 <= frame < n:
            colour = KEY_FRAME_COLOURS.get(name, "#000")
            label = f"{name.replace('_', ' ')}: frame {frame + 1}, {float(area_mm2[frame]):.1f} {unit}"
            parts.append(f'<circle class="key-frame" data-frame="{frame}" data-name={quoteattr(name)}'
                         f' cx="{xs[frame]}" cy="{y(area_mm2[frame])}" r="4.5" fill="{colour}" stroke="#fff">'
                         f"<title>{escape(label)}</title></circle>")
    svg = (f'<svg class="area-plot" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
           f' aria-label="Vein area over time">{"".join(parts)}</svg>')
    return AreaPlot(Markup(svg), xs)
