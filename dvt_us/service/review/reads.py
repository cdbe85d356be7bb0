"""Reads: a reader takes read 1 or read 2 of a study, edits it, and may amend it after signing (a new version).

Readers are blinded: a reader gets only their own read; an adjudicator (``read.view_all``) sees every read.
Every view and change is appended to the audit trail in the same transaction.

When a reader's read may change (:func:`read_changeable`, checked by :func:`edit_read` and :func:`amend_read`
through :func:`check_changeable`, which a signature needs as well):

- unsigned, it is edited and signed while the study awaits a read (``awaiting_read_1``, ``awaiting_read_2``);
- signed, it is locked until the study is final, whatever the study's state: awaiting read 2, discordant or
  in adjudication. A lock that opened only while read 2 is unsigned would tell reader 1 that read 2 was
  signed and disagrees; an amendment during adjudication that made the reads agree would make the study
  final on read 1 behind the adjudicator's back. The refusal says only "reads of this study are locked";
- once the study is final, a reader's read of a double-read study stays locked: whether reader 1 could amend
  would tell them whether the study was adjudicated (read 2 disagreed), and what an amendment did to the state
  would tell them whether it still agreed with read 2. A change to a final double-read study is made by an
  adjudicator instead (:func:`~dvt_us.service.review.adjudication.start_adjudication` of a concordant final
  study, a correction; or an amendment of the adjudication). Under a single read (``review.double_read:
  false``) there is nobody to be blinded from: the reader of the final read amends it with a reason, version
  N+1, signed again; the study stays final on version N until then.

The adjudication read is not blinded and keeps its own rules (:mod:`.adjudication`): edited while in
adjudication, amended by its adjudicator once final.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dvt_us.report.visit_folder import VisitFolder
from dvt_us.service.review import audit
from dvt_us.service.review.enum import Action, ReadSlot, ReviewState
from dvt_us.service.review.errors import InvalidReadError, NotFoundError, ReviewConflictError
from dvt_us.service.review.models import ReadRow
from dvt_us.service.review.permissions import allowed, authorise
from dvt_us.service.review.read_content import ReadContent, prefill
from dvt_us.service.review.records import Read, User
from dvt_us.service.review.store import ReviewStore, aware
from dvt_us.service.review.studies import latest_versions, study_row

_READER_SLOTS = (ReadSlot.READ_1, ReadSlot.READ_2)
_OPEN_FOR_READING = (ReviewState.AWAITING_READ_1, ReviewState.AWAITING_READ_2)
LOCKED = "reads of this study are locked"
"""The refusal of a change to a locked reader's read; the same whatever the study's hidden state."""


def read_changeable(state: ReviewState, final_slot: ReadSlot | None, slot: ReadSlot, *, signed: bool,
                    double_read: bool) -> bool:
    """Whether a read of ``slot`` (its newest version ``signed`` or not) may change in a study in ``state``.

    The rule of the module docstring: an unsigned reader's read while the study awaits a read; the final read
    of a single-read study once it is final; the adjudication read always (its own rules apply).
    """
    if slot is ReadSlot.ADJUDICATION:
        return True
    if state is ReviewState.FINAL:
        return not double_read and final_slot is slot
    return not signed and state in _OPEN_FOR_READING


def check_changeable(store: ReviewStore, session: Session, row: ReadRow) -> None:
    """ReviewConflictError (:data:`LOCKED`) unless the read version ``row`` may change (:func:`read_changeable`)."""
    study = study_row(session, row.study_id)
    if not read_changeable(study.state, study.final_slot, ReadSlot(row.slot), signed=row.signed_at is not None,
                           double_read=store.rules.double_read):
        raise ReviewConflictError(f"read {row.id}: {LOCKED}")


@dataclass(frozen=True)
class FindingEdit:
    """Set the reader's value of one field of one segment; ``reason`` is required when it differs from the model."""

    segment_key: str
    """``R:CFV`` and the like (:func:`~dvt_us.service.review.read_content.segment_key`)."""
    field: str
    value: Any
    reason: str | None = None


@dataclass(frozen=True)
class ClipEdit:
    """Assign a clip the model left unassigned to a segment and side (``R``/``L``), with a reason."""

    sop_instance_uid: str
    side: str
    segment: str
    reason: str | None = None


def read_row(session: Session, read_id: int) -> ReadRow:
    """The read version's row; NotFoundError otherwise."""
    row = session.get(ReadRow, read_id)
    if row is None:
        raise NotFoundError(f"no read {read_id}")
    return row


