"""Readers stay blinded to the other read through the study's state, and reader reads lock once both are in.

On both backends: what a reader gets of the worklist (entries, counts, filter) and the refusals they meet are
the same whether the other read is unsigned, signed and discordant, or under adjudication; the adjudicator
sees the true state; after final a reader's read stays locked (a single read's excepted) and an adjudicator
corrects a concordant final read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from dvt_us.service.review.adjudication import start_adjudication
from dvt_us.service.review.enum import ReadSlot, ReviewState
from dvt_us.service.review.errors import PermissionDeniedError, ReviewConflictError
from dvt_us.service.review.models import ReadRow
from dvt_us.service.review.reader_view import ReaderState, reader_state
from dvt_us.service.review.reads import LOCKED, FindingEdit, amend_read, edit_read, read_changeable, start_read
from dvt_us.service.review.records import Read, ReviewStudy, User
from dvt_us.service.review.signing import sign_read
from dvt_us.service.review.store import ReviewStore
from dvt_us.service.review.studies import get_study, register_visit_folder
from dvt_us.service.review.worklist import Worklist, WorklistFilter, worklist
from tests.service.review.conftest import PASSWORD, Team, at, review_config

View = tuple[Worklist, tuple[tuple[int, ...], ...], str]


def _register(store: ReviewStore, folder: Path) -> ReviewStudy:
    return register_visit_folder(store, folder, at(0))


def _override_grade(store: ReviewStore, user: User, read: Read, offset_s: float) -> Read:
    """Read ``read`` with one grade set away from the model's (to 3, or 0 where the model said 3)."""
    seg = next(s for s in read.content.segments if s.fields["grade"].model is not None)
    value = 0 if seg.fields["grade"].model == 3 else 3
    return edit_read(store, user, read.id, [FindingEdit(seg.key, "grade", value, "re-measured")], at(offset_s))


def _refusal(store: ReviewStore, user: User, read: Read, offset_s: float) -> str:
    with pytest.raises(ReviewConflictError) as refused:
        amend_read(store, user, read.id, "second thoughts", at(offset_s))
    return str(refused.value)


def _seen(store: ReviewStore, user: User, read: Read | None, offset_s: float) -> View:
    """Everything a reader gets: the worklist, its entries under each state filter, and an amendment's refusal."""
    board = worklist(store, user, at(offset_s))
    filtered = tuple(tuple(e.study_id for e in worklist(store, user, at(offset_s), WorklistFilter(state=s)).entries)
                     for s in ReaderState)
    return board, filtered, "" if read is None else _refusal(store, user, read, offset_s)


def _true_state(store: ReviewStore, team: Team, study_id: int) -> ReviewState:
    return get_study(store, team.ada, study_id, datetime.now(UTC)).state


def test_a_reader_cannot_tell_a_discordant_study_from_one_awaiting_read_2(
        store: ReviewStore, team: Team, visit_dirs: list[Path]) -> None:
    study, free = _register(store, visit_dirs[0]), _register(store, visit_dirs[1])
    first = _override_grade(store, team.ann, start_read(store, team.ann, study.id, at(1)), 2)
    sign_read(store, team.ann, first.id, PASSWORD, at(3))
    second = start_read(store, team.bob, study.id, at(4))
    assert _true_state(store, team, study.id) is ReviewState.AWAITING_READ_2
    ann_awaiting, cy_awaiting = _seen(store, team.ann, first, 5), _seen(store, team.cy, None, 5)
    board = ann_awaiting[0]
    assert [(e.study_id, e.state, e.my_slot, e.final_slot) for e in board.entries] == [
        (study.id, ReaderState.READ_SUBMITTED, ReadSlot.READ_1, None), (free.id, ReaderState.AWAITING_READ, None, None)]
    assert dict(board.counts) == {ReaderState.AWAITING_READ: 1, ReaderState.IN_PROGRESS: 0,
                                  ReaderState.READ_SUBMITTED: 1, ReaderState.FINAL: 0} and board.total == 2
    assert ann_awaiting[1] == ((free.id,), (), (study.id,), ()) and LOCKED in ann_awaiting[2]
    bob_reading = worklist(store, team.bob, at(5)).entries
    assert [(e.study_id, e.state) for e in bob_reading] == [(study.id, ReaderState.IN_PROGRESS),
                                                            (free.id, ReaderState.AWAITING_READ)]

    sign_read(store, team.bob, second.id, PASSWORD, at(6))  # the model's grade: discordant with read 1
    assert _true_state(store, team, study.id) is ReviewState.DISCORDANT
    assert _seen(store, team.ann, first, 7) == ann_awaiting
    assert _seen(store, team.cy, None, 7) == cy_awaiting
    bob_discordant = _seen(store, team.bob, second, 7)
    assert bob_discordant[0].entries[0].state is ReaderState.READ_SUBMITTED
    assert bob_discordant[2] == ann_awaiting[2].replace(f"read {first.id}", f"read {second.id}")
    ada = worklist(store, team.ada, at(7))
    assert ada.counts[ReviewState.DISCORDANT] == 1 and ada.entries[0].state is ReviewState.DISCORDANT

    start_adjudication(store, team.ada, study.id, at(8))
    assert _true_state(store, team, study.id) is ReviewState.IN_ADJUDICATION
    assert _seen(store, team.ann, first, 9) == ann_awaiting
    assert _seen(store, team.bob, second, 9) == bob_discordant
    assert _seen(store, team.cy, None, 9) == cy_awaiting
    ada = worklist(store, team.ada, at(9), WorklistFilter(state=ReviewState.IN_ADJUDICATION))
    assert [e.study_id for e in ada.entries] == [study.id] and ada.counts[ReviewState.IN_ADJUDICATION] == 1
    with pytest.raises(ValueError, match="unknown review state 'discordant'; valid: awaiting_read, in_progress"):
        worklist(store, team.ann, at(9), WorklistFilter(state="discordant"))
    with pytest.raises(ValueError, match="unknown review state 'read_submitted'; valid: awaiting_read_1"):
        worklist(store, team.ada, at(9), WorklistFilter(state=ReaderState.READ_SUBMITTED))


