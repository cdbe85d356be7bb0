"""Agreement: the model vs the final read, and reader 1 vs reader 2, as Cohen's kappa per segment and field.

Kappa needs both raters' values of one finding. Reader 1 vs reader 2 pairs the segments both reads have; the
model vs the final read pairs the segments the model reported. A segment only one rater has (a reader assigned
a clip to a segment the model did not report, and the other read did not) is left out of the kappas and
counted in :attr:`AgreementReport.unpaired_segments`: its derived model values were never the model's report,
and a segment one reader lacks has no value of the other to compare.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select

from dvt_us.anatomy import Segment
from dvt_us.service.review import audit
from dvt_us.service.review.enum import Action, ReadSlot, ReviewState
from dvt_us.service.review.fields import FIELDS, category
from dvt_us.service.review.kappa import Kappa, cohen_kappa
from dvt_us.service.review.models import ReviewStudyRow
from dvt_us.service.review.permissions import authorise
from dvt_us.service.review.read_content import ReadContent, SegmentRead
from dvt_us.service.review.records import User
from dvt_us.service.review.store import ReviewStore
from dvt_us.service.review.studies import latest_versions
from dvt_us.service.review.worklist import WorklistFilter

ALL_SEGMENTS = "all"
"""The ``segment`` of the kappa pooled over every segment."""


class Comparison(StrEnum):
    """Which two raters are compared."""

    MODEL_VS_FINAL = "model_vs_final"
    """The model's value against the final read's, over final studies."""
    READER_1_VS_READER_2 = "reader_1_vs_reader_2"
    """Read 1 against read 2 (newest signed versions), over studies with both signed."""


@dataclass(frozen=True)
class FieldAgreement:
    """Kappa of one categorical field at one segment (both legs pooled), or over all segments."""

    segment: str
    """A segment key (``CFV``) or :data:`ALL_SEGMENTS`."""
    field: str
    kappa: Kappa


@dataclass(frozen=True)
class AgreementReport:
    """Per-segment and pooled kappas of every categorical field; rater A is the first named in ``comparison``."""

    comparison: Comparison
    studies: int
    by_segment: tuple[FieldAgreement, ...]
    pooled: tuple[FieldAgreement, ...]
    unpaired_segments: int = 0
    """Segment findings of the studies that only one rater has, left out of the kappas."""


_Paired = list[tuple[SegmentRead, SegmentRead | None]]
"""Segments both raters have: (rater A's, rater B's); B None when rater A is the model (its values in A's)."""


def _paired_segments(first: ReadContent, second: ReadContent | None) -> tuple[_Paired, int]:
    """The segments both raters have, and how many segments only one has; model vs ``first`` if ``second`` is None."""
    if second is None:
        paired: _Paired = [(s, None) for s in first.segments if not s.from_assignment]
        return paired, len(first.segments) - len(paired)
    keys_2 = {s.key for s in second.segments}
    paired = [(s, second.segment(s.key)) for s in first.segments if s.key in keys_2]
    return paired, len(first.segments) + len(second.segments) - 2 * len(paired)


def _pairs(paired: _Paired) -> list[tuple[str, str, str, str]]:
    """(segment, field, rater A, rater B) for every categorical field; model vs reader where B is None."""
    out = []
    for s, other in paired:
        for name, spec in FIELDS.items():
            if not spec.categorical:
                continue
            value = s.fields[name]
            a, b = (value.model, value.reader) if other is None else (value.reader, other.fields[name].reader)
            out.append((s.segment.value, name, category(a), category(b)))
    return out


def agreement(store: ReviewStore, user: User, comparison: Comparison | str, now: datetime,
              filters: WorklistFilter | None = None) -> AgreementReport:
    """Kappa per segment and field over the matching studies (``agreement.view``; audited)."""
    authorise(user, Action.AGREEMENT_VIEW)
    which = Comparison(comparison)
    wanted = filters or WorklistFilter()
    query = select(ReviewStudyRow)
    for column, value in ((ReviewStudyRow.trial, wanted.trial), (ReviewStudyRow.site, wanted.site),
                          (ReviewStudyRow.subject, wanted.subject), (ReviewStudyRow.visit, wanted.visit)):
        if value is not None:
            query = query.where(column == value)
    pairs: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    studies = unpaired = 0
    with store.write() as session:
        for study in session.scalars(query.order_by(ReviewStudyRow.id)):
            signed = latest_versions(session, study.id, signed_only=True)
            if which is Comparison.MODEL_VS_FINAL:
                if study.state is not ReviewState.FINAL or study.final_slot is None:
                    continue
                paired, left_out = _paired_segments(ReadContent.from_json(signed[study.final_slot].content), None)
            else:
                if ReadSlot.READ_1 not in signed or ReadSlot.READ_2 not in signed:
                    continue
                paired, left_out = _paired_segments(ReadContent.from_json(signed[ReadSlot.READ_1].content),
                                                    ReadContent.from_json(signed[ReadSlot.READ_2].content))
            studies += 1
            unpaired += left_out
            for segment, name, a, b in _pairs(paired):
                pairs[(segment, name)].append((a, b))
                pairs[(ALL_SEGMENTS, name)].append((a, b))
        order = [s.value for s in Segment]
        by_segment = tuple(FieldAgreement(seg, name, cohen_kappa(p)) for (seg, name), p in sorted(
            pairs.items(), key=lambda item: (order.index(item[0][0]) if item[0][0] in order else -1,
                                             list(FIELDS).index(item[0][1]))) if seg != ALL_SEGMENTS)
        pooled = tuple(FieldAgreement(ALL_SEGMENTS, name, cohen_kappa(pairs[(ALL_SEGMENTS, name)]))
                       for name in FIELDS if (ALL_SEGMENTS, name) in pairs)
        audit.append(session, user.username, "agreement.view", "agreement",
                     {"comparison": which.value, "filters": wanted.as_dict(), "studies": studies,
                      "unpaired_segments": unpaired}, now=now)
    return AgreementReport(which, studies, by_segment, pooled, unpaired)