def store_content(row: ReadRow, content: ReadContent, at: datetime) -> None:
    """Put new content (and its sha256) into an unsigned read version."""
    row.content, row.content_sha256, row.updated_at = content.to_json(), content.sha256(), at


def new_read(session: Session, study_id: int, slot: ReadSlot, reader: User, content: ReadContent, *,
             at: datetime) -> ReadRow:
    """Insert version 1 of a read (IntegrityError when a concurrent call took the slot)."""
    row = ReadRow(study_id=study_id, slot=slot, reader_id=reader.id, version=1, change_reason=None, created_at=at,
                  signed_at=None)
    store_content(row, content, at)
    session.add(row)
    session.flush()
    return row


def start_read(store: ReviewStore, user: User, study_id: int, now: datetime) -> Read:
    """The reader's read of the study: their existing one (newest version), or a new read 1 or read 2.

    A new read is prefilled with the model's findings. ReviewConflictError, with one message for both, when
    the user has no read of the study and it is not open for reading (final, discordant, in adjudication) or
    both reads are taken.
    """
    authorise(user, Action.READ_CREATE)
    at = aware(now)
    for _attempt in range(2):  # PostgreSQL: two readers may race for the same slot; the loser takes the next
        try:
            with store.write() as session:
                return _start_read(store, session, user, study_id, at)
        except IntegrityError:
            continue
    raise ReviewConflictError(f"study {study_id}: both reads were taken while starting")


def _start_read(store: ReviewStore, session: Session, user: User, study_id: int, at: datetime) -> Read:
    study = study_row(session, study_id)
    latest = latest_versions(session, study_id)
    for slot in _READER_SLOTS:
        if slot in latest and latest[slot].reader_id == user.id:
            audit.append(session, user.username, "read.view", f"read:{latest[slot].id}",
                         {"study": study_id, "slot": slot.value, "version": latest[slot].version}, now=at)
            return Read.from_row(latest[slot])
    free = [slot for slot in _READER_SLOTS if slot not in latest]
    if not store.rules.double_read:
        free = [slot for slot in free if slot is ReadSlot.READ_1]
    if study.state not in _OPEN_FOR_READING or not free:  # one answer: the state is not the reader's to know
        raise ReviewConflictError(f"study {study_id} is not open for a new read")
    content = prefill(VisitFolder.open(Path(study.folder)).document)
    row = new_read(session, study_id, free[0], user, content, at=at)
    audit.append(session, user.username, "read.create", f"read:{row.id}",
                 {"study": study_id, "slot": free[0].value, "content_sha256": row.content_sha256}, now=at)
    return Read.from_row(row)


def _editable(store: ReviewStore, session: Session, user: User, read_id: int) -> ReadRow:
    row = read_row(session, read_id)
    authorise(user, Action.READ_EDIT, owner_id=row.reader_id)
    if row.signed_at is not None:
        raise ReviewConflictError(f"read {read_id} (version {row.version}) is signed and locked; amend it to make "
                                  "a new version")
    if latest_versions(session, row.study_id)[ReadSlot(row.slot)].id != row.id:
        raise ReviewConflictError(f"read {read_id} is not the newest version of its read")
    check_changeable(store, session, row)
    return row


def edit_read(store: ReviewStore, user: User, read_id: int, edits: Sequence[FindingEdit | ClipEdit],
              now: datetime) -> Read:
    """Apply the edits to the reader's unsigned read version, all or none (one form submission).

    Raises InvalidReadError for an invalid value or an override without a reason, ReviewConflictError for a
    signed version or a locked read (:func:`read_changeable`), PermissionDeniedError for another reader's read.
    """
    at = aware(now)
    if not edits:
        raise InvalidReadError("no edit given")
    if any(isinstance(e, ClipEdit) for e in edits):
        authorise(user, Action.ASSIGN_CLIP)
    with store.write() as session:
        row = _editable(store, session, user, read_id)
        content = ReadContent.from_json(row.content)
        logged: list[dict[str, Any]] = []
        for edit in edits:
            if isinstance(edit, FindingEdit):
                before = content.segment(edit.segment_key).fields.get(edit.field)
                content = content.with_value(edit.segment_key, edit.field, edit.value, edit.reason)
                after = content.segment(edit.segment_key).fields[edit.field]
                logged.append({"segment": edit.segment_key, "field": edit.field, "model": after.model,
                               "from": None if before is None else before.reader, "to": after.reader,
                               "reason": after.reason})
            else:
                before_clip = content.clip(edit.sop_instance_uid)
                keys_before = {seg.key for seg in content.segments}
                content = content.with_assignment(edit.sop_instance_uid, edit.side, edit.segment, edit.reason)
                clip = content.clip(edit.sop_instance_uid)
                keys_after = {seg.key for seg in content.segments}
                logged.append({"clip": edit.sop_instance_uid,
                               "from": f"{before_clip.side.value}:{before_clip.segment.value}",
                               "to": f"{clip.side.value}:{clip.segment.value}", "reason": clip.reason,
                               "segments_added": sorted(keys_after - keys_before),
                               "segments_removed": sorted(keys_before - keys_after)})
        store_content(row, content, at)
        audit.append(session, user.username, "read.edit", f"read:{row.id}",
                     {"study": row.study_id, "slot": row.slot, "version": row.version, "edits": logged,
                      "content_sha256": row.content_sha256}, now=at)
        return Read.from_row(row)