def test_reader_reads_are_locked_in_discordant_and_in_adjudication(store: ReviewStore, team: Team,
                                                                   visit_dirs: list[Path]) -> None:
    study = _register(store, visit_dirs[0])
    first = _override_grade(store, team.ann, start_read(store, team.ann, study.id, at(1)), 2)
    second = start_read(store, team.bob, study.id, at(3))
    sign_read(store, team.ann, first.id, PASSWORD, at(4))
    sign_read(store, team.bob, second.id, PASSWORD, at(5))

    def refused_both(offset_s: float) -> None:
        for user, read in ((team.ann, first), (team.bob, second)):
            assert _refusal(store, user, read, offset_s) == f"read {read.id}: {LOCKED}"
            with pytest.raises(ReviewConflictError, match="signed and locked"):
                edit_read(store, user, read.id, [FindingEdit(read.content.segments[0].key, "rvt", None, "?")],
                          at(offset_s))

    assert _true_state(store, team, study.id) is ReviewState.DISCORDANT
    refused_both(6)
    adjudication = start_adjudication(store, team.ada, study.id, at(7))
    assert _true_state(store, team, study.id) is ReviewState.IN_ADJUDICATION
    refused_both(8)
    # an unsigned version left from before the lock (an amendment made under the old rules) is locked too
    with store.write() as session:
        row = session.scalar(select(ReadRow).where(ReadRow.id == first.id))
        assert row is not None
        session.add(ReadRow(study_id=row.study_id, slot=row.slot, reader_id=row.reader_id, version=2,
                            content=dict(row.content), content_sha256=row.content_sha256, change_reason="old",
                            created_at=at(9), updated_at=at(9), signed_at=None))
    with store.read() as session:
        legacy = session.scalar(select(ReadRow.id).where(ReadRow.study_id == study.id, ReadRow.version == 2))
    assert legacy is not None
    agreeing = [FindingEdit(s.key, "grade", s.fields["grade"].model, None) for s in first.content.segments]
    with pytest.raises(ReviewConflictError, match=f"read {legacy}: {LOCKED}"):
        edit_read(store, team.ann, legacy, agreeing, at(10))
    assert _true_state(store, team, study.id) is ReviewState.IN_ADJUDICATION
    edit_read(store, team.ada, adjudication.id, agreeing[:1], at(11))  # the adjudicator's read is not locked


