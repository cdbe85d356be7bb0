"""When two reads disagree, and where a study stands: pure functions of the signed reads and the rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dvt_us.service.config import ReviewConfig
from dvt_us.service.review.enum import ReadSlot, ReviewState
from dvt_us.service.review.fields import FIELDS, JsonScalar, field_spec
from dvt_us.service.review.read_content import ReadContent, SegmentRead

CLIP_ASSIGNMENT = "clip_assignment"
"""The pseudo-field of a discordance in a clip's segment and side (the key is then the SOP Instance UID)."""
SEGMENT_PRESENCE = "segment"
"""The pseudo-field of a segment finding only one read has (values ``present``/``absent``)."""


@dataclass(frozen=True)
class DiscordanceRules:
    """Which fields two reads must agree on, and how far apart two residual diameters may be."""

    must_agree: frozenset[str]
    residual_diameter_tolerance_mm: float
    double_read: bool = True
    """Whether each study needs two independent reads (else read 1 is final once signed)."""

    def __post_init__(self) -> None:
        for name in self.must_agree:
            field_spec(name)  # raises, listing the editable fields
        if self.residual_diameter_tolerance_mm < 0:
            raise ValueError(f"residual_diameter_tolerance_mm {self.residual_diameter_tolerance_mm}: not negative")

    @classmethod
    def from_config(cls, config: ReviewConfig) -> DiscordanceRules:
        """The rules of the service configuration's ``review:`` section."""
        return cls(frozenset(config.must_agree), config.residual_diameter_tolerance_mm, config.double_read)

    def agree(self, field: str, a: JsonScalar, b: JsonScalar) -> bool:
        """Whether two reader values of ``field`` agree (``null`` agrees only with ``null``)."""
        if field not in self.must_agree or a == b:
            return True
        if a is None or b is None or FIELDS[field].categorical:
            return False
        if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str):
            return False
        return abs(float(a) - float(b)) <= self.residual_diameter_tolerance_mm + 1e-9


@dataclass(frozen=True)
class Discordance:
    """One field on which read 1 and read 2 disagree."""

    key: str
    """Segment key (``R:CFV``), or a clip's SOP Instance UID for :data:`CLIP_ASSIGNMENT`."""
    field: str
    read_1: JsonScalar
    read_2: JsonScalar
    why: str | None = None
    """Why the reads disagree where the values do not say it (a segment only one read has)."""


def _presence(only: SegmentRead, in_read_1: bool) -> Discordance:
    """A segment that only read 1 (``in_read_1``) or only read 2 has."""
    why = f"only read {1 if in_read_1 else 2} has segment {only.key}"
    if only.from_assignment:
        clips = f"clip{'s' if len(only.assigned_clips) > 1 else ''} {', '.join(only.assigned_clips)}"
        why += f": it assigned {clips} there, and the model reported no finding for it"
    values = ("present", "absent") if in_read_1 else ("absent", "present")
    return Discordance(only.key, SEGMENT_PRESENCE, *values, why=why)


def discordances(first: ReadContent, second: ReadContent, rules: DiscordanceRules) -> tuple[Discordance, ...]:
    """Every field of ``rules.must_agree`` on which the reads disagree, and every clip assigned differently.

    A segment only one read has (from a clip that read assigned to a segment the model did not report) is
    one discordance, :data:`SEGMENT_PRESENCE`, whatever the rules; its fields are not compared. Read 1's
    segments come first, then those only read 2 has, then the clips.
    """
    found = []
    keys_2 = {s.key for s in second.segments}
    for s1 in first.segments:
        if s1.key not in keys_2:
            found.append(_presence(s1, in_read_1=True))
            continue
        s2 = second.segment(s1.key)
        for name, v1 in s1.fields.items():
            v2 = s2.fields[name]
            if not rules.agree(name, v1.reader, v2.reader):
                found.append(Discordance(s1.key, name, v1.reader, v2.reader))
    keys_1 = {s.key for s in first.segments}
    found.extend(_presence(s2, in_read_1=False) for s2 in second.segments if s2.key not in keys_1)
    for c1 in first.clips:
        c2 = second.clip(c1.sop_instance_uid)
        if (c1.side, c1.segment) != (c2.side, c2.segment):
            found.append(Discordance(c1.sop_instance_uid, CLIP_ASSIGNMENT, f"{c1.side.value}:{c1.segment.value}",
                                     f"{c2.side.value}:{c2.segment.value}"))
    return tuple(found)


def agreeing_fields(first: ReadContent, second: ReadContent, rules: DiscordanceRules) -> list[tuple[str, str]]:
    """The (segment key, field) pairs on which the reads agree (every field not in ``must_agree`` included).

    Only segments both reads have count: a segment one read lacks agrees on nothing.
    """
    found = discordances(first, second, rules)
    disagree = {(d.key, d.field) for d in found}
    one_read = {d.key for d in found if d.field == SEGMENT_PRESENCE}
    return [(s.key, name) for s in first.segments if s.key not in one_read for name in s.fields
            if (s.key, name) not in disagree]


@dataclass(frozen=True)
class StudyStanding:
    """Where a study stands, and which read is final when it is."""

    state: ReviewState
    final_slot: ReadSlot | None
    discordances: tuple[Discordance, ...] = ()


def study_standing(signed: Mapping[ReadSlot, ReadContent], adjudication_started: bool,
                   rules: DiscordanceRules) -> StudyStanding:
    """The state of a study from the latest signed version of each of its reads.

    A signed adjudication is final. Otherwise: no signed read, awaiting read 1; one, final under a single read
    and awaiting read 2 under a double read; two, final (read 1 is the consensus) when concordant, else
    discordant, or in adjudication once an adjudicator has started.
    """
    if ReadSlot.ADJUDICATION in signed:
        return StudyStanding(ReviewState.FINAL, ReadSlot.ADJUDICATION)
    reads = [slot for slot in (ReadSlot.READ_1, ReadSlot.READ_2) if slot in signed]
    if not reads:
        return StudyStanding(ReviewState.AWAITING_READ_1, None)
    if not rules.double_read:
        return StudyStanding(ReviewState.FINAL, reads[0])
    if len(reads) == 1:
        return StudyStanding(ReviewState.AWAITING_READ_2, None)
    found = discordances(signed[ReadSlot.READ_1], signed[ReadSlot.READ_2], rules)
    if not found:
        return StudyStanding(ReviewState.FINAL, ReadSlot.READ_1)
    return StudyStanding(ReviewState.IN_ADJUDICATION if adjudication_started else ReviewState.DISCORDANT, None, found)
