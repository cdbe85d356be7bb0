"""Findings per segment, per leg and per visit, and change since baseline (DESIGN.md section 4).

A segment's findings come from all its clips at a visit. Grades (Porter/Moneta): 0 no thrombus,
1 non-occlusive, 2 occlusive in part (some clips occlusive, others not), 3 occlusive throughout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dvt_us.anatomy import Laterality, Segment
from dvt_us.findings.clip_findings import CompressionFindings, FlowFindings
from dvt_us.findings.vocabulary import (
    RVT_MIN_DIAMETER_RATIO,
    Compressibility,
    Patency,
    Thrombus,
)

FLOW_PATENT_MIN_FILL = 0.8
FLOW_OCCLUDED_MAX_FILL = 0.1
_SEVERITY = (Compressibility.COMPRESSIBLE, Compressibility.PARTIAL, Compressibility.NONCOMPRESSIBLE)


@dataclass(frozen=True)
class SegmentEvidence:
    """One clip's findings, as a segment sees them."""

    sop_instance_uid: str
    compression: CompressionFindings | None = None
    flow: FlowFindings | None = None
    calibrated: bool = True
    """False when the clip had no spacing: its lengths are pixels, so no residual diameter in mm comes from it."""


@dataclass(frozen=True)
class SegmentFindings:
    """Findings of one segment of one leg at one visit."""

    side: Laterality
    segment: Segment
    compressibility: Compressibility
    thrombus: Thrombus
    patency: Patency
    grade: int | None
    """0–3, None when indeterminate."""
    residual_diameter_mm: float | None
    diameter_ratio: float | None
    rvt: bool | None
    """Residual vein thrombosis: diameter ratio above 40 % or residual diameter above the mm threshold."""
    flow_fill_fraction: float | None
    confidence: float
    flagged: bool
    clips: tuple[str, ...]
    measured_clip: str | None = None
    """SOP Instance UID of the clip whose diameters the segment reports (its most severe determinate clip)."""


def _thrombus_of(c: CompressionFindings) -> Thrombus:
    label = c.compressibility.label
    if label is Compressibility.INDETERMINATE:
        return Thrombus.INDETERMINATE
    if label is Compressibility.COMPRESSIBLE:
        return Thrombus.NONE
    if label is Compressibility.NONCOMPRESSIBLE and c.occlusive:
        return Thrombus.OCCLUSIVE
    return Thrombus.NONOCCLUSIVE


def _thrombus_from_flow(f: FlowFindings) -> Thrombus:
    if not f.vein_found:
        return Thrombus.INDETERMINATE
    if f.flow_fill_fraction >= FLOW_PATENT_MIN_FILL:
        return Thrombus.NONE
    if f.flow_fill_fraction <= FLOW_OCCLUDED_MAX_FILL:
        return Thrombus.OCCLUSIVE
    return Thrombus.NONOCCLUSIVE


