"""What the findings forms show: per segment and field, the model's value, the reader's, and the choices.

Pure functions of a read's content (and, for adjudication, of both reads and their discordances). Values go
to the page as JSON (``"compressible"``, ``2``, ``true``, ``null``) so that the page's script compares and
sends them exactly as the domain checks them; ``null`` is shown as *indeterminate*. A segment the model did not
report, there because a reader assigned clips to it, is shown like the others with its title saying so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from dvt_us.anatomy import SEGMENTS, Laterality, Segment
from dvt_us.findings.vocabulary import Compressibility, Patency, Thrombus
from dvt_us.service.review.discordance import CLIP_ASSIGNMENT, SEGMENT_PRESENCE, Discordance
from dvt_us.service.review.fields import FIELDS, JsonScalar
from dvt_us.service.review.read_content import ClipAssignment, FieldValue, ReadContent, SegmentRead, report_order

INDETERMINATE = "indeterminate"
FROM_ASSIGNMENT = "from the reader's clip assignment"
"""Said of a segment the model did not report: its model values are derived from the clips a reader assigned."""
ABSENT = "absent"
"""A read's value of a segment it does not have (the adjudication table)."""
_SIDE_NAMES = {Laterality.RIGHT: "Right", Laterality.LEFT: "Left", Laterality.UNASSIGNED: "unassigned"}
FIELD_LABELS = {"compressibility": "compressibility", "thrombus": "thrombus", "patency": "patency",
                "grade": "grade", "rvt": "residual vein thrombosis", "residual_diameter_mm": "residual diameter"}


@dataclass(frozen=True)
class Choice:
    """One option of a field's select: the value as JSON and its label."""

    value_json: str
    label: str


def _choices(values: list[JsonScalar], labels: list[str]) -> tuple[Choice, ...]:
    return tuple(Choice(json.dumps(v), label) for v, label in zip(values, labels, strict=True))


_GRADE_LABELS = ["0 none", "1 non-occlusive", "2 occlusive in part", "3 occlusive throughout", INDETERMINATE]
CHOICES: dict[str, tuple[Choice, ...]] = {
    "compressibility": _choices([m.value for m in Compressibility], [m.value for m in Compressibility]),
    "thrombus": _choices([m.value for m in Thrombus], [m.value for m in Thrombus]),
    "patency": _choices([m.value for m in Patency], [m.value for m in Patency]),
    "grade": _choices([0, 1, 2, 3, None], _GRADE_LABELS),
    "rvt": _choices([True, False, None], ["yes", "no", INDETERMINATE]),
}
"""The select options of each categorical field; a field without an entry is a number (mm) input."""


def value_json(value: JsonScalar) -> str:
    """A field value as the page holds it."""
    return json.dumps(value)


def value_label(field: str, value: JsonScalar) -> str:
    """A field value as a reader reads it (``null``: indeterminate; mm with its unit)."""
    if value is None:
        return INDETERMINATE
    for choice in CHOICES.get(field, ()):
        if choice.value_json == json.dumps(value):
            return choice.label
    unit = FIELDS[field].unit
    return f"{value:.2f} {unit}" if unit and isinstance(value, int | float) else str(value)


def segment_title(read: SegmentRead) -> str:
    """``Right common femoral vein (CFV)``; the IVC without a side; :data:`FROM_ASSIGNMENT` after a segment from it."""
    name = SEGMENTS[read.segment].name
    side = "" if not SEGMENTS[read.segment].paired else _SIDE_NAMES[read.side] + " "
    origin = f", {FROM_ASSIGNMENT}" if read.from_assignment else ""
    return f"{side}{name} ({read.segment.value}){origin}"


@dataclass(frozen=True)
class FieldRow:
    """One editable field of one segment."""

    key: str
    field: str
    label: str
    model_json: str
    model_label: str
    reader_json: str
    reason: str
    overridden: bool
    choices: tuple[Choice, ...] | None
    """Select options; None for a number input (``unit``)."""
    unit: str | None
    number: str
    """The reader's value in a number input, to 0.01 mm (``""`` for null); the page sends the exact value
    (``reader_json``) back unless the reader changes the input."""


def field_row(key: str, name: str, value: FieldValue) -> FieldRow:
    """The form row of ``value``, field ``name`` of segment ``key``."""
    choices = CHOICES.get(name)
    if choices is not None and value_json(value.reader) not in {c.value_json for c in choices}:
        choices = (*choices, Choice(value_json(value.reader), value_label(name, value.reader)))
    number = "" if value.reader is None or choices is not None else f"{value.reader:.2f}"
    return FieldRow(key, name, FIELD_LABELS.get(name, name), value_json(value.model), value_label(name, value.model),
                    value_json(value.reader), value.reason or "", value.overridden, choices, FIELDS[name].unit, number)


