"""The final report.json of a visit: the model's document with the final read applied (pure; no I/O).

Each segment gets the reader's values, ``reader_changed`` where any differs from the model's and
``reader_changes`` (field, model, reader, reason) listing them; each clip the reader assigned gets its new
segment and side, ``reader_changed`` and ``reader_assignment``; the legs and the change since baseline are
recomputed from the final grades; ``read_status`` says how the read became final and ``provenance.review``
names the reads, their signatures and the rules.

A segment the model did not report but the read has (a reader assigned clips to it) is added in report order:
the finding the pipeline would have derived from those clips, with ``origin: "reader_assignment"``,
``reader_changed: true`` and, first in its ``reader_changes``, the assignment itself (field ``clips``: the
model's none, the reader's SOP Instance UIDs, the assignment's reason). The document stays valid under
dvt-us-report/1 (the added keys sit where the schema allows additional properties).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from dvt_us.anatomy import Laterality, Segment
from dvt_us.findings.segment_findings import SegmentFindings, change_since_baseline, leg_findings
from dvt_us.findings.vocabulary import Compressibility, Patency, Thrombus
from dvt_us.report.json_report import plain
from dvt_us.service.review.assigned_segments import READER_ASSIGNMENT, derived_findings
from dvt_us.service.review.enum import ReadSlot
from dvt_us.service.review.read_content import ReadContent, SegmentRead, report_order, segment_key

_SIDES = (Laterality.RIGHT, Laterality.LEFT)

READ_STATUS: dict[str, str] = {
    "single": "final: single read, signed",
    "concordant": "final: concordant double read, signed",
    "adjudicated": "final: adjudicated, signed",
}
"""``read_status`` of a final report, by how the read became final."""


def segment_findings_of(entry: Mapping[str, Any]) -> SegmentFindings:
    """report.json ``segments[i]`` as the findings type that leg and change summaries take."""
    return SegmentFindings(
        side=Laterality(entry["side"]), segment=Segment.parse(entry["segment"]),
        compressibility=Compressibility(entry["compressibility"]), thrombus=Thrombus(entry["thrombus"]),
        patency=Patency(entry["patency"]), grade=entry["grade"],
        residual_diameter_mm=entry.get("residual_diameter_mm"), diameter_ratio=entry.get("diameter_ratio"),
        rvt=entry["rvt"], flow_fill_fraction=entry.get("flow_fill_fraction"),
        confidence=float(entry["confidence"]), flagged=bool(entry["flagged"]), clips=tuple(entry["clips"]),
        measured_clip=entry.get("measured_clip"))


def _order(entry: Mapping[str, Any]) -> tuple[int, int]:
    return report_order(Laterality(entry["side"]), Segment.parse(entry["segment"]))


def _assignment_change(content: ReadContent, read: SegmentRead) -> dict[str, Any]:
    """The reader's assignment of clips to a segment the model did not report, as one of its reader changes."""
    reasons = dict.fromkeys(str(content.clip(uid).reason) for uid in read.assigned_clips)
    return {"field": "clips", "model": [], "reader": list(read.assigned_clips), "reason": "; ".join(reasons)}


def _add_assigned_segments(document: dict[str, Any], content: ReadContent) -> None:
    for read in content.segments:
        if not read.from_assignment:
            continue
        entry = plain(derived_findings(read.side, read.segment, content.evidence_of(read)))
        entry["origin"] = READER_ASSIGNMENT
        at = next((i for i, e in enumerate(document["segments"]) if _order(e) > _order(entry)),
                  len(document["segments"]))
        document["segments"].insert(at, entry)


def _apply_segments(document: dict[str, Any], content: ReadContent) -> None:
    for entry in document["segments"]:
        read = content.segment(segment_key(Laterality(entry["side"]), Segment.parse(entry["segment"])))
        changes = [_assignment_change(content, read)] if read.from_assignment else []
        for name, value in read.fields.items():
            entry[name] = value.reader
            if value.overridden:
                changes.append({"field": name, "model": value.model, "reader": value.reader, "reason": value.reason})
        entry["reader_changed"] = bool(changes)
        entry["reader_changes"] = changes


def _apply_clips(document: dict[str, Any], content: ReadContent) -> None:
    assigned = {c.sop_instance_uid: c for c in content.clips if c.reader_changed}
    for entry in document["clips"]:
        clip = assigned.get(entry["sop_instance_uid"])
        if clip is None:
            continue
        entry["side"], entry["segment"], entry["reader_changed"] = clip.side.value, clip.segment.value, True
        entry["reader_assignment"] = {"model_side": clip.model_side.value, "model_segment": clip.model_segment.value,
                                      "reason": clip.reason}


def _recompute_summaries(document: dict[str, Any], baseline_segments: Sequence[Mapping[str, Any]] | None) -> None:
    segments = [segment_findings_of(s) for s in document["segments"]]
    missing = {leg["side"]: [Segment.parse(s) for s in leg["missing"]] for leg in document["legs"]}
    document["legs"] = [plain(leg_findings(side, segments, missing.get(side.value, []))) for side in _SIDES]
    change = document.get("change_since_baseline")
    if change is not None and baseline_segments is not None:
        before = [segment_findings_of(s) for s in baseline_segments]
        change["legs"] = [plain(change_since_baseline(before, segments, side)) for side in _SIDES]


def how_final(final_slot: ReadSlot, double_read: bool) -> str:
    """``single``, ``concordant`` or ``adjudicated``: the key of :data:`READ_STATUS`."""
    if final_slot is ReadSlot.ADJUDICATION:
        return "adjudicated"
    return "concordant" if double_read else "single"


def final_document(model_document: Mapping[str, Any], content: ReadContent, review: Mapping[str, Any],
                   baseline_segments: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The final report.json.

    Parameters
    ----------
    model_document
        The model's report.json (not modified).
    content
        The final read (a signed version).
    review
        ``provenance.review``: how the read became final (``how``), the reads and their signature manifests.
    baseline_segments
        The baseline visit's (final, else model) ``segments``, to recompute the change since baseline; None
        keeps the model's comparison.
    """
    document = copy.deepcopy(dict(model_document))
    _add_assigned_segments(document, content)
    _apply_segments(document, content)
    _apply_clips(document, content)
    _recompute_summaries(document, baseline_segments)
    document["read_status"] = READ_STATUS[str(review["how"])]
    document["provenance"]["review"] = dict(review)
    return document
