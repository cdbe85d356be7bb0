"""The inline SVG area plot: frame positions follow time, key frames are marked, bad input is refused."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from dvt_us.service.workspace.area_plot import area_plot_svg

SVG = "{http://www.w3.org/2000/svg}"


def test_frame_positions_follow_time_and_key_frames_are_marked() -> None:
    times = [0.0, 0.1, 0.3, 0.4]
    plot = area_plot_svg(times, [10.0, 8.0, 2.0, 9.0], {"uncompressed": 0, "max_compression": 2, "gone": 7})
    xs = plot.frame_x
    assert xs[0] < xs[1] < xs[2] < xs[3]
    assert (xs[2] - xs[1]) == pytest.approx(2 * (xs[1] - xs[0]), abs=0.02)  # 0.2 s vs 0.1 s
    root = ET.fromstring(str(plot.svg).replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))
    markers = {c.get("data-name"): c for c in root.iter(f"{SVG}circle")}
    assert set(markers) == {"uncompressed", "max_compression"}  # frame 7 is outside the clip
    assert float(markers["max_compression"].get("cx")) == xs[2]
    assert float(markers["max_compression"].get("cy")) > float(markers["uncompressed"].get("cy"))  # smaller area
    cursor = next(line for line in root.iter(f"{SVG}line") if line.get("class") == "area-cursor")
    assert float(cursor.get("x1")) == xs[0]
    assert "px², uncalibrated" in str(area_plot_svg(times, [1.0] * 4, {}, calibrated=False).svg)


def test_bad_curves_are_refused() -> None:
    with pytest.raises(ValueError, match="one area per frame"):
        area_plot_svg([0.0, 0.1], [1.0], {})
    with pytest.raises(ValueError, match="≥ 2 frames"):
        area_plot_svg([0.0], [1.0], {})