@dataclass(frozen=True)
class SegmentForm:
    """The fields of one segment, in display order."""

    key: str
    title: str
    rows: tuple[FieldRow, ...]
    changed: bool
    assigned_clips: tuple[str, ...] = ()
    """The clips a segment the model did not report comes from (the reader assigned them); empty otherwise."""


def segment_forms(content: ReadContent) -> list[SegmentForm]:
    """The findings form of a read, segment by segment in report order."""
    return [SegmentForm(s.key, segment_title(s), tuple(field_row(s.key, n, v) for n, v in s.fields.items()),
                        s.reader_changed, s.assigned_clips) for s in content.segments]


@dataclass(frozen=True)
class ClipForm:
    """A clip the model left unassigned: the reader's side and segment, and the choices."""

    sop_instance_uid: str
    side: str
    segment: str
    reason: str
    changed: bool


SIDE_CHOICES = tuple((s.value, _SIDE_NAMES[s]) for s in Laterality)
SEGMENT_CHOICES = tuple((s.value, s.value if s is Segment.UNASSIGNED else f"{s.value}: {SEGMENTS[s].name}")
                        for s in Segment)


def clip_forms(content: ReadContent) -> list[ClipForm]:
    """The assignment rows of the read's unassigned clips."""
    return [_clip_form(c) for c in content.clips]


def _clip_form(clip: ClipAssignment) -> ClipForm:
    return ClipForm(clip.sop_instance_uid, clip.side.value, clip.segment.value, clip.reason or "", clip.reader_changed)


@dataclass(frozen=True)
class ComparedField:
    """One field of one segment in the adjudication table: both reads, and whether they disagree."""

    field: str
    label: str
    model_label: str
    read_1: str
    read_1_reason: str
    read_2: str
    read_2_reason: str
    discordant: bool
    adjudication: FieldRow | None


@dataclass(frozen=True)
class ComparedSegment:
    """One segment of the adjudication table."""

    key: str
    title: str
    fields: tuple[ComparedField, ...]
    discordant: bool
    note: str = ""
    """Why a segment is in one read only (:data:`~dvt_us.service.review.discordance.SEGMENT_PRESENCE`)."""
    from_assignment: bool = False
    """Some read has the segment from a reader's clip assignment (the model did not report it)."""


def _reader_cells(name: str, value: FieldValue | None) -> tuple[str, str]:
    return (ABSENT, "") if value is None else (value_label(name, value.reader), value.reason or "")


def compared_segments(read_1: ReadContent, read_2: ReadContent, found: tuple[Discordance, ...],
                      adjudication: ReadContent | None) -> list[ComparedSegment]:
    """Both reads side by side, segment by segment, discordant fields flagged, with the adjudication's rows.

    Every segment any of the reads has is a row group, in report order; a read without it shows
    :data:`ABSENT`, and the adjudication's rows are None where the adjudication does not have it.
    """
    discordant = {(d.key, d.field) for d in found}
    notes = {d.key: d.why or "" for d in found if d.field == SEGMENT_PRESENCE}
    reads = [read_1, read_2] + ([adjudication] if adjudication is not None else [])
    by_key: dict[str, list[SegmentRead | None]] = {}
    for i, content in enumerate(reads):
        for s in content.segments:
            by_key.setdefault(s.key, [None] * len(reads))[i] = s
    out = []
    for key, found_in in sorted(by_key.items(), key=lambda item: _report_order_of(item[1])):
        s1, s2 = found_in[0], found_in[1]
        adj_segment = found_in[2] if adjudication is not None else None
        shown = next(s for s in found_in if s is not None)
        rows = []
        for name in FIELDS:
            v1, v2 = (None if s is None else s.fields[name] for s in (s1, s2))
            row = None if adj_segment is None else field_row(key, name, adj_segment.fields[name])
            rows.append(ComparedField(name, FIELD_LABELS.get(name, name), value_label(name, shown.fields[name].model),
                                      *_reader_cells(name, v1), *_reader_cells(name, v2),
                                      (key, name) in discordant, row))
        out.append(ComparedSegment(key, segment_title(shown), tuple(rows),
                                   key in notes or any(r.discordant for r in rows), notes.get(key, ""),
                                   any(s is not None and s.from_assignment for s in found_in)))
    return out


def _report_order_of(found_in: list[SegmentRead | None]) -> tuple[int, int]:
    shown = next(s for s in found_in if s is not None)
    return report_order(shown.side, shown.segment)


def clip_discordances(found: tuple[Discordance, ...]) -> list[Discordance]:
    """The discordances in a clip's segment and side (key: the SOP Instance UID)."""
    return [d for d in found if d.field == CLIP_ASSIGNMENT]
