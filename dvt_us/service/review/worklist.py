"""The worklist: studies by trial, site, subject, visit and state, with filters and counts by state.

A reader sees what they may read (studies awaiting a read with a free slot, and those they hold a read of);
an adjudicator and an admin see every study.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from sqlalchemy import Select, and_, exists, func, or_, select

from dvt_us.service.review import audit
from dvt_us.service.review.enum import Action, ReadSlot, ReviewState, Role
from dvt_us.service.review.models import ReadRow, ReviewStudyRow
from dvt_us.service.review.permissions import authorise
from dvt_us.service.review.records import ReviewStudy, User
from dvt_us.service.review.store import ReviewStore


@dataclass(frozen=True)
class WorklistFilter:
    """Exact-match filters; ``None`` matches everything."""

    trial: str | None = None
    site: str | None = None
    subject: str | None = None
    visit: str | None = None
    state: ReviewState | None = None

    def __post_init__(self) -> None:
        if self.state is not None:
            object.__setattr__(self, "state", ReviewState.parse(str(self.state)))

    def as_dict(self) -> dict[str, str | None]:
        """The filters that are set, for the audit trail."""
        values = {"trial": self.trial, "site": self.site, "subject": self.subject, "visit": self.visit,
                  "state": None if self.state is None else self.state.value}
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class WorklistEntry:
    """One study, and the user's read of it (slot) when they hold one."""

    study: ReviewStudy
    my_slot: ReadSlot | None


@dataclass(frozen=True)
class Worklist:
    """The matching studies (trial, site, subject, visit order) and the count of each state among them."""

    entries: tuple[WorklistEntry, ...]
    counts: Mapping[ReviewState, int]
    """Every state, 0 where none; counted over the filters other than ``state``."""
    total: int


_Query = Select[tuple[ReviewStudyRow]]


def _visible(query: _Query, user: User, double_read: bool) -> _Query:
    if user.role is not Role.READER:
        return query
    mine = exists().where(ReadRow.study_id == ReviewStudyRow.id, ReadRow.reader_id == user.id)
    reads = select(func.count(func.distinct(ReadRow.slot))).where(
        ReadRow.study_id == ReviewStudyRow.id, ReadRow.slot != ReadSlot.ADJUDICATION).scalar_subquery()
    open_states = [ReviewState.AWAITING_READ_1, ReviewState.AWAITING_READ_2]
    free = and_(ReviewStudyRow.state.in_(open_states), reads < (2 if double_read else 1))
    return query.where(or_(mine, free))


def _filtered(query: _Query, filters: WorklistFilter) -> _Query:
    for column, value in ((ReviewStudyRow.trial, filters.trial), (ReviewStudyRow.site, filters.site),
                          (ReviewStudyRow.subject, filters.subject), (ReviewStudyRow.visit, filters.visit)):
        if value is not None:
            query = query.where(column == value)
    return query


def worklist(store: ReviewStore, user: User, now: datetime, filters: WorklistFilter | None = None,
             *, limit: int = 500, offset: int = 0) -> Worklist:
    """The user's worklist (``worklist.view``; audited as a view)."""
    authorise(user, Action.WORKLIST_VIEW)
    wanted = filters or WorklistFilter()
    base = _filtered(_visible(select(ReviewStudyRow), user, store.rules.double_read), wanted)
    listed = base if wanted.state is None else base.where(ReviewStudyRow.state == wanted.state)
    listed = listed.order_by(ReviewStudyRow.trial, ReviewStudyRow.site, ReviewStudyRow.subject, ReviewStudyRow.visit,
                             ReviewStudyRow.id).limit(limit).offset(offset)
    sub = base.subquery()
    with store.write() as session:
        rows: list[ReviewStudyRow] = list(session.scalars(listed))
        slots = {study_id: slot for study_id, slot in session.execute(select(ReadRow.study_id, ReadRow.slot).where(
            ReadRow.reader_id == user.id, ReadRow.study_id.in_([r.id for r in rows])))}
        by_state = select(sub.c.state, func.count()).group_by(sub.c.state)
        counted: dict[str, int] = {state: n for state, n in session.execute(by_state)}
        counts = {state: int(counted.get(state, 0)) for state in ReviewState}
        entries = tuple(WorklistEntry(ReviewStudy.from_row(r), None if r.id not in slots else ReadSlot(slots[r.id]))
                        for r in rows)
        audit.append(session, user.username, "worklist.view", "worklist",
                     {"filters": wanted.as_dict(), "returned": len(entries), "offset": offset}, now=now)
    return Worklist(entries, MappingProxyType(counts), sum(counts.values()))
