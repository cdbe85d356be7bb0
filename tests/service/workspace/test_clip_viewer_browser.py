"""The clip viewer in a real browser (Debian's chromium) against the app on a real uvicorn server."""

from __future__ import annotations

import json

from tests.service.workspace.harness import WatchedPage, canvas_pixels, open_viewer


def _shown(page, clip: int, value: str) -> None:
    page.wait_for_function(f"() => document.querySelector('#clip-{clip}').dataset.shown === '{value}'")


def _cine(page) -> int:
    """Index of the first player with more than one frame."""
    data = json.loads(page.text_content("#clip-viewer-data"))
    return next(i for i, c in enumerate(data["clips"]) if c["frames"] > 1)


def test_scrubbing_changes_the_frame_and_moves_the_area_cursor(watched: WatchedPage, live_workspace: str) -> None:
    page = open_viewer(watched, live_workspace)
    i = _cine(page)
    first = canvas_pixels(page, i)
    data = json.loads(page.text_content("#clip-viewer-data"))["clips"][i]
    cursor = page.locator(f"#clip-{i} line.area-cursor")
    assert float(cursor.get_attribute("x1")) == data["frame_x"][0]

    page.locator(f"#clip-{i} input.scrubber").fill("5")
    _shown(page, i, "5:0")
    assert canvas_pixels(page, i)["hash"] != first["hash"]
    assert page.text_content(f"#clip-{i} output.frame-label") == f"frame 6 / {data['frames']}"
    assert float(cursor.get_attribute("x1")) == data["frame_x"][5] > data["frame_x"][0]

    page.locator(f"#clip-{i} input.scrubber").fill("0")
    _shown(page, i, "0:0")
    assert canvas_pixels(page, i)["hash"] == first["hash"]


def test_overlay_toggle_changes_the_pixels_of_the_displayed_frame(watched: WatchedPage, live_workspace: str) -> None:
    page = open_viewer(watched, live_workspace)
    i = _cine(page)
    plain = canvas_pixels(page, i)
    assert plain["coloured"] == 0  # B-mode grey: every pixel has R = G = B

    page.locator(f"#clip-{i} input.overlay").check()
    _shown(page, i, "0:1")
    over = canvas_pixels(page, i)
    assert over["coloured"] > 100 and over["hash"] != plain["hash"]

    page.locator(f"#clip-{i} input.overlay").uncheck()
    _shown(page, i, "0:0")
    assert canvas_pixels(page, i) == plain


def test_keyboard_shortcuts(watched: WatchedPage, live_workspace: str) -> None:
    page = open_viewer(watched, live_workspace)
    players = page.locator(".clip-player")
    i = _cine(page)
    for _ in range(i):
        page.keyboard.press("]")
    assert "active" in (page.get_attribute(f"#clip-{i}", "class") or "")
    frames = int(page.get_attribute(f"#clip-{i} input.scrubber", "max")) + 1

    page.keyboard.press("ArrowRight")
    _shown(page, i, "1:0")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    _shown(page, i, f"{frames - 1}:0")  # steps wrap around

    page.keyboard.press("o")
    _shown(page, i, f"{frames - 1}:1")
    assert canvas_pixels(page, i)["coloured"] > 0
    page.keyboard.press("O")
    _shown(page, i, f"{frames - 1}:0")

    page.keyboard.press(" ")
    assert page.get_attribute(f"#clip-{i}", "data-playing") == "true"
    page.wait_for_function(f"() => ['1:0', '2:0', '3:0'].includes(document.querySelector('#clip-{i}').dataset.shown)")
    page.keyboard.press(" ")
    assert page.get_attribute(f"#clip-{i}", "data-playing") == "false"

    page.keyboard.press("]")
    assert "active" in (page.get_attribute(f"#clip-{(i + 1) % players.count()}", "class") or "")
    page.keyboard.press("[")
    assert "active" in (page.get_attribute(f"#clip-{i}", "class") or "")

    dialog = page.locator(".shortcuts")
    assert not dialog.is_visible()
    page.keyboard.press("?")
    assert dialog.is_visible() and "play / pause" in dialog.inner_text()
    page.keyboard.press("Escape")
    assert not dialog.is_visible()


def test_key_frame_markers_and_leg_diagram_navigate(watched: WatchedPage, live_workspace: str) -> None:
    page = open_viewer(watched, live_workspace)
    i = _cine(page)
    marker = page.locator(f"#clip-{i} circle.key-frame").last
    frame = marker.get_attribute("data-frame")
    marker.click()
    _shown(page, i, f"{frame}:0")

    last = page.locator(".clip-player").count() - 1
    side = page.get_attribute(f"#clip-{last}", "data-side")
    segment = page.get_attribute(f"#clip-{last}", "data-segment")
    page.locator(f'.leg-diagram g.segment[data-side="{side}"][data-segment="{segment}"]').click()
    target = page.locator(f'.clip-player[data-side="{side}"][data-segment="{segment}"]').first
    assert "active" in (target.get_attribute("class") or "")


def test_no_console_errors_and_no_request_leaves_loopback(watched: WatchedPage, live_workspace: str) -> None:
    page = open_viewer(watched, live_workspace)
    i = _cine(page)
    page.locator(f"#clip-{i} input.overlay").check()
    _shown(page, i, "0:1")
    page.keyboard.press("?")
    page.wait_for_load_state("networkidle")
    assert watched.console_errors == []
    assert watched.outside_requests == []
    assert any(u.endswith("/overlay/0.jpg") for u in watched.requests)
    assert all(u.startswith(live_workspace) for u in watched.requests)
