"""Screenshots of the workspace for the docs: ``python -m tests.service.workspace.screenshot [OUT_DIR]``.

Makes the phantom trial of the report tests (one subject, BASELINE and D10, short protocol), analyses it with
the shipped models, serves the workspace on loopback over a fresh review store, and photographs in Debian's
chromium: the clip viewer (first cine at its maximal-compression key frame, mask overlay on), the
adjudicator's worklist after a discordant double read of BASELINE, a reader's review page of D10 with an
override awaiting its reason, the adjudication page, and the audit page after verifying the chain. Default
output folder: ``docs/workspace/``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Browser, Page

from dvt_us.inference import DEFAULT_MODELS_DIR, ModelRegistry
from dvt_us.phantom.trial import plan_trial
from dvt_us.phantom.trial_writer import RenderOptions, write_trial
from dvt_us.pipeline.analyze import AnalyzeOptions, analyze
from dvt_us.pipeline.clip_analysis import ModelSet
from dvt_us.pipeline.trial_config import DEFAULT_TRIAL
from tests.service.workspace.harness import WatchedPage, browser_login, chromium, copy_run, open_viewer, watched_page
from tests.service.workspace.reading_room import (
    ReadingRoom,
    reading_room,
    save,
    set_finding,
    sign,
    start_read,
)

DEFAULT_OUT = Path("docs/workspace")
WIDTH, HEIGHT = 1280, 900


def analysed_phantom(folder: Path) -> Path:
    """Write and analyse the report tests' phantom trial under ``folder``; the analyze output folder."""
    write_trial(plan_trial(1, seed=33, protocol="short", visits=2), folder / "trial",
                RenderOptions(shape=(200, 260), frames=10), jobs=2)
    registry = ModelRegistry(DEFAULT_MODELS_DIR)
    models = ModelSet(registry.get("vein-seg"), registry.get("compressibility"))
    analyze([folder / "trial" / "dicom"], AnalyzeOptions(folder / "run", models, DEFAULT_TRIAL, jobs=2, render=False))
    return folder / "run"


class Session:
    """The pages of one session, each in its own browser context; every page is checked when closed."""

    def __init__(self, browser: Browser, room: ReadingRoom) -> None:
        self.browser, self.room, self.pages = browser, room, list[WatchedPage]()

    def login(self, username: str) -> Page:
        watched = watched_page(self.browser, width=WIDTH, height=HEIGHT)
        self.pages.append(watched)
        return browser_login(watched, self.room.url, username)

    def check(self) -> None:
        for watched in self.pages:
            errors = [e for e in watched.console_errors if not e.startswith("Failed to load resource")]
            if errors or watched.outside_requests:
                raise RuntimeError(f"console errors {errors}, outside requests {watched.outside_requests}")


def _clip_viewer(session: Session, out: Path) -> None:
    watched = watched_page(session.browser, width=WIDTH, height=HEIGHT)
    session.pages.append(watched)
    page = open_viewer(watched, session.room.url)
    cine = page.locator(".clip-player", has=page.locator("circle.key-frame")).first
    index = int(cine.get_attribute("data-clip") or 0)
    for _ in range(index):
        page.keyboard.press("]")
    marker = cine.locator('circle.key-frame[data-name="max_compression"]')
    frame = marker.get_attribute("data-frame")
    marker.click()
    page.keyboard.press("o")
    page.wait_for_function(f"() => document.querySelector('#clip-{index}').dataset.shown === '{frame}:1'")
    cine.scroll_into_view_if_needed()
    page.screenshot(path=str(out / "clip-viewer.png"))


def _first_grade(page: Page) -> tuple[str, str]:
    row = page.locator('tr.finding[data-field="grade"]').first
    return row.get_attribute("data-key") or "", "3" if row.get_attribute("data-model") != "3" else "0"


def take_screenshots(out: Path) -> list[Path]:
    """Write the PNGs into ``out``; raises RuntimeError if a page logged an error or reached beyond loopback."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dvt-us-workspace-") as tmp:
        files = copy_run(analysed_phantom(Path(tmp)), Path(tmp) / "data")
        with reading_room(files, Path(tmp) / "review") as room, chromium() as browser:
            session = Session(browser, room)
            _clip_viewer(session, out)
            baseline, d10 = room.studies[1], room.studies[2]
            ann = session.login("ann")
            start_read(ann, baseline)
            key, other = _first_grade(ann)
            set_finding(ann, key, "grade", other, "occlusive throughout on the long-axis sweep")
            save(ann)
            sign(ann)
            bob = session.login("bob")
            start_read(bob, baseline)
            sign(bob)

            ann.goto(f"{room.url}/worklist")
            start_read(ann, d10)
            key, other = _first_grade(ann)
            set_finding(ann, key, "grade", other, None)
            ann.locator("h1.study-title").click()  # leave the reason field, so that the keys act on the page
            ann.keyboard.press("n")
            ann.evaluate("() => window.scrollTo(0, 0)")
            ann.screenshot(path=str(out / "review.png"))
            ann.evaluate("() => document.getElementById('read-form').scrollIntoView()")
            ann.screenshot(path=str(out / "review-findings.png"))

            ada = session.login("ada")
            ada.screenshot(path=str(out / "worklist.png"))
            ada.goto(f"{room.url}/studies/{baseline}/adjudication")
            with ada.expect_navigation():
                ada.click("#start-adjudication")
            ada.locator('tr.finding[data-discordant="true"]').first.scroll_into_view_if_needed()
            ada.screenshot(path=str(out / "adjudication.png"))

            root = session.login("root")
            root.goto(f"{room.url}/audit")
            root.click("#verify-chain")
            root.locator("#chain-result:not([hidden])").wait_for()
            root.screenshot(path=str(out / "audit.png"))
            session.check()
    return sorted(out.glob("*.png"))


if __name__ == "__main__":
    for written in take_screenshots(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT):
        print(written)
