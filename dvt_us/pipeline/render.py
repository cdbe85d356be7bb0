"""Render the reports of every visit folder of a run, in parallel: what ``analyze`` ends with and ``report`` redoes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dvt_us.pipeline.workers import ProgressCallback, map_in_workers
from dvt_us.report.visit_folder import VisitFolder, visit_folders
from dvt_us.report.visit_outputs import VisitOutputs, write_visit_outputs


def _render(path: Path) -> VisitOutputs:
    return write_visit_outputs(VisitFolder.open(path))


def render_visits(visits: Sequence[VisitFolder], jobs: int = 1,
                  progress: ProgressCallback | None = None) -> list[VisitOutputs]:
    """Write HTML/PDF, SR, SEG and encapsulated PDF for each visit folder (``jobs`` worker processes)."""
    return map_in_workers(_render, [v.path for v in visits], jobs, "reports", progress)


def render_run(run_dir: Path, jobs: int = 1, progress: ProgressCallback | None = None) -> list[VisitOutputs]:
    """Render every ``RUN_DIR/<subject>/<visit>/`` folder; raises ``FileNotFoundError`` when there is none."""
    visits = visit_folders(run_dir)
    if not visits:
        raise FileNotFoundError(f"{run_dir}: no <subject>/<visit>/report.json (not a dvt-us analyze output folder)")
    return render_visits(visits, jobs, progress)
