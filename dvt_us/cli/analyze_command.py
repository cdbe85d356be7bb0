"""``dvt-us analyze INPUT… --out DIR``: the main job — findings and masks per subject and visit."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from dvt_us.cli.progress import progress_bars
from dvt_us.inference import DEFAULT_MODELS_DIR, ModelError, ModelRegistry, SessionOptions
from dvt_us.pipeline.workers import start_worker_server

if TYPE_CHECKING:
    from dvt_us.pipeline.visit_report import VisitFindings


def register(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``analyze``."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="DICOM files, folders or .zip archives")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR, help="models folder (default: models/)")
    parser.add_argument("--trial", type=Path, default=None, help="trial config YAML (default: DEFIANCE-like)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--cpu", action="store_true", help="do not use the CUDA execution provider")
    parser.add_argument("--json-only", action="store_true",
                        help="write report.json, masks and key frames only; `dvt-us report` renders the rest later")


def _summary(findings: list[VisitFindings]) -> Table:
    table = Table(header_style="bold")
    for name in ("subject", "visit", "leg", "score", "involved", "most proximal", "Δ vs baseline", "flagged"):
        table.add_column(name)
    for f in findings:
        for leg in f.legs:
            change = next((c for c in f.change if c.side is leg.side), None)
            flagged = sum(s.flagged for s in f.segments if s.side is leg.side)
            table.add_row(f.subject, f.visit, leg.side.value, str(leg.thrombus_score),
                          " ".join(s.value for s in leg.involved) or "-",
                          leg.most_proximal.value if leg.most_proximal else "-",
                          f"{change.score_change:+d}" if change else "", str(flagged))
    return table


def run(args: argparse.Namespace) -> int:
    """Analyse; exit 2 on a usage or model error."""
    jobs = max(1, min(args.jobs, os.cpu_count() or 1))
    # The worker processes' fork server imports the clip analysis while this process imports the pipeline
    # and report stacks (about 1.3 s): both are loaded by the time the first clip is handed out.
    start_worker_server(jobs)
    from dvt_us.pipeline.analyze import AnalyzeOptions, analyze  # noqa: PLC0415 - after the server started
    from dvt_us.pipeline.clip_analysis import ModelSet  # noqa: PLC0415
    from dvt_us.pipeline.trial_config import DEFAULT_TRIAL, load_trial_config  # noqa: PLC0415

    err = Console(stderr=True)
    try:
        registry = ModelRegistry(args.models)
        models = ModelSet(registry.get("vein-seg"), registry.get("compressibility"),
                          SessionOptions(use_cuda=not args.cpu))
        trial = load_trial_config(args.trial) if args.trial else DEFAULT_TRIAL
    except (ModelError, ValueError) as exc:
        err.print(f"dvt-us analyze: {exc}")
        return 2
    with progress_bars() as update:
        findings = analyze(args.inputs, AnalyzeOptions(args.out, models, trial, jobs, render=not args.json_only),
                           progress=update)
    Console().print(_summary(findings))
    Console().print(f"{len(findings)} visit reports -> {args.out}")
    return 0