def test_after_a_concordant_final_reads_stay_locked_and_an_adjudicator_corrects(store: ReviewStore, team: Team,
                                                                              visit_dirs: list[Path]) -> None:
    """Whether reader 1 could amend would tell them whether reader 2 agreed: after final, neither reader can."""
    study = _register(store, visit_dirs[0])
    first, second = start_read(store, team.ann, study.id, at(1)), start_read(store, team.bob, study.id, at(2))
    sign_read(store, team.ann, first.id, PASSWORD, at(3))
    outcome = sign_read(store, team.bob, second.id, PASSWORD, at(4))
    assert outcome.study.state is ReviewState.FINAL and outcome.study.final_slot is ReadSlot.READ_1
    assert _refusal(store, team.ann, first, 5) == f"read {first.id}: {LOCKED}", "as after an adjudicated final"
    assert _refusal(store, team.bob, second, 5) == f"read {second.id}: {LOCKED}"

    correction = start_adjudication(store, team.ada, study.id, at(6))
    assert correction.slot is ReadSlot.ADJUDICATION
    assert correction.content.sha256() == first.content.sha256(), "starts from the agreed reads"
    assert _true_state(store, team, study.id) is ReviewState.FINAL, "final on read 1 until the correction is signed"
    assert worklist(store, team.ann, at(7)).entries[0].state is ReaderState.FINAL
    corrected = _override_grade(store, team.ada, correction, 8)
    done = sign_read(store, team.ada, corrected.id, PASSWORD, at(9))
    assert (done.study.state, done.study.final_slot) == (ReviewState.FINAL, ReadSlot.ADJUDICATION)
    assert done.final_outputs_due
    assert [e.state for e in worklist(store, team.ann, at(10)).entries] == [ReaderState.FINAL]
    with pytest.raises(PermissionDeniedError):
        start_adjudication(store, team.cy, study.id, at(11))  # a reader corrects nothing


def test_a_single_read_is_amended_and_final_again_on_the_new_version(store: ReviewStore, team: Team,
                                                                      visit_dirs: list[Path]) -> None:
    single = ReviewStore(store.database, review_config(double_read=False))
    study = _register(single, visit_dirs[0])
    read = start_read(single, team.ann, study.id, at(1))
    assert sign_read(single, team.ann, read.id, PASSWORD, at(2)).study.state is ReviewState.FINAL
    amended = _override_grade(single, team.ann, amend_read(single, team.ann, read.id, "re-read", at(3)), 4)
    outcome = sign_read(single, team.ann, amended.id, PASSWORD, at(5))
    assert (outcome.study.state, outcome.study.final_slot) == (ReviewState.FINAL, ReadSlot.READ_1)
    assert outcome.final_outputs_due and outcome.signature.content_sha256 == amended.content_sha256


@pytest.mark.parametrize(("state", "own_signed", "shown"), [
    (ReviewState.AWAITING_READ_1, None, ReaderState.AWAITING_READ),
    (ReviewState.AWAITING_READ_2, None, ReaderState.AWAITING_READ),
    (ReviewState.AWAITING_READ_1, False, ReaderState.IN_PROGRESS),
    (ReviewState.AWAITING_READ_2, False, ReaderState.IN_PROGRESS),
    (ReviewState.AWAITING_READ_2, True, ReaderState.READ_SUBMITTED),
    (ReviewState.DISCORDANT, True, ReaderState.READ_SUBMITTED),
    (ReviewState.IN_ADJUDICATION, True, ReaderState.READ_SUBMITTED),
    (ReviewState.FINAL, True, ReaderState.FINAL),
    (ReviewState.FINAL, False, ReaderState.FINAL),
])
def test_the_reader_state_of_each_true_state(state: ReviewState, own_signed: bool | None,
                                             shown: ReaderState) -> None:
    assert reader_state(state, own_signed) is shown


@pytest.mark.parametrize(("state", "final_slot", "slot", "signed_double_read", "changeable"), [
    (ReviewState.AWAITING_READ_1, None, ReadSlot.READ_1, (False, True), True),
    (ReviewState.AWAITING_READ_2, None, ReadSlot.READ_2, (False, True), True),
    (ReviewState.AWAITING_READ_2, None, ReadSlot.READ_1, (True, True), False),
    (ReviewState.DISCORDANT, None, ReadSlot.READ_1, (True, True), False),
    (ReviewState.DISCORDANT, None, ReadSlot.READ_2, (False, True), False),
    (ReviewState.IN_ADJUDICATION, None, ReadSlot.READ_1, (False, True), False),
    (ReviewState.IN_ADJUDICATION, None, ReadSlot.ADJUDICATION, (False, True), True),
    (ReviewState.FINAL, ReadSlot.READ_1, ReadSlot.READ_1, (True, True), False),
    (ReviewState.FINAL, ReadSlot.READ_1, ReadSlot.READ_1, (True, False), True),
    (ReviewState.FINAL, ReadSlot.READ_1, ReadSlot.READ_2, (True, True), False),
    (ReviewState.FINAL, ReadSlot.ADJUDICATION, ReadSlot.READ_1, (True, True), False),
    (ReviewState.FINAL, ReadSlot.ADJUDICATION, ReadSlot.ADJUDICATION, (True, True), True),
])
def test_when_a_read_may_change(state: ReviewState, final_slot: ReadSlot | None, slot: ReadSlot,
                                signed_double_read: tuple[bool, bool], changeable: bool) -> None:
    signed, double_read = signed_double_read
    assert read_changeable(state, final_slot, slot, signed=signed, double_read=double_read) is changeable
