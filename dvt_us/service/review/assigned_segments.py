"""Segment findings of clips a reader assigned to a segment the model did not report.

The pipeline reports a segment only from the clips it could place; a clip it left unassigned is listed on its
own. When a reader assigns such a clip to a segment the read has no finding for, the read gains that segment,
and its model values are what the pipeline would have derived had the clip been placed there:
:func:`dvt_us.findings.segment_findings.segment_findings` of the clip's findings as report.json records them
(``clips[i].compressibility``, ``.measurements``, ``.flow`` and ``.calibrated``; the curves are not needed).

One difference remains: the trial's ``rvt_min_residual_mm`` is not in report.json, so residual vein
thrombosis is derived by the diameter-ratio rule alone (the rule of the default trial).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from dvt_us.anatomy import Laterality, Segment
from dvt_us.findings.clip_findings import CompressibilityCall, CompressionFindings, FlowFindings
from dvt_us.findings.segment_findings import SegmentEvidence, SegmentFindings, segment_findings
from dvt_us.findings.vocabulary import Compressibility
from dvt_us.report.json_report import plain
from dvt_us.service.review.errors import InvalidReadError
from dvt_us.service.review.fields import FIELDS, JsonScalar, check_value

READER_ASSIGNMENT = "reader_assignment"
"""The ``origin`` of a segment finding that exists because a reader assigned clips to it."""

EVIDENCE_KEYS = ("calibrated", "compressibility", "measurements", "flow")
"""The keys of a report.json clip entry that a segment finding is derived from."""


def frozen_json(value: Any) -> Any:
    """A read-only copy of JSON values: objects become mappings that refuse writes, arrays tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): frozen_json(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(frozen_json(v) for v in value)
    return value


def thawed_json(value: Any) -> Any:
    """:func:`frozen_json` undone: plain dicts and lists again, for ``json.dumps``."""
    if isinstance(value, Mapping):
        return {k: thawed_json(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thawed_json(v) for v in value]
    return value


def clip_evidence(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    """What a read keeps of a report.json clip entry to derive a segment finding from it (read-only)."""
    evidence: Mapping[str, Any] = frozen_json({key: entry[key] for key in EVIDENCE_KEYS if key in entry})
    return evidence


def _number(values: Mapping[str, Any], key: str) -> float:
    value = values.get(key)
    return math.nan if value is None else float(value)  # report.json writes NaN as null


def _compression(evidence: Mapping[str, Any]) -> CompressionFindings | None:
    m, call = evidence.get("measurements"), evidence.get("compressibility")
    if m is None or call is None:
        return None
    p = call["probabilities"]
    probabilities = (float(p[Compressibility.COMPRESSIBLE.value]), float(p[Compressibility.PARTIAL.value]),
                     float(p[Compressibility.NONCOMPRESSIBLE.value]), float(p[Compressibility.INDETERMINATE.value]))
    label = Compressibility(call["label"])
    return CompressionFindings(
        frames=int(m["frames"]), vein_found=bool(m["vein_found"]), area_mm2=(), ap_diameter_mm=(),
        uncompressed_frame=int(m["uncompressed_frame"]), max_compression_frame=int(m["max_compression_frame"]),
        baseline_area_mm2=_number(m, "baseline_area_mm2"), min_area_mm2=_number(m, "min_area_mm2"),
        area_ratio=_number(m, "area_ratio"), uncompressed_diameter_mm=_number(m, "uncompressed_diameter_mm"),
        residual_diameter_mm=_number(m, "residual_diameter_mm"), diameter_ratio=_number(m, "diameter_ratio"),
        thrombus_area_fraction=_number(m, "thrombus_area_fraction"), occlusive=bool(m["occlusive"]),
        compression_adequate=bool(m["compression_adequate"]), tissue_shift_mm=_number(m, "tissue_shift_mm"),
        compressibility=CompressibilityCall(label, float(call["confidence"]), Compressibility(call["classifier"]),
                                            probabilities, Compressibility(call["measured"]), bool(call["agree"]),
                                            bool(call["flagged"])),
        indeterminate_reason=call.get("indeterminate_reason"))


def segment_evidence(sop_instance_uid: str, evidence: Mapping[str, Any] | None) -> SegmentEvidence:
    """One clip's findings as a segment sees them, from :func:`clip_evidence`; InvalidReadError if unreadable.

    ``None`` (a read stored before reads kept the evidence) is a clip without findings: indeterminate.
    """
    if evidence is None:
        return SegmentEvidence(sop_instance_uid)
    try:
        flow = evidence.get("flow")
        return SegmentEvidence(
            sop_instance_uid, _compression(evidence),
            None if flow is None else FlowFindings(bool(flow["vein_found"]), float(flow["flow_fill_fraction"]),
                                                   _number(flow, "vein_area_mm2")),
            calibrated=bool(evidence.get("calibrated", True)))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidReadError(f"clip {sop_instance_uid}: its report.json findings cannot be read: {exc!r}") from None


def derived_findings(side: Laterality, segment: Segment,
                     clips: Sequence[tuple[str, Mapping[str, Any] | None]]) -> SegmentFindings:
    """The segment finding the pipeline would have derived from ``clips`` ((SOP Instance UID, evidence) pairs)."""
    return segment_findings(side, segment, [segment_evidence(uid, evidence) for uid, evidence in clips])


def model_values(findings: SegmentFindings) -> dict[str, JsonScalar]:
    """The editable fields of a segment finding as report.json would hold them (NaN as null)."""
    values = plain(findings)
    return {name: check_value(name, values[name]) for name in FIELDS}
