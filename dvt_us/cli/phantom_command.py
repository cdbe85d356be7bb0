"""``dvt-us phantom trial|gallery``: generate synthetic DVT trials (DICOM + truth) and example images."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from dvt_us.phantom.gallery import write_gallery
from dvt_us.phantom.trial import PROTOCOLS, VISITS, plan_trial
from dvt_us.phantom.trial_writer import RenderOptions, write_trial


def _shape(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ROWSxCOLS such as 480x640, got {text!r}") from None
    if not (64 <= rows <= 2048 and 64 <= cols <= 2048):
        raise argparse.ArgumentTypeError(f"image size {text} outside 64..2048 per side")
    return rows, cols


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``trial`` and ``gallery`` sub-commands."""
    sub = parser.add_subparsers(dest="phantom_command", required=True, metavar="WHAT")
    trial = sub.add_parser("trial", help="write a synthetic trial: subjects x visits x both legs",
                           description="Write a synthetic DVT trial to OUT/dicom with its truth in OUT/truth.")
    trial.add_argument("--subjects", type=int, default=2, help="number of subjects (default 2)")
    trial.add_argument("--out", type=Path, required=True, help="output folder (created)")
    trial.add_argument("--seed", type=int, default=0, help="trial seed: same seed, same bytes (default 0)")
    trial.add_argument("--visits", type=int, default=len(VISITS),
                       help=f"first N visits of {', '.join(v.visit for v in VISITS)} (default all)")
    trial.add_argument("--protocol", choices=sorted(PROTOCOLS), default="full",
                       help="clips per leg: full (10 segments) or short (4) (default full)")
    trial.add_argument("--frames", type=int, default=None, help="frames per cine (default: drawn, 20-60)")
    trial.add_argument("--size", type=_shape, default=None, help="tissue image ROWSxCOLS (default: drawn)")
    trial.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)")
    gallery = sub.add_parser("gallery", help="write PNGs of each vein state, with and without truth contours")
    gallery.add_argument("out", type=Path, help="output folder")


def run(args: argparse.Namespace) -> int:
    """Run the chosen phantom sub-command."""
    if args.phantom_command == "gallery":
        write_gallery(args.out)
        Console().print(f"gallery -> {args.out}")
        return 0
    try:
        plan = plan_trial(args.subjects, seed=args.seed, protocol=args.protocol, visits=args.visits)
        options = RenderOptions(shape=args.size, frames=args.frames)
        if args.frames is not None and not 2 <= args.frames <= 400:
            raise ValueError(f"--frames must lie in 2..400, got {args.frames}")
    except ValueError as exc:
        Console(stderr=True).print(f"dvt-us phantom trial: {exc}")
        return 2
    err = Console(stderr=True)
    with Progress(TextColumn("simulating clips"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=err, disable=not err.is_terminal) as progress:
        task = progress.add_task("clips", total=len(plan.clips))
        truth = write_trial(plan, args.out, options, jobs=args.jobs,
                            progress=lambda done, total: progress.update(task, completed=done, total=total))
    Console().print(f"{len(plan.subjects)} subjects, {len(plan.clips)} clips -> {args.out / 'dicom'}; truth: {truth}")
    return 0
