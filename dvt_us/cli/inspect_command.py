"""``dvt-us inspect PATH…``: what dvt-us reads from a set of files, one row per file, before any analysis."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from dvt_us.ingest import Clip, IngestResult, ProblemCode, ingest


def register(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``inspect``."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="DICOM files, folders (recursive) or .zip archives")
    parser.add_argument("--json", action="store_true", help="print JSON for machines instead of a table")
    parser.add_argument("--ultrasound-only", action="store_true",
                        help="leave files that are not DICOM or not ultrasound out of the listing (still counted)")


@dataclass(frozen=True)
class InspectRow:
    """One line of the inspect table."""

    file: str
    status: str
    sop_instance_uid: str = ""
    subject: str = ""
    visit: str = ""
    side: str = ""
    segment: str = ""
    kind: str = ""
    frames: int = 0
    size: str = ""
    spacing_mm: list[float] | None = None
    encoding: str = ""
    problems: list[str] = field(default_factory=list)


def _clip_row(clip: Clip, status: str = "ok") -> InspectRow:
    spacing = list(clip.spacing_mm) if clip.spacing_mm else None
    views = f" ({len(clip.views)} views)" if len(clip.views) > 1 else ""
    return InspectRow(
        file=clip.source.label,
        status=status,
        sop_instance_uid=clip.sop_instance_uid,
        subject=clip.identity.subject,
        visit=clip.identity.visit,
        side=clip.identity.side.value,
        segment=clip.identity.segment.value,
        kind=clip.kind.value,
        frames=clip.frames,
        size=f"{clip.pixels.rows}x{clip.pixels.columns}{views}",
        spacing_mm=[round(s, 4) for s in spacing] if spacing else None,
        encoding=f"{clip.pixels.encoding} {clip.pixels.photometric_interpretation}",
        problems=[f"{p.code.value}: {p.message}" for p in clip.problems],
    )


def inspect_rows(result: IngestResult, ultrasound_only: bool = False) -> list[InspectRow]:
    """Rows for every file: clips in subject/visit order, then duplicates, rejected and skipped files.

    With ``ultrasound_only``, files that are not DICOM or not ultrasound are left out.
    """
    rows = [_clip_row(c) for c in result.clips]
    rows += [_clip_row(c, status="duplicate") for c in result.duplicates]
    rows += [InspectRow(file=r.source, status="rejected", problems=[f"{r.code.value}: {r.message}"])
             for r in result.rejected if not (ultrasound_only and r.code is ProblemCode.NOT_ULTRASOUND)]
    if not ultrasound_only:
        rows += [InspectRow(file=s.source, status="skipped", problems=[f"{s.code.value}: {s.message}"])
                 for s in result.skipped]
    return rows


def _table(rows: list[InspectRow]) -> Table:
    prefix = os.path.commonpath([r.file for r in rows]) if len(rows) > 1 else ""
    prefix = prefix if prefix and not any(r.file == prefix for r in rows) else ""
    table = Table(show_lines=False, header_style="bold", caption=f"files under {prefix}" if prefix else None)
    for name in ("file", "subject", "visit", "side", "segment", "kind", "frames", "size", "spacing mm",
                 "encoding", "problems"):
        table.add_column(name, overflow="fold")
    for r in rows:
        spacing = "x".join(f"{s:.3f}" for s in r.spacing_mm) if r.spacing_mm else "-"
        problems = [p for p in r.problems if not p.startswith(("visit-from", "segment-unassigned", "side-unassigned"))]
        name = os.path.relpath(r.file, prefix) if prefix else r.file
        table.add_row(
            name, r.subject, r.visit, r.side, r.segment, r.kind or r.status,
            str(r.frames) if r.frames else "", r.size, spacing if r.kind else "", r.encoding,
            "; ".join(problems),
        )
    return table


def run(args: argparse.Namespace) -> int:
    """Inspect the paths; exit 1 if any file was rejected, else 0."""
    err = Console(stderr=True)
    with Progress(
        TextColumn("reading"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err, transient=True, disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("reading", total=None)
        result = ingest(args.paths, progress=lambda done, total, _: progress.update(task, completed=done, total=total))
    rows = inspect_rows(result, ultrasound_only=args.ultrasound_only)
    if args.json:
        payload: dict[str, Any] = {"files": [r.__dict__ for r in rows]}
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        out = Console(width=max(Console().width, 200))
        out.print(_table(rows))
        not_us = sum(r.code is ProblemCode.NOT_ULTRASOUND for r in result.rejected)
        out.print(
            f"{len(result.clips)} instances in {len(result.subjects)} subjects; {len(result.duplicates)} duplicates, "
            f"{len(result.rejected) - not_us} rejected, {not_us} not ultrasound, "
            f"{len(result.skipped)} skipped (not DICOM or ignored)"
        )
    shown_rejected = [r for r in rows if r.status == "rejected"]
    return 1 if shown_rejected else 0