def segment_findings(side: Laterality, segment: Segment, evidence: Sequence[SegmentEvidence],
                     rvt_min_residual_mm: float | None = None) -> SegmentFindings:
    """Combine the clips of one segment; the most severe determinate clip decides."""
    compressions = [e.compression for e in evidence if e.compression is not None]
    flows = [e.flow for e in evidence if e.flow is not None]
    calls = [(_thrombus_of(c), c) for c in compressions] + [(_thrombus_from_flow(f), None) for f in flows]
    determinate = [t for t, _ in calls if t is not Thrombus.INDETERMINATE]
    order = (Thrombus.NONE, Thrombus.NONOCCLUSIVE, Thrombus.OCCLUSIVE)
    thrombus = max(determinate, key=order.index) if determinate else Thrombus.INDETERMINATE
    graded = [(e, e.compression) for e in evidence
              if e.compression is not None and e.compression.compressibility.label is not Compressibility.INDETERMINATE]
    worst_pair = max(graded, key=lambda pair: _SEVERITY.index(pair[1].compressibility.label), default=None)
    worst_clip, worst = worst_pair if worst_pair else (None, None)
    compressibility = worst.compressibility.label if worst else Compressibility.INDETERMINATE
    if thrombus is Thrombus.INDETERMINATE:
        grade = None
    elif thrombus is Thrombus.NONE:
        grade = 0
    elif thrombus is Thrombus.NONOCCLUSIVE:
        grade = 1
    else:
        grade = 3 if all(t is Thrombus.OCCLUSIVE for t in determinate) else 2
    fills = [f.flow_fill_fraction for f in flows if f.vein_found]
    fill = min(fills) if fills else None
    if thrombus is Thrombus.INDETERMINATE:
        patency = Patency.INDETERMINATE
    elif grade == 3 or (fill is not None and fill <= FLOW_OCCLUDED_MAX_FILL and thrombus is Thrombus.OCCLUSIVE):
        patency = Patency.OCCLUDED
    elif grade == 2:
        patency = Patency.PARTIALLY_PATENT
    else:
        patency = Patency.PATENT
    ratio = worst.diameter_ratio if worst else None
    residual = worst.residual_diameter_mm if worst and worst_clip and worst_clip.calibrated else None
    rvt = None
    if ratio is not None:  # the ratio needs no calibration; the mm threshold does
        rvt = ratio > RVT_MIN_DIAMETER_RATIO or (
            rvt_min_residual_mm is not None and residual is not None and residual > rvt_min_residual_mm)
    confidences = [c.compressibility.confidence for c in compressions]
    flagged = any(c.compressibility.flagged for c in compressions) or thrombus is Thrombus.INDETERMINATE
    return SegmentFindings(
        side=side, segment=segment, compressibility=compressibility, thrombus=thrombus, patency=patency,
        grade=grade, residual_diameter_mm=residual, diameter_ratio=ratio, rvt=rvt, flow_fill_fraction=fill,
        confidence=min(confidences) if confidences else (1.0 if fills else 0.0), flagged=flagged,
        clips=tuple(e.sop_instance_uid for e in evidence),
        measured_clip=worst_clip.sop_instance_uid if worst_clip else None,
    )


@dataclass(frozen=True)
class LegFindings:
    """One leg at one visit: involved segments, proximal extent, thrombus score, completeness."""

    side: Laterality
    involved: tuple[Segment, ...]
    most_proximal: Segment | None
    thrombus_score: int
    """Sum of segment grades (indeterminate segments count 0 and are listed as such)."""
    indeterminate: tuple[Segment, ...]
    missing: tuple[Segment, ...]
    """Protocol segments not imaged."""


def leg_findings(side: Laterality, segments: Sequence[SegmentFindings], protocol: Sequence[Segment]) -> LegFindings:
    """Summarise the segments of one leg (proximal to distal order of :class:`Segment`)."""
    order = list(Segment)
    mine = sorted((s for s in segments if s.side is side), key=lambda s: order.index(s.segment))
    involved = tuple(s.segment for s in mine if s.grade)
    imaged = {s.segment for s in mine}
    return LegFindings(
        side=side, involved=involved, most_proximal=involved[0] if involved else None,
        thrombus_score=sum(s.grade or 0 for s in mine),
        indeterminate=tuple(s.segment for s in mine if s.grade is None),
        missing=tuple(s for s in protocol if s not in imaged),
    )


@dataclass(frozen=True)
class ChangeSinceBaseline:
    """How one leg changed from the baseline visit."""

    side: Laterality
    score_change: int
    recanalised: tuple[Segment, ...]
    """Thrombus at baseline, none now."""
    new_or_extended: tuple[Segment, ...]
    """No thrombus at baseline, thrombus now."""
    worse: tuple[Segment, ...]
    """Grade higher than at baseline (including new)."""


def change_since_baseline(baseline: Sequence[SegmentFindings], current: Sequence[SegmentFindings],
                          side: Laterality) -> ChangeSinceBaseline:
    """Compare one leg's determinate segment grades with the baseline visit."""
    before = {s.segment: s.grade for s in baseline if s.side is side and s.grade is not None}
    now = {s.segment: s.grade for s in current if s.side is side and s.grade is not None}
    both = [seg for seg in Segment if seg in before and seg in now]
    return ChangeSinceBaseline(
        side=side,
        score_change=sum(now[s] for s in both) - sum(before[s] for s in both),
        recanalised=tuple(s for s in both if before[s] > 0 and now[s] == 0),
        new_or_extended=tuple(s for s in both if before[s] == 0 and now[s] > 0),
        worse=tuple(s for s in both if now[s] > before[s]),
    )
