"""``dvt-us report RUN_DIR``: render HTML/PDF, DICOM SR, SEG and encapsulated PDF again from analyze output."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console

from dvt_us.cli.progress import progress_bars
from dvt_us.pipeline.render import render_run


def register(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``report``."""
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="output folder of dvt-us analyze")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")


def run(args: argparse.Namespace) -> int:
    """Render every visit folder; a folder without report.json is a usage error (exit 2)."""
    jobs = max(1, min(args.jobs, os.cpu_count() or 1))
    with progress_bars() as update:
        outputs = render_run(args.run_dir, jobs, update)
    console = Console()
    for out in outputs:
        written = ", ".join(p.name for p in (out.html, out.pdf, out.pdf_dicom, out.sr) if p is not None)
        console.print(f"{out.html.parent}: {written}, {len(out.segs)} SEG")
        for note in out.skipped:
            console.print(f"  not written: {note}")
    console.print(f"{len(outputs)} visit reports rendered")
    return 0
