"""What a read holds: per segment, each editable field's model value, reader value and reason; clip assignments.

A read starts as the model's findings (:func:`prefill`) and is changed one edit at a time; every value that
differs from the model's needs a reason, and a clip the model left unassigned may be given a segment and side
(with a reason). A clip assigned to a segment the model did not report brings that segment into the read, its
model values derived from the clip (:mod:`~dvt_us.service.review.assigned_segments`); it leaves with the last
clip that supports it. The content is pure data: canonical JSON (:meth:`ReadContent.canonical_json`) and its
sha256 are what a signature covers; the keys added for such segments (``origin``, ``assigned_clips``, a clip's
``evidence``) are written only where they apply, so content stored before them hashes as it did.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from dvt_us.anatomy import SEGMENTS, Laterality, Segment
from dvt_us.service.review.assigned_segments import (
    READER_ASSIGNMENT,
    clip_evidence,
    derived_findings,
    frozen_json,
    model_values,
    segment_evidence,
    thawed_json,
)
from dvt_us.service.review.errors import InvalidReadError, NotFoundError
from dvt_us.service.review.fields import FIELDS, JsonScalar, check_value

_SIDES = (Laterality.RIGHT, Laterality.LEFT)


def segment_key(side: Laterality, segment: Segment) -> str:
    """The key of one leg segment in a read, e.g. ``R:CFV`` (the IVC is filed under ``R``, as the pipeline does)."""
    return f"{side.value}:{segment.value}"


def report_order(side: Laterality, segment: Segment) -> tuple[int, int]:
    """Where report.json puts a segment: right leg then left, each proximal to distal."""
    return (_SIDES.index(side) if side in _SIDES else len(_SIDES), list(Segment).index(segment))


def _reason(reason: str | None) -> str | None:
    text = (reason or "").strip()
    return text or None


@dataclass(frozen=True)
class FieldValue:
    """One field of one segment: the model's value, the reader's, and why they differ (required if they do)."""

    model: JsonScalar
    reader: JsonScalar
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.overridden and self.reason is None:
            raise InvalidReadError(f"override of the model's {self.model!r} by {self.reader!r} needs a reason")

    @property
    def overridden(self) -> bool:
        """The reader's value differs from the model's."""
        return self.reader != self.model or type(self.reader) is not type(self.model)


@dataclass(frozen=True)
class SegmentRead:
    """The reader's findings for one segment of one leg; ``fields`` holds every editable field."""

    side: Laterality
    segment: Segment
    fields: Mapping[str, FieldValue]
    assigned_clips: tuple[str, ...] = ()
    """SOP Instance UIDs of the reader-assigned clips the segment comes from; empty for the model's segments."""

    def __post_init__(self) -> None:
        if set(self.fields) != set(FIELDS):
            raise InvalidReadError(f"segment {self.key}: fields {sorted(self.fields)}, expected {sorted(FIELDS)}")
        object.__setattr__(self, "fields", MappingProxyType({name: self.fields[name] for name in FIELDS}))
        object.__setattr__(self, "assigned_clips", tuple(self.assigned_clips))

    @property
    def from_assignment(self) -> bool:
        """The model did not report this segment: it exists because the reader assigned clips to it."""
        return bool(self.assigned_clips)

    @property
    def key(self) -> str:
        """``R:CFV`` and the like."""
        return segment_key(self.side, self.segment)

    @property
    def reader_changed(self) -> bool:
        """Some field differs from the model's."""
        return any(v.overridden for v in self.fields.values())


@dataclass(frozen=True)
class ClipAssignment:
    """Segment and side of a clip the model could not assign; ``side``/``segment`` are the reader's."""

    sop_instance_uid: str
    model_side: Laterality
    model_segment: Segment
    side: Laterality
    segment: Segment
    reason: str | None = None
    evidence: Mapping[str, Any] | None = None
    """The clip's findings from report.json (:func:`~dvt_us.service.review.assigned_segments.clip_evidence`),
    read-only; None in a read stored before reads kept them."""

    def __post_init__(self) -> None:
        if self.reader_changed and self.reason is None:
            raise InvalidReadError(f"clip {self.sop_instance_uid}: assigning a segment and side needs a reason")
        if self.evidence is not None:
            object.__setattr__(self, "evidence", frozen_json(self.evidence))
            segment_evidence(self.sop_instance_uid, self.evidence)  # raises when unreadable

    @property
    def reader_changed(self) -> bool:
        """The reader assigned something other than the model's (unassigned) segment or side."""
        return (self.side, self.segment) != (self.model_side, self.model_segment)

    @property
    def assigned_key(self) -> str | None:
        """The segment key the reader assigned the clip to; None while its segment or side is unassigned."""
        if not self.reader_changed or Laterality.UNASSIGNED is self.side or Segment.UNASSIGNED is self.segment:
            return None
        return segment_key(self.side, self.segment)


