"""Assemble one visit's report: clip results → segment, leg and change findings → the report.json document."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvt_us import __version__
from dvt_us.anatomy import SEGMENTS, Laterality, Segment
from dvt_us.findings.segment_findings import (
    ChangeSinceBaseline,
    LegFindings,
    SegmentEvidence,
    SegmentFindings,
    change_since_baseline,
    leg_findings,
    segment_findings,
)
from dvt_us.findings.vocabulary import Compressibility
from dvt_us.ingest import Visit
from dvt_us.pipeline.clip_analysis import ClipResult, ModelSet
from dvt_us.pipeline.trial_config import TrialConfig
from dvt_us.report.json_report import SCHEMA_ID, plain, segment_findings_from_json, validate

_SIDES = (Laterality.RIGHT, Laterality.LEFT)


@dataclass(frozen=True)
class VisitFindings:
    """Everything found at one visit of one subject."""

    subject: str
    visit: str
    clips: tuple[ClipResult, ...]
    segments: tuple[SegmentFindings, ...]
    legs: tuple[LegFindings, ...]
    change: tuple[ChangeSinceBaseline, ...]
    baseline_visit: str | None


def stored_baseline(report_json: Path) -> VisitFindings | None:
    """The segment findings of a baseline visit analysed earlier (its report.json), to compare a later visit with.

    Returns ``None`` when there is no such file. Only what the comparison needs is rebuilt: the segments.
    """
    if not report_json.is_file():
        return None
    document = json.loads(report_json.read_text())
    validate(document)
    segments = tuple(segment_findings_from_json(s) for s in document["segments"])
    return VisitFindings(str(document["subject"]), str(document["visit"]), (), segments, (), (), None)


def _side_of(result: ClipResult) -> Laterality:
    identity = result.clip.identity
    if identity.segment is not Segment.UNASSIGNED and not SEGMENTS[identity.segment].paired:
        return Laterality.RIGHT  # the IVC is unpaired: filed once
    return identity.side


def visit_findings(subject: str, visit: str, results: Sequence[ClipResult], trial: TrialConfig,
                   baseline: VisitFindings | None) -> VisitFindings:
    """Aggregate a visit's analysed clips into segment and leg findings and compare with the baseline."""
    evidence: dict[tuple[Laterality, Segment], list[SegmentEvidence]] = defaultdict(list)
    for r in results:
        side, segment = _side_of(r), r.clip.identity.segment
        if not r.analysed or segment is Segment.UNASSIGNED or side is Laterality.UNASSIGNED:
            continue  # unassigned clips are reported on their own; a reader assigns them
        evidence[(side, segment)].append(SegmentEvidence(r.clip.sop_instance_uid, r.compression, r.flow,
                                                         calibrated=r.clip.spacing_mm is not None))
    order = list(Segment)
    keys = sorted(evidence, key=lambda k: (_SIDES.index(k[0]), order.index(k[1])))
    segments = tuple(segment_findings(side, seg, evidence[(side, seg)], trial.rvt_min_residual_mm)
                     for side, seg in keys)
    protocol = trial.protocol_for(visit)
    legs = tuple(leg_findings(side, segments, protocol) for side in _SIDES)
    change: tuple[ChangeSinceBaseline, ...] = ()
    if baseline is not None:
        change = tuple(change_since_baseline(baseline.segments, segments, side) for side in _SIDES)
    return VisitFindings(subject, visit, tuple(results), segments, legs, change,
                         baseline.visit if baseline else None)


def _clip_entry(r: ClipResult) -> dict[str, Any]:
    clip = r.clip
    entry: dict[str, Any] = {
        "sop_instance_uid": clip.sop_instance_uid,
        "file": clip.source.label,
        "kind": clip.kind.value,
        "side": clip.identity.side.value,
        "segment": clip.identity.segment.value,
        "frames": clip.frames,
        "spacing_mm": list(clip.spacing_mm) if clip.spacing_mm else None,
        "calibrated": clip.spacing_mm is not None,
        "frame_times_s": [round(t, 5) for t in clip.frame_times_s],
        "problems": [f"{p.code.value}: {p.message}" for p in clip.problems],
        "analysed": r.analysed,
        "reason": r.reason,
        "mask": r.mask_file,
        "segmentation_confidence": r.segmentation_confidence,
        "reader_changed": False,
    }
    if r.compression is not None:
        c = r.compression
        call = c.compressibility
        entry["compressibility"] = {
            "label": call.label.value, "confidence": call.confidence, "classifier": call.classifier.value,
            "probabilities": {k.value: p for k, p in zip(Compressibility, call.probabilities, strict=True)},
            "measured": call.measured.value, "agree": call.agree, "flagged": call.flagged,
            "indeterminate_reason": c.indeterminate_reason,
        }
        measured = plain(dataclasses.replace(c, area_mm2=(), ap_diameter_mm=()))
        for key in ("compressibility", "area_mm2", "ap_diameter_mm", "indeterminate_reason"):
            measured.pop(key)
        entry["measurements"] = measured
        entry["curves"] = {"area_mm2": list(c.area_mm2), "ap_diameter_mm": list(c.ap_diameter_mm)}
        entry["key_frames"] = {"uncompressed": c.uncompressed_frame, "max_compression": c.max_compression_frame}
    if r.flow is not None:
        entry["flow"] = plain(r.flow)
    return entry


def report_document(findings: VisitFindings, visit: Visit, models: ModelSet, is_baseline: bool) -> dict[str, Any]:
    """The report.json document of one visit (see ``dvt_us/schemas/report-1.schema.json``).

    ``is_baseline``: the visit is the trial's baseline (the one later visits are compared with).
    """
    first = visit.clips[0].identity
    segments = [plain(s) | {"reader_changed": False} for s in findings.segments]
    return {
        "schema": SCHEMA_ID,
        "subject": findings.subject,
        "visit": findings.visit,
        "visit_description": first.visit_description,
        "is_baseline": is_baseline,
        "site": first.site,
        "protocol": first.protocol,
        "study_dates": sorted({s.study_date for s in visit.studies if s.study_date}),
        "studies": [s.study_instance_uid for s in visit.studies],
        "provenance": {
            "software": {"name": "dvt-us", "version": __version__},
            "models": [models.segmentation.provenance, models.compressibility.provenance],
            "trained_on": "dvt-us physics phantom, not patients",
        },
        "clips": [_clip_entry(r) for r in findings.clips],
        "segments": segments,
        "legs": [plain(leg) for leg in findings.legs],
        "change_since_baseline": (
            {"baseline_visit": findings.baseline_visit, "legs": [plain(c) for c in findings.change]}
            if findings.baseline_visit else None
        ),
        "read_status": "model (awaiting reader)",
    }
