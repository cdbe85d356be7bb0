"""Who, when and where an instance shows: subject, visit, side and segment (DESIGN.md section 2).

Coded attributes win: Clinical Trial attributes (0012,xxxx), Laterality / ImageLaterality, and the
AnatomicRegionSequence code with its CID 12116 modifier. Text (SeriesDescription, ImageComments,
ProtocolName, StudyDescription) is the fallback. What cannot be determined is ``unassigned``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pydicom.dataset import Dataset

from dvt_us import codes
from dvt_us.anatomy import SEGMENTS, Laterality, Segment, segment_from_code, segments_in_text, sides_in_text
from dvt_us.ingest.problems import Problem, ProblemCode, Severity

UNASSIGNED = "unassigned"
_TEXT_KEYWORDS = ("SeriesDescription", "ImageComments", "ProtocolName", "StudyDescription")


class Origin(enum.Enum):
    """Where a value of the identity came from."""

    CODED = "coded"
    TEXT = "text"
    FALLBACK = "fallback"
    NONE = "none"


@dataclass(frozen=True)
class Identity:
    """Subject, visit, side and segment of one instance, each with where it came from.

    ``visit`` is the ClinicalTrialTimePointID (e.g. ``BASELINE``, ``D10``); without it the visit is
    ``DATE-YYYYMMDD`` from StudyDate (ordered by date within a subject), or ``unassigned``.
    """

    subject: str
    subject_origin: Origin
    visit: str
    visit_origin: Origin
    visit_description: str
    site: str
    protocol: str
    study_date: str
    side: Laterality
    side_origin: Origin
    segment: Segment
    segment_origin: Origin


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return str(value).strip() if value not in (None, "") else ""


def _side_from_dataset(ds: Dataset) -> tuple[Laterality, Origin, list[Problem]]:
    for keyword in ("Laterality", "ImageLaterality", "FrameLaterality"):
        value = _text(ds, keyword).upper()
        if value in ("R", "L"):
            return Laterality(value), Origin.CODED, []
    coded: set[Laterality] = set()
    for item in ds.get("AnatomicRegionSequence", []):
        for modifier in item.get("AnatomicRegionModifierSequence", []):
            value = str(modifier.get("CodeValue", ""))
            if value == codes.RIGHT.value:
                coded.add(Laterality.RIGHT)
            elif value == codes.LEFT.value:
                coded.add(Laterality.LEFT)
    if len(coded) == 1:
        return coded.pop(), Origin.CODED, []
    found = set().union(*(sides_in_text(_text(ds, k)) for k in _TEXT_KEYWORDS))
    if len(found) == 1:
        return found.pop(), Origin.TEXT, []
    if len(found) > 1:
        return Laterality.UNASSIGNED, Origin.NONE, [
            Problem(ProblemCode.CONFLICTING_ANATOMY, Severity.WARNING, "text names both sides")
        ]
    return Laterality.UNASSIGNED, Origin.NONE, []


def _segment_from_codes(ds: Dataset) -> Segment | None:
    for item in ds.get("AnatomicRegionSequence", []):
        scheme = str(item.get("CodingSchemeDesignator", ""))
        value = str(item.get("CodeValue", ""))
        modifiers = frozenset(str(m.get("CodeValue", "")) for m in item.get("AnatomicRegionModifierSequence", []))
        segment = segment_from_code(scheme, value, modifiers)
        if segment is not None:
            return segment
    return None


def _segment_from_dataset(ds: Dataset) -> tuple[Segment, Origin, list[Problem]]:
    coded = _segment_from_codes(ds)
    if coded is not None and coded is not Segment.UNASSIGNED:
        return coded, Origin.CODED, []
    found: set[Segment] = set()
    for keyword in _TEXT_KEYWORDS[:3]:  # StudyDescription names the exam, not the segment
        found |= segments_in_text(_text(ds, keyword))
    named = found - {Segment.UNASSIGNED}
    if len(named) == 1:
        return named.pop(), Origin.TEXT, []
    if len(named) > 1:
        keys = ", ".join(sorted(s.value for s in named))
        return Segment.UNASSIGNED, Origin.NONE, [
            Problem(ProblemCode.CONFLICTING_ANATOMY, Severity.WARNING, f"text names several segments: {keys}")
        ]
    detail = "femoral vein without proximal/mid/distal level" if (coded or found) else "no coded anatomy or text"
    return Segment.UNASSIGNED, Origin.NONE, [
        Problem(ProblemCode.SEGMENT_UNASSIGNED, Severity.INFO, f"segment unassigned ({detail}); a reader assigns it")
    ]


def identity_from_dataset(ds: Dataset) -> tuple[Identity, list[Problem]]:
    """Read the identity of an instance; problems say what was unassigned or conflicting."""
    problems: list[Problem] = []
    subject, subject_origin = _text(ds, "ClinicalTrialSubjectID"), Origin.CODED
    if not subject:
        subject, subject_origin = _text(ds, "PatientID"), Origin.FALLBACK
    if not subject:
        subject, subject_origin = UNASSIGNED, Origin.NONE
        problems.append(Problem(ProblemCode.SUBJECT_UNASSIGNED, Severity.WARNING,
                                "no ClinicalTrialSubjectID or PatientID"))
    study_date = _text(ds, "StudyDate")
    visit, visit_origin = _text(ds, "ClinicalTrialTimePointID").upper(), Origin.CODED
    if not visit:
        if study_date:
            visit, visit_origin = f"DATE-{study_date}", Origin.FALLBACK
            problems.append(Problem(ProblemCode.VISIT_FROM_DATE, Severity.INFO,
                                    "no ClinicalTrialTimePointID: visit named by StudyDate"))
        else:
            visit, visit_origin = UNASSIGNED, Origin.NONE
    segment, segment_origin, segment_problems = _segment_from_dataset(ds)
    side, side_origin, side_problems = _side_from_dataset(ds)
    problems += segment_problems + side_problems
    if side is Laterality.UNASSIGNED and (segment is Segment.UNASSIGNED or SEGMENTS[segment].paired):
        problems.append(Problem(ProblemCode.SIDE_UNASSIGNED, Severity.INFO, "side unassigned; a reader assigns it"))
    identity = Identity(
        subject=subject,
        subject_origin=subject_origin,
        visit=visit,
        visit_origin=visit_origin,
        visit_description=_text(ds, "ClinicalTrialTimePointDescription"),
        site=_text(ds, "ClinicalTrialSiteID"),
        protocol=_text(ds, "ClinicalTrialProtocolID"),
        study_date=study_date,
        side=side,
        side_origin=side_origin,
        segment=segment,
        segment_origin=segment_origin,
    )
    return identity, problems