@dataclass(frozen=True)
class ReadContent:
    """Everything a reader decides for one visit: segment findings (report order) and clip assignments."""

    segments: tuple[SegmentRead, ...]
    clips: tuple[ClipAssignment, ...] = ()

    def __post_init__(self) -> None:
        keys = [s.key for s in self.segments]
        if len(set(keys)) != len(keys):
            raise InvalidReadError(f"segments listed twice: {sorted({k for k in keys if keys.count(k) > 1})}")
        for s in self.segments:
            if s.from_assignment and s.assigned_clips != self._supporting(s.key):
                raise InvalidReadError(f"segment {s.key}: from clips {list(s.assigned_clips)}, but the clips "
                                       f"assigned to it are {list(self._supporting(s.key))}")

    def _supporting(self, key: str) -> tuple[str, ...]:
        """The clips the reader assigned to segment ``key``, in report order."""
        return tuple(c.sop_instance_uid for c in self.clips if c.assigned_key == key)

    def evidence_of(self, read: SegmentRead) -> list[tuple[str, Mapping[str, Any] | None]]:
        """(SOP Instance UID, evidence) of the clips a segment from the reader's assignment comes from."""
        return [(uid, self.clip(uid).evidence) for uid in read.assigned_clips]

    def segment(self, key: str) -> SegmentRead:
        """The segment ``key`` (``R:CFV``); NotFoundError listing the segments of the read otherwise."""
        for s in self.segments:
            if s.key == key:
                return s
        raise NotFoundError(f"no segment {key!r} in this read; segments: {', '.join(s.key for s in self.segments)}")

    def clip(self, sop_instance_uid: str) -> ClipAssignment:
        """The assignable clip with this SOP Instance UID; NotFoundError otherwise."""
        for c in self.clips:
            if c.sop_instance_uid == sop_instance_uid:
                return c
        raise NotFoundError(f"clip {sop_instance_uid!r} is not an unassigned clip of this visit")

    def with_value(self, key: str, field: str, value: Any, reason: str | None) -> ReadContent:
        """A copy with the reader's ``value`` for ``field`` of segment ``key``; InvalidReadError if it is invalid."""
        try:
            checked = check_value(field, value)
        except ValueError as exc:
            raise InvalidReadError(f"segment {key}: {exc}") from None
        old = self.segment(key)
        try:
            new_value = dataclasses.replace(old.fields[field], reader=checked, reason=_reason(reason))
        except InvalidReadError as exc:
            raise InvalidReadError(f"segment {key}, {field}: {exc}") from None
        if not new_value.overridden:
            new_value = dataclasses.replace(new_value, reason=None)
        new = dataclasses.replace(old, fields={**old.fields, field: new_value})
        return dataclasses.replace(self, segments=tuple(new if s.key == key else s for s in self.segments))

    def with_assignment(self, sop_instance_uid: str, side: str, segment: str, reason: str | None) -> ReadContent:
        """A copy with the clip assigned to ``segment`` and ``side`` (``R``/``L``; the IVC is filed under ``R``).

        Segment ``unassigned`` with side ``unassigned`` or the model's side puts the clip back where the model
        left it. A segment the read has no finding for comes with the clip (:func:`_with_assigned_segments`)
        and goes when its last clip is placed elsewhere.
        """
        old = self.clip(sop_instance_uid)
        try:
            new_segment = Segment.parse(segment)
            new_side = Laterality(side.strip().upper() if side.strip().lower() != "unassigned" else "unassigned")
        except ValueError as exc:
            raise InvalidReadError(f"clip {sop_instance_uid}: {exc}") from None
        if new_segment is not Segment.UNASSIGNED and not SEGMENTS[new_segment].paired:
            new_side = Laterality.RIGHT
        if new_segment is Segment.UNASSIGNED and new_side in (Laterality.UNASSIGNED, old.model_side):
            new_side, new_segment = old.model_side, old.model_segment
        back = (new_side, new_segment) == (old.model_side, old.model_segment)
        if not back and (new_segment is Segment.UNASSIGNED) != (new_side is Laterality.UNASSIGNED):
            raise InvalidReadError(f"clip {sop_instance_uid}: assign both a segment and a side (R or L), or neither")
        new = dataclasses.replace(old, side=new_side, segment=new_segment, reason=_reason(reason))
        if not new.reader_changed:
            new = dataclasses.replace(new, reason=None)
        clips = tuple(new if c.sop_instance_uid == sop_instance_uid else c for c in self.clips)
        touched = {k for k in (old.assigned_key, new.assigned_key) if k is not None}
        return _with_assigned_segments(self.segments, clips, touched)

    def to_json(self) -> dict[str, Any]:
        """The content as JSON-compatible values (what the database stores)."""
        return {"segments": [_segment_json(s) for s in self.segments], "clips": [_clip_json(c) for c in self.clips]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReadContent:
        """Parse :meth:`to_json` output (also content stored before segments from assignments existed)."""
        segments = tuple(
            SegmentRead(Laterality(s["side"]), Segment.parse(s["segment"]),
                        {n: FieldValue(v["model"], v["reader"], v["reason"]) for n, v in s["fields"].items()},
                        _assigned_clips(s))
            for s in data["segments"])
        clips = tuple(ClipAssignment(c["sop_instance_uid"], Laterality(c["model_side"]),
                                     Segment.parse(c["model_segment"]), Laterality(c["side"]),
                                     Segment.parse(c["segment"]), c["reason"], c.get("evidence"))
                      for c in data["clips"])
        return cls(segments, clips)

    def canonical_json(self) -> bytes:
        """UTF-8 JSON with sorted keys and no whitespace: the bytes a signature's sha256 covers."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def sha256(self) -> str:
        """Hex sha256 of :meth:`canonical_json`."""
        return hashlib.sha256(self.canonical_json()).hexdigest()


def _segment_json(s: SegmentRead) -> dict[str, Any]:
    out: dict[str, Any] = {"side": s.side.value, "segment": s.segment.value,
                           "fields": {n: {"model": v.model, "reader": v.reader, "reason": v.reason}
                                      for n, v in s.fields.items()}}
    if s.from_assignment:
        out |= {"origin": READER_ASSIGNMENT, "assigned_clips": list(s.assigned_clips)}
    return out


def _clip_json(c: ClipAssignment) -> dict[str, Any]:
    out: dict[str, Any] = {"sop_instance_uid": c.sop_instance_uid, "model_side": c.model_side.value,
                           "model_segment": c.model_segment.value, "side": c.side.value, "segment": c.segment.value,
                           "reason": c.reason}
    if c.evidence is not None:
        out["evidence"] = thawed_json(c.evidence)
    return out


def _assigned_clips(s: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``assigned_clips`` of a stored segment; () for the model's (no ``origin``)."""
    origin = s.get("origin")
    if origin is None:
        return ()
    if origin != READER_ASSIGNMENT or not s.get("assigned_clips"):
        raise InvalidReadError(f"segment {s['side']}:{s['segment']}: origin {origin!r} with clips "
                               f"{s.get('assigned_clips')!r}; expected {READER_ASSIGNMENT!r} and at least one clip")
    return tuple(str(uid) for uid in s["assigned_clips"])


def _assigned_segment(side: Laterality, segment: Segment, supporting: Sequence[ClipAssignment],
                      previous: SegmentRead | None) -> SegmentRead:
    """A segment from the reader's assignment of ``supporting``: model values derived from those clips.

    The reader's overrides of ``previous`` (the segment before its clips changed) stay, with their reasons;
    the other fields follow the new model values.
    """
    values = model_values(derived_findings(side, segment, [(c.sop_instance_uid, c.evidence) for c in supporting]))
    fields = {}
    for name, model in values.items():
        kept = None if previous is None else previous.fields[name]
        value = FieldValue(model, model)
        if kept is not None and kept.overridden:
            candidate = FieldValue(model, kept.reader, kept.reason)
            value = candidate if candidate.overridden else value
        fields[name] = value
    return SegmentRead(side, segment, fields, tuple(c.sop_instance_uid for c in supporting))


def _with_assigned_segments(segments: Sequence[SegmentRead], clips: tuple[ClipAssignment, ...],
                            keys: set[str]) -> ReadContent:
    """``segments`` with those of ``keys`` made to follow ``clips``.

    A key the model reported is left as it is. Otherwise its segment comes from the clips assigned to it, or
    is removed (with the reader's edits on it) when none is; a new one goes where report.json orders it.
    """
    out = list(segments)
    model_keys = {s.key for s in segments if not s.from_assignment}
    for key in sorted(keys - model_keys):
        supporting = [c for c in clips if c.assigned_key == key]
        previous = next((s for s in out if s.key == key), None)
        if previous is not None:
            out.remove(previous)
        if not supporting:
            continue
        new = _assigned_segment(supporting[0].side, supporting[0].segment, supporting, previous)
        order = report_order(new.side, new.segment)
        at = next((i for i, s in enumerate(out) if report_order(s.side, s.segment) > order), len(out))
        out.insert(at, new)
    return ReadContent(tuple(out), clips)


def prefill(document: Mapping[str, Any]) -> ReadContent:
    """A read that confirms every finding of report.json: reader value = model value for every field.

    Clips whose segment or side the model left ``unassigned`` become assignable clips; each keeps its
    findings (:func:`~dvt_us.service.review.assigned_segments.clip_evidence`) for a segment it may be assigned to.
    """
    segments = tuple(
        SegmentRead(Laterality(s["side"]), Segment.parse(s["segment"]),
                    {name: FieldValue(check_value(name, s.get(name)), check_value(name, s.get(name)))
                     for name in FIELDS})
        for s in document["segments"])
    clips = tuple(
        ClipAssignment(str(c["sop_instance_uid"]), Laterality(c["side"]), Segment.parse(c["segment"]),
                       Laterality(c["side"]), Segment.parse(c["segment"]), evidence=clip_evidence(c))
        for c in document["clips"] if c["side"] == "unassigned" or c["segment"] == "unassigned")
    return ReadContent(segments, clips)


def merged_prefill(first: ReadContent, second: ReadContent, agree: Sequence[tuple[str, str]]) -> ReadContent:
    """The adjudication's starting point, from both reads.

    Where the reads agree (``agree``: the (segment key, field) pairs that do, within tolerance), read 1's value
    and reason; elsewhere the model's value, for the adjudicator to decide. A clip placed alike by both reads
    keeps that placement (and read 1's reason); one placed differently goes back to the model's (unassigned).

    Segments from the reader's assignment then follow the merged placements: one that both reads derive from
    the same clips is kept, with read 1's values where the reads agree; one only a read has came from a
    placement the reads disagree on (itself a discordance), so it is absent until the adjudicator assigns the
    clip, and then derived from the model afresh. The model's segments are in both reads (NotFoundError if not).
    """
    agreed = set(agree)
    segments = []
    for s1 in first.segments:
        if s1.from_assignment:
            continue
        second.segment(s1.key)
        segments.append(SegmentRead(s1.side, s1.segment, {name: v1 if (s1.key, name) in agreed
                                                          else FieldValue(v1.model, v1.model)
                                                          for name, v1 in s1.fields.items()}))
    clips = []
    for c1 in first.clips:
        c2 = second.clip(c1.sop_instance_uid)
        same = (c1.side, c1.segment) == (c2.side, c2.segment)
        clips.append(c1 if same else dataclasses.replace(c1, side=c1.model_side, segment=c1.model_segment, reason=None))
    merged = _with_assigned_segments(segments, tuple(clips), {c.assigned_key for c in clips if c.assigned_key})
    return dataclasses.replace(merged, segments=tuple(_agreed_values(s, first, second, agreed)
                                                      for s in merged.segments))


def _agreed_values(merged: SegmentRead, first: ReadContent, second: ReadContent,
                   agreed: set[tuple[str, str]]) -> SegmentRead:
    """A merged segment from the reader's assignment with read 1's values where both reads derive it alike."""
    s1, s2 = (next((r for r in read.segments if r.key == merged.key), None) for read in (first, second))
    if not merged.from_assignment or s1 is None or s2 is None or \
            not s1.assigned_clips == s2.assigned_clips == merged.assigned_clips:
        return merged
    return dataclasses.replace(merged, fields={
        name: s1.fields[name] if (merged.key, name) in agreed and s1.fields[name].model == v.model else v
        for name, v in merged.fields.items()})
