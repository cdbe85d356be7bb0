"""The worklist: studies by trial, site, subject, visit and state, with filters and counts by state.

A reader sees what they may read (studies awaiting a read with a free slot, and those they hold a read of);
an adjudicator and an admin see every study. A reader is blinded to the other read: their entries, counts
and state filter are in :class:`~dvt_us.service.review.reader_view.ReaderState` (never ``discordant`` or
``in_adjudication``), computed in the query from what the reader knows, so that nothing of the true state
shows; adjudicators and admins get the true :class:`~dvt_us.service.review.enum.ReviewState`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, literal, or_, select

from dvt_us.service.review import audit
from dvt_us.service.review.enum import Action, ReadSlot, ReviewState
from dvt_us.service.review.models import ReadRow, ReviewStudyRow
from dvt_us.service.review.permissions import authorise
from dvt_us.service.review.reader_view import ReaderState, ShownState, blinded, parse_shown_state, shown_states
from dvt_us.service.review.records import User
from dvt_us.service.review.store import ReviewStore


def _parse_state(text: str) -> ShownState:
    for kind in (ReviewState, ReaderState):
        try:
            return kind.parse(text)
        except ValueError:
            continue
    valid = ", ".join(dict.fromkeys([*ReviewState, *ReaderState]))
    raise ValueError(f"unknown review state {text!r}; valid: {valid}")


@dataclass(frozen=True)
class WorklistFilter:
    """Exact-match filters; ``None`` matches everything.

    ``state`` is in the user's vocabulary (:func:`~dvt_us.service.review.reader_view.shown_states`); a text is
    parsed as a true state first, then as a reader's, and :func:`worklist` refuses one the user may not use.
    """

    trial: str | None = None
    site: str | None = None
    subject: str | None = None
    visit: str | None = None
    state: ShownState | None = None

    def __post_init__(self) -> None:
        given: object = self.state  # a text from a caller that did not parse it
        if given is not None and not isinstance(given, ReviewState | ReaderState):
            object.__setattr__(self, "state", _parse_state(str(given)))

    def as_dict(self) -> dict[str, str | None]:
        """The filters that are set, for the audit trail."""
        values = {"trial": self.trial, "site": self.site, "subject": self.subject, "visit": self.visit,
                  "state": None if self.state is None else self.state.value}
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class WorklistEntry:
    """One study's worklist columns, what the user is shown of its state, and the user's read (slot) of it."""

    study_id: int
    trial: str
    site: str
    subject: str
    visit: str
    state: ShownState
    """The true state for an adjudicator or admin, the reader's state for a reader."""
    my_slot: ReadSlot | None
    final_slot: ReadSlot | None
    """Which read is final, for an adjudicator or admin; always None for a reader."""


@dataclass(frozen=True)
class Worklist:
    """The matching studies (trial, site, subject, visit order) and the count of each state among them."""

    entries: tuple[WorklistEntry, ...]
    counts: Mapping[ShownState, int]
    """Every state the user may be shown, 0 where none; counted over the filters other than ``state``."""
    total: int


def _visible(query: Select[Any], user: User, double_read: bool) -> Select[Any]:
    if not blinded(user):
        return query
    mine = exists().where(ReadRow.study_id == ReviewStudyRow.id, ReadRow.reader_id == user.id)
    reads = select(func.count(func.distinct(ReadRow.slot))).where(
        ReadRow.study_id == ReviewStudyRow.id, ReadRow.slot != ReadSlot.ADJUDICATION).scalar_subquery()
    open_states = [ReviewState.AWAITING_READ_1, ReviewState.AWAITING_READ_2]
    free = and_(ReviewStudyRow.state.in_(open_states), reads < (2 if double_read else 1))
    return query.where(or_(mine, free))


def _filtered(query: Select[Any], filters: WorklistFilter) -> Select[Any]:
    for column, value in ((ReviewStudyRow.trial, filters.trial), (ReviewStudyRow.site, filters.site),
                          (ReviewStudyRow.subject, filters.subject), (ReviewStudyRow.visit, filters.visit)):
        if value is not None:
            query = query.where(column == value)
    return query


def _reader_state(user: User) -> ColumnElement[str]:
    """:func:`~dvt_us.service.review.reader_view.reader_state` of each study, as SQL.

    A read's versions before its newest are all signed (a version is amended only once signed), so "the newest
    version is unsigned" is "some version is unsigned".
    """
    own = (ReadRow.study_id == ReviewStudyRow.id, ReadRow.reader_id == user.id)
    return case((ReviewStudyRow.state == ReviewState.FINAL, literal(ReaderState.FINAL.value)),
                (~exists().where(*own), literal(ReaderState.AWAITING_READ.value)),
                (exists().where(*own, ReadRow.signed_at.is_(None)), literal(ReaderState.IN_PROGRESS.value)),
                else_=literal(ReaderState.READ_SUBMITTED.value))


def _shown(user: User, value: str) -> ShownState:
    return ReaderState(value) if blinded(user) else ReviewState(value)


def worklist(store: ReviewStore, user: User, now: datetime, filters: WorklistFilter | None = None,
             *, limit: int = 500, offset: int = 0) -> Worklist:
    """The user's worklist (``worklist.view``; audited as a view).

    A ValueError, listing the user's states, when ``filters.state`` is not one the user may be shown.
    """
    authorise(user, Action.WORKLIST_VIEW)
    wanted = filters or WorklistFilter()
    chosen = None if wanted.state is None else parse_shown_state(user, wanted.state.value)
    state: ColumnElement[Any] = _reader_state(user) if blinded(user) else ReviewStudyRow.state.expression

    def matching(query: Select[Any]) -> Select[Any]:
        return _filtered(_visible(query.select_from(ReviewStudyRow), user, store.rules.double_read), wanted)

    listed = matching(select(ReviewStudyRow, state.label("shown")))
    if chosen is not None:
        listed = listed.where(state == chosen)
    listed = listed.order_by(ReviewStudyRow.trial, ReviewStudyRow.site, ReviewStudyRow.subject, ReviewStudyRow.visit,
                             ReviewStudyRow.id).limit(limit).offset(offset)
    counted_states = matching(select(state.label("shown"))).subquery()
    with store.write() as session:
        rows = [(row, str(shown)) for row, shown in session.execute(listed)]
        slots = {study_id: slot for study_id, slot in session.execute(select(ReadRow.study_id, ReadRow.slot).where(
            ReadRow.reader_id == user.id, ReadRow.study_id.in_([r.id for r, _ in rows])))}
        by_state = select(counted_states.c.shown, func.count()).group_by(counted_states.c.shown)
        counted = {str(shown): int(n) for shown, n in session.execute(by_state)}
        counts = {s: counted.get(s.value, 0) for s in shown_states(user)}
        entries = tuple(WorklistEntry(r.id, r.trial, r.site, r.subject, r.visit, _shown(user, shown),
                                      None if r.id not in slots else ReadSlot(slots[r.id]),
                                      None if blinded(user) or r.final_slot is None else ReadSlot(r.final_slot))
                        for r, shown in rows)
        audit.append(session, user.username, "worklist.view", "worklist",
                     {"filters": wanted.as_dict(), "returned": len(entries), "offset": offset}, now=now)
    return Worklist(entries, MappingProxyType(counts), sum(counts.values()))
