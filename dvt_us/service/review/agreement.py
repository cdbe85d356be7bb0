"""Agreement: the model vs the final read, and reader 1 vs reader 2, as Cohen's kappa per segment and field."""

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
from dvt_us.service.review.read_content import ReadContent
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


def _pairs(first: ReadContent, second: ReadContent | None) -> list[tuple[str, str, str, str]]:
    """(segment, field, rater A, rater B) for every categorical field; model vs reader when ``second`` is None."""
    out = []
    for s in first.segments:
        other = None if second is None else second.segment(s.key)
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
    studies = 0
    with store.write() as session:
        for study in session.scalars(query.order_by(ReviewStudyRow.id)):
            signed = latest_versions(session, study.id, signed_only=True)
            if which is Comparison.MODEL_VS_FINAL:
                if study.state is not ReviewState.FINAL or study.final_slot is None:
                    continue
                found = _pairs(ReadContent.from_json(signed[study.final_slot].content), None)
            else:
                if ReadSlot.READ_1 not in signed or ReadSlot.READ_2 not in signed:
                    continue
                found = _pairs(ReadContent.from_json(signed[ReadSlot.READ_1].content),
                               ReadContent.from_json(signed[ReadSlot.READ_2].content))
            studies += 1
            for segment, name, a, b in found:
                pairs[(segment, name)].append((a, b))
                pairs[(ALL_SEGMENTS, name)].append((a, b))
        order = [s.value for s in Segment]
        by_segment = tuple(FieldAgreement(seg, name, cohen_kappa(p)) for (seg, name), p in sorted(
            pairs.items(), key=lambda item: (order.index(item[0][0]) if item[0][0] in order else -1,
                                             list(FIELDS).index(item[0][1]))) if seg != ALL_SEGMENTS)
        pooled = tuple(FieldAgreement(ALL_SEGMENTS, name, cohen_kappa(pairs[(ALL_SEGMENTS, name)]))
                       for name in FIELDS if (ALL_SEGMENTS, name) in pairs)
        audit.append(session, user.username, "agreement.view", "agreement",
                     {"comparison": which.value, "filters": wanted.as_dict(), "studies": studies}, now=now)
    return AgreementReport(which, studies, by_segment, pooled)
