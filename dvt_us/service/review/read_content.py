"""What a read holds: per segment, each editable field's model value, reader value and reason; clip assignments.

A read starts as the model's findings (:func:`prefill`) and is changed one edit at a time; every value that
differs from the model's needs a reason, and a clip the model left unassigned may be given a segment and side
(with a reason). The content is pure data: canonical JSON (:meth:`ReadContent.canonical_json`) and its sha256
are what a signature covers.
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
from dvt_us.service.review.errors import InvalidReadError, NotFoundError
from dvt_us.service.review.fields import FIELDS, JsonScalar, check_value


def segment_key(side: Laterality, segment: Segment) -> str:
    """The key of one leg segment in a read, e.g. ``R:CFV`` (the IVC is filed under ``R``, as the pipeline does)."""
    return f"{side.value}:{segment.value}"


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

    def __post_init__(self) -> None:
        if set(self.fields) != set(FIELDS):
            raise InvalidReadError(f"segment {self.key}: fields {sorted(self.fields)}, expected {sorted(FIELDS)}")
        object.__setattr__(self, "fields", MappingProxyType({name: self.fields[name] for name in FIELDS}))

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

    def __post_init__(self) -> None:
        if self.reader_changed and self.reason is None:
            raise InvalidReadError(f"clip {self.sop_instance_uid}: assigning a segment and side needs a reason")

    @property
    def reader_changed(self) -> bool:
        """The reader assigned something other than the model's (unassigned) segment or side."""
        return (self.side, self.segment) != (self.model_side, self.model_segment)


@dataclass(frozen=True)
class ReadContent:
    """Everything a reader decides for one visit: segment findings (report order) and clip assignments."""

    segments: tuple[SegmentRead, ...]
    clips: tuple[ClipAssignment, ...] = ()

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
        """A copy with the clip assigned to ``segment`` and ``side`` (``R``/``L``; the IVC is filed under ``R``)."""
        old = self.clip(sop_instance_uid)
        try:
            new_segment = Segment.parse(segment)
            new_side = Laterality(side.strip().upper() if side.strip().lower() != "unassigned" else "unassigned")
        except ValueError as exc:
            raise InvalidReadError(f"clip {sop_instance_uid}: {exc}") from None
        if new_segment is not Segment.UNASSIGNED and not SEGMENTS[new_segment].paired:
            new_side = Laterality.RIGHT
        if (new_segment is Segment.UNASSIGNED) != (new_side is Laterality.UNASSIGNED):
            raise InvalidReadError(f"clip {sop_instance_uid}: assign both a segment and a side (R or L), or neither")
        new = dataclasses.replace(old, side=new_side, segment=new_segment, reason=_reason(reason))
        if not new.reader_changed:
            new = dataclasses.replace(new, reason=None)
        return dataclasses.replace(self, clips=tuple(new if c.sop_instance_uid == sop_instance_uid else c
                                                     for c in self.clips))

    def to_json(self) -> dict[str, Any]:
        """The content as JSON-compatible values (what the database stores)."""
        return {
            "segments": [{"side": s.side.value, "segment": s.segment.value,
                          "fields": {n: {"model": v.model, "reader": v.reader, "reason": v.reason}
                                     for n, v in s.fields.items()}} for s in self.segments],
            "clips": [{"sop_instance_uid": c.sop_instance_uid, "model_side": c.model_side.value,
                       "model_segment": c.model_segment.value, "side": c.side.value, "segment": c.segment.value,
                       "reason": c.reason} for c in self.clips],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReadContent:
        """Parse :meth:`to_json` output."""
        segments = tuple(
            SegmentRead(Laterality(s["side"]), Segment.parse(s["segment"]),
                        {n: FieldValue(v["model"], v["reader"], v["reason"]) for n, v in s["fields"].items()})
            for s in data["segments"])
        clips = tuple(ClipAssignment(c["sop_instance_uid"], Laterality(c["model_side"]),
                                     Segment.parse(c["model_segment"]), Laterality(c["side"]),
                                     Segment.parse(c["segment"]), c["reason"]) for c in data["clips"])
        return cls(segments, clips)

    def canonical_json(self) -> bytes:
        """UTF-8 JSON with sorted keys and no whitespace: the bytes a signature's sha256 covers."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def sha256(self) -> str:
        """Hex sha256 of :meth:`canonical_json`."""
        return hashlib.sha256(self.canonical_json()).hexdigest()


def prefill(document: Mapping[str, Any]) -> ReadContent:
    """A read that confirms every finding of report.json: reader value = model value for every field.

    Clips whose segment or side the model left ``unassigned`` become assignable clips.
    """
    segments = tuple(
        SegmentRead(Laterality(s["side"]), Segment.parse(s["segment"]),
                    {name: FieldValue(check_value(name, s.get(name)), check_value(name, s.get(name)))
                     for name in FIELDS})
        for s in document["segments"])
    clips = tuple(
        ClipAssignment(str(c["sop_instance_uid"]), Laterality(c["side"]), Segment.parse(c["segment"]),
                       Laterality(c["side"]), Segment.parse(c["segment"]))
        for c in document["clips"] if c["side"] == "unassigned" or c["segment"] == "unassigned")
    return ReadContent(segments, clips)


def merged_prefill(first: ReadContent, second: ReadContent, agree: Sequence[tuple[str, str]]) -> ReadContent:
    """The adjudication's starting point, from both reads.

    Where the reads agree (``agree``: the (segment key, field) pairs that do, within tolerance), read 1's value
    and reason; elsewhere the model's value, for the adjudicator to decide. A clip assigned alike by both
    reads keeps that assignment.
    """
    agreed = set(agree)
    segments = []
    for s1 in first.segments:
        second.segment(s1.key)  # the reads are of the same report: a missing segment is a NotFoundError
        fields = {}
        for name, v1 in s1.fields.items():
            fields[name] = v1 if (s1.key, name) in agreed else FieldValue(v1.model, v1.model)
        segments.append(SegmentRead(s1.side, s1.segment, fields))
    clips = tuple(c1 if c1 == second.clip(c1.sop_instance_uid) else dataclasses.replace(
        c1, side=c1.model_side, segment=c1.model_segment, reason=None) for c1 in first.clips)
    return ReadContent(tuple(segments), clips)
