"""Screenshot of the clip viewer for the docs: ``python -m tests.service.workspace.screenshot [OUT.png]``.

Makes the phantom trial of the report tests (one subject, BASELINE and D10, short protocol), analyses it with
the shipped models, serves the workspace on loopback and photographs the BASELINE viewer in Debian's
chromium with the first cine at its maximal-compression key frame, mask overlay on. Default output:
``docs/workspace/clip-viewer.png``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from dvt_us.inference import DEFAULT_MODELS_DIR, ModelRegistry
from dvt_us.phantom.trial import plan_trial
from dvt_us.phantom.trial_writer import RenderOptions, write_trial
from dvt_us.pipeline.analyze import AnalyzeOptions, analyze
from dvt_us.pipeline.clip_analysis import ModelSet
from dvt_us.pipeline.trial_config import DEFAULT_TRIAL
from tests.service.workspace.harness import chromium, copy_run, mounted_app, open_viewer, serve, watched_page

DEFAULT_OUT = Path("docs/workspace/clip-viewer.png")


def analysed_phantom(folder: Path) -> Path:
    """Write and analyse the report tests' phantom trial under ``folder``; the analyze output folder."""
    write_trial(plan_trial(1, seed=33, protocol="short", visits=2), folder / "trial",
                RenderOptions(shape=(200, 260), frames=10), jobs=2)
    registry = ModelRegistry(DEFAULT_MODELS_DIR)
    models = ModelSet(registry.get("vein-seg"), registry.get("compressibility"))
    analyze([folder / "trial" / "dicom"], AnalyzeOptions(folder / "run", models, DEFAULT_TRIAL, jobs=2, render=False))
    return folder / "run"


def take_screenshot(out: Path) -> Path:
    """Write the PNG to ``out``; raises RuntimeError if the page logged an error or reached beyond loopback."""
    with tempfile.TemporaryDirectory(prefix="dvt-us-workspace-") as tmp:
        files = copy_run(analysed_phantom(Path(tmp)), Path(tmp) / "data")
        with serve(mounted_app(files)) as url, chromium() as browser:
            watched = watched_page(browser, width=1280, height=900)
            page = open_viewer(watched, url)
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
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
            if watched.console_errors or watched.outside_requests:
                raise RuntimeError(f"console errors {watched.console_errors}, outside requests "
                                   f"{watched.outside_requests}")
    return out


if __name__ == "__main__":
    print(take_screenshot(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT))