def amend_read(store: ReviewStore, user: User, read_id: int, reason: str, now: datetime) -> Read:
    """Version N+1 of the reader's signed version N, to change it; the signed version stays as it was.

    ``reason`` (required) is kept with the new version and in the audit trail; sign the new version again.
    ReviewConflictError (:data:`LOCKED`) when the read is locked (module docstring: a reader's read until the
    study is final, and then all but the final read).
    """
    at = aware(now)
    why = reason.strip()
    if not why:
        raise InvalidReadError("a change to a signed read needs a reason")
    with store.write() as session:
        row = read_row(session, read_id)
        authorise(user, Action.READ_EDIT, owner_id=row.reader_id)
        newest = latest_versions(session, row.study_id)[ReadSlot(row.slot)]
        if newest.id != row.id:
            raise ReviewConflictError(f"read {read_id} is version {row.version}; version {newest.version} "
                                      f"(read {newest.id}) is newer")
        if row.signed_at is None:
            raise ReviewConflictError(f"read {read_id} is not signed: edit it directly")
        check_changeable(store, session, row)
        new = ReadRow(study_id=row.study_id, slot=row.slot, reader_id=row.reader_id, version=row.version + 1,
                      content=dict(row.content), content_sha256=row.content_sha256, change_reason=why,
                      created_at=at, updated_at=at, signed_at=None)
        session.add(new)
        session.flush()
        audit.append(session, user.username, "read.amend", f"read:{new.id}",
                     {"study": row.study_id, "slot": row.slot, "version": new.version, "from_read": row.id,
                      "reason": why}, now=at)
        return Read.from_row(new)


def _viewable(user: User, row: ReadRow) -> None:
    if not allowed(user, Action.READ_VIEW_ALL):
        authorise(user, Action.READ_VIEW_OWN, owner_id=row.reader_id)


def get_read(store: ReviewStore, user: User, read_id: int, now: datetime) -> Read:
    """One read version: the reader's own, or any for an adjudicator (audited as a view)."""
    with store.write() as session:
        row = read_row(session, read_id)
        _viewable(user, row)
        audit.append(session, user.username, "read.view", f"read:{row.id}",
                     {"study": row.study_id, "slot": row.slot, "version": row.version}, now=now)
        return Read.from_row(row)


def read_versions(store: ReviewStore, user: User, study_id: int, slot: ReadSlot, now: datetime) -> list[Read]:
    """Every version of one read of a study, oldest first (own read, or any for an adjudicator)."""
    with store.write() as session:
        rows = list(session.scalars(select(ReadRow).where(ReadRow.study_id == study_id, ReadRow.slot == slot)
                                    .order_by(ReadRow.version)))
        if not rows:
            raise NotFoundError(f"study {study_id} has no {slot.value}")
        _viewable(user, rows[0])
        audit.append(session, user.username, "read.history", f"study:{study_id}",
                     {"slot": slot.value, "versions": len(rows)}, now=now)
        return [Read.from_row(r) for r in rows]


def own_read(store: ReviewStore, user: User, study_id: int, now: datetime) -> Read | None:
    """The newest version of the user's read of the study (read 1, 2 or the adjudication), or None."""
    with store.write() as session:
        study_row(session, study_id)
        mine = [r for r in latest_versions(session, study_id).values() if r.reader_id == user.id]
        if not mine:
            return None
        row = mine[0]
        _viewable(user, row)
        audit.append(session, user.username, "read.view", f"read:{row.id}",
                     {"study": study_id, "slot": row.slot, "version": row.version}, now=now)
        return Read.from_row(row)
