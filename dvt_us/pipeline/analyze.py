"""``dvt-us analyze``: ingest, analyse every clip (in parallel), write report.json and masks per visit.

Output: ``OUT/<subject>/<visit>/`` with report.json, masks, key frames and source headers
(:mod:`dvt_us.report.visit_folder`) and the rendered reports (:mod:`dvt_us.report.visit_outputs`), plus
``OUT/inputs.json`` listing files that were rejected, skipped or duplicated. The findings, masks and HTML
do not depend on the number of jobs; SR, SEG and PDF instances get new UIDs and times at each rendering.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from dvt_us.inference.sessions import SessionOptions
from dvt_us.ingest import IngestResult, Subject, ingest
from dvt_us.pipeline.clip_analysis import ClipResult, ModelSet, analyse_clip_task
from dvt_us.pipeline.render import render_visits
from dvt_us.pipeline.trial_config import TrialConfig
from dvt_us.pipeline.visit_report import VisitFindings, report_document, stored_baseline, visit_findings
from dvt_us.pipeline.workers import ProgressCallback, map_in_workers, start_worker_server
from dvt_us.report.atomic import write_bytes_atomic
from dvt_us.report.json_report import write_report
from dvt_us.report.visit_folder import VisitFolder
from dvt_us.report.visit_outputs import remove_visit_outputs


@dataclass(frozen=True)
class AnalyzeOptions:
    """Where to write, which models and trial settings, and how many worker processes."""

    out: Path
    models: ModelSet
    trial: TrialConfig
    jobs: int = 1
    render: bool = True
    """Also write HTML/PDF, SR, SEG and the encapsulated PDF (else only report.json, masks, key frames)."""


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "unassigned"


def visit_dir(out: Path, subject: str, visit: str) -> Path:
    """``OUT/<subject>/<visit>/`` with unsafe characters of the names replaced."""
    return out / _safe(subject) / _safe(visit)


def _write_inputs(out: Path, result: IngestResult) -> None:
    listing = {
        "rejected": [{"file": r.source, "reason": r.code.value, "message": r.message} for r in result.rejected],
        "skipped": [{"file": r.source, "reason": r.code.value, "message": r.message} for r in result.skipped],
        "duplicates": [{"file": c.source.label, "sop_instance_uid": c.sop_instance_uid} for c in result.duplicates],
    }
    write_bytes_atomic(out / "inputs.json", (json.dumps(listing, indent=1) + "\n").encode())


def analyze(paths: Iterable[str | os.PathLike[str]], options: AnalyzeOptions,
            progress: ProgressCallback | None = None) -> list[VisitFindings]:
    """Analyse every study under ``paths``; return the findings of every visit, subject by subject."""
    start_worker_server(options.jobs)
    result = ingest(paths, progress=(lambda d, t, _: progress("reading", d, t)) if progress else None)
    options.out.mkdir(parents=True, exist_ok=True)
    _write_inputs(options.out, result)
    # Threads per session: the cores are shared between the worker processes.
    threads = max(1, (os.cpu_count() or 1) // max(1, options.jobs))
    models = replace(options.models, session=SessionOptions(threads=threads, use_cuda=options.models.session.use_cuda))
    tasks = [(clip, models, visit_dir(options.out, s.subject, v.visit))
             for s in result.subjects for v in s.visits for clip in v.clips]
    results = map_in_workers(analyse_clip_task, tasks, options.jobs, "clips", progress)
    by_uid = {r.clip.sop_instance_uid: r for r in results}
    findings = [f for subject in result.subjects for f in _report_subject(subject, by_uid, options, models)]
    visits = [VisitFolder.open(visit_dir(options.out, f.subject, f.visit)) for f in findings]
    if options.render:
        render_visits(visits, options.jobs, progress)
    else:  # reports of an earlier run in the same folder would contradict the new findings
        for visit in visits:
            remove_visit_outputs(visit)
    return findings


def _report_subject(subject: Subject, by_uid: dict[str, ClipResult], options: AnalyzeOptions,
                    models: ModelSet) -> list[VisitFindings]:
    # A baseline analysed earlier into the same output folder (e.g. by the service, one study per job).
    baseline = stored_baseline(visit_dir(options.out, subject.subject, options.trial.baseline) / "report.json")
    out = []
    for visit in subject.visits:  # in study-date order: unscheduled time points fall in place
        results = [by_uid[c.sop_instance_uid] for c in visit.clips]
        is_baseline = visit.visit == options.trial.baseline
        findings = visit_findings(subject.subject, visit.visit, results, options.trial,
                                  None if is_baseline else baseline)
        if is_baseline:
            baseline = findings
        document = report_document(findings, visit, models, is_baseline)
        write_report(document, visit_dir(options.out, subject.subject, visit.visit) / "report.json")
        out.append(findings)
    return out
