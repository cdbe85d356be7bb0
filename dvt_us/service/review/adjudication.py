"""Adjudication of a discordant double read: the adjudicator sees both reads and signs the final one.

It is also how a final, concordant double read is corrected: the readers' reads stay locked once final (so
that neither learns what the other read, see :mod:`.reads`), and an adjudicator starts an adjudication of
the final study instead. The study stays final on read 1 until the adjudication is signed, which makes the
adjudication the final read (new final outputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from dvt_us.service.review import audit
from dvt_us.service.review.discordance import Discordance, agreeing_fields, discordances
from dvt_us.service.review.enum import Action, ReadSlot, ReviewState
from dvt_us.service.review.errors import ReviewConflictError
from dvt_us.service.review.models import ReadRow
from dvt_us.service.review.permissions import authorise
from dvt_us.service.review.read_content import ReadContent, merged_prefill
from dvt_us.service.review.reads import new_read
from dvt_us.service.review.records import Read, User
from dvt_us.service.review.store import ReviewStore, aware
from dvt_us.service.review.studies import latest_versions, refresh_state, study_row


@dataclass(frozen=True)
class AdjudicationView:
    """What the adjudicator sees: both signed reads, where they disagree, and the adjudication so far."""

    read_1: Read
    read_2: Read
    discordances: tuple[Discordance, ...]
    adjudication: Read | None


def _signed_pair(session: Session, study_id: int) -> tuple[ReadRow, ReadRow]:
    signed = latest_versions(session, study_id, signed_only=True)
    if ReadSlot.READ_1 not in signed or ReadSlot.READ_2 not in signed:
        raise ReviewConflictError(f"study {study_id}: adjudication needs both reads signed")
    return signed[ReadSlot.READ_1], signed[ReadSlot.READ_2]


def adjudication_view(store: ReviewStore, user: User, study_id: int, now: datetime) -> AdjudicationView:
    """Both reads of a discordant (or adjudicated) study side by side (``read.view_all``; audited)."""
    authorise(user, Action.READ_VIEW_ALL)
    with store.write() as session:
        study_row(session, study_id)
        first, second = _signed_pair(session, study_id)
        found = discordances(ReadContent.from_json(first.content), ReadContent.from_json(second.content),
                             store.rules)
        adjudication = latest_versions(session, study_id).get(ReadSlot.ADJUDICATION)
        audit.append(session, user.username, "adjudication.view", f"study:{study_id}",
                     {"read_1": first.id, "read_2": second.id, "discordances": len(found)}, now=now)
        return AdjudicationView(Read.from_row(first), Read.from_row(second), found,
                                None if adjudication is None else Read.from_row(adjudication))


def start_adjudication(store: ReviewStore, user: User, study_id: int, now: datetime) -> Read:
    """The adjudication read of a discordant study: the user's existing one, or a new one from both reads.

    Where the reads agree the adjudication starts from their value; where they disagree, from the model's
    (a segment only one read has, from its clip assignment, starts absent: see
    :func:`~dvt_us.service.review.read_content.merged_prefill`). The study goes to ``in_adjudication``.
    A final concordant double read may be adjudicated too, to correct it (it starts from read 1's values and
    the study stays final until the adjudication is signed). ReviewConflictError when the study is neither,
    or another adjudicator holds it.
    """
    authorise(user, Action.ADJUDICATE)
    at = aware(now)
    with store.write() as session:
        study = study_row(session, study_id)
        existing = latest_versions(session, study_id).get(ReadSlot.ADJUDICATION)
        if existing is not None:
            if existing.reader_id != user.id:
                raise ReviewConflictError(f"study {study_id} is adjudicated by another adjudicator")
            audit.append(session, user.username, "read.view", f"read:{existing.id}",
                         {"study": study_id, "slot": ReadSlot.ADJUDICATION.value, "version": existing.version}, now=at)
            return Read.from_row(existing)
        correction = study.state is ReviewState.FINAL and study.final_slot is ReadSlot.READ_1 \
            and store.rules.double_read
        if study.state is not ReviewState.DISCORDANT and not correction:
            raise ReviewConflictError(f"study {study_id} is {study.state.value}: only a discordant study, or a "
                                      "final concordant double read (to correct it), is adjudicated")
        first, second = _signed_pair(session, study_id)
        if user.id in (first.reader_id, second.reader_id):
            raise ReviewConflictError(f"user {user.username!r} read study {study_id} and cannot adjudicate it")
        c1, c2 = ReadContent.from_json(first.content), ReadContent.from_json(second.content)
        content = merged_prefill(c1, c2, agreeing_fields(c1, c2, store.rules))
        row = new_read(session, study_id, ReadSlot.ADJUDICATION, user, content, at=at)
        refresh_state(store, session, study, at)
        audit.append(session, user.username, "adjudication.start", f"read:{row.id}",
                     {"study": study_id, "read_1": first.id, "read_2": second.id, "correction": correction,
                      "content_sha256": row.content_sha256}, now=at)
        return Read.from_row(row)
