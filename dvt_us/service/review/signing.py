"""Electronic signatures: the password re-entered and the meaning stated lock one version of a read.

The manifest (21 CFR 11.50) holds the signer's printed name, the UTC time, the meaning, and the sha256 of the
canonical read content; it is append-only in the database. Signing may make the study final, after which
:func:`~dvt_us.service.review.final_outputs.write_final_outputs` writes the final visit folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from dvt_us.service.review import audit
from dvt_us.service.review.discordance import StudyStanding
from dvt_us.service.review.enum import Action, ReadSlot, ReviewState
from dvt_us.service.review.errors import AuthenticationError, ReviewConflictError
from dvt_us.service.review.models import SignatureRow, UserRow
from dvt_us.service.review.permissions import authorise
from dvt_us.service.review.reads import check_changeable, read_row
from dvt_us.service.review.records import ReviewStudy, Signature, User
from dvt_us.service.review.store import ReviewStore, aware
from dvt_us.service.review.studies import latest_versions, refresh_state, study_row

MEANINGS: dict[ReadSlot, str] = {
    ReadSlot.READ_1: "author of read 1",
    ReadSlot.READ_2: "author of read 2",
    ReadSlot.ADJUDICATION: "adjudicator: final read",
}
"""The meaning each read's signature states by default (the page shows it; the signer confirms it)."""

MAX_MEANING_LENGTH = 200


@dataclass(frozen=True)
class SignOutcome:
    """A signature and where it left the study."""

    signature: Signature
    study: ReviewStudy
    standing: StudyStanding
    final_outputs_due: bool
    """The study is final and its final visit folder is missing or was written from other content."""


def sign_read(store: ReviewStore, user: User, read_id: int, password: str, now: datetime, *,
              meaning: str | None = None) -> SignOutcome:
    """Sign the user's newest, unsigned version of a read; it is locked from then on.

    Parameters
    ----------
    password
        Re-entered by the signer; a wrong one raises AuthenticationError (and is audited).
    meaning
        What the signature means; default :data:`MEANINGS` of the read's slot.
    """
    at = aware(now)
    with store.read() as session:
        row = read_row(session, read_id)
        authorise(user, Action.SIGN, owner_id=row.reader_id)
        stated = (meaning or MEANINGS[row.slot]).strip()
        password_hash = session.scalar(select(UserRow.password_hash).where(UserRow.id == user.id))
    if not stated or len(stated) > MAX_MEANING_LENGTH:
        raise ValueError(f"the meaning of a signature is 1-{MAX_MEANING_LENGTH} characters")
    if not store.passwords.verify(password_hash, password):
        with store.write() as session:
            audit.append(session, user.username, "read.sign_refused", f"read:{read_id}", {"cause": "wrong password"},
                         now=at)
        raise AuthenticationError("wrong password: the signature was not applied")
    with store.write() as session:
        row = read_row(session, read_id)
        study = study_row(session, row.study_id, for_update=True)  # before reading the other reads' state
        session.refresh(row)  # as of the lock: a concurrent signature of this very version has committed
        if row.signed_at is not None:
            raise ReviewConflictError(f"read {read_id} (version {row.version}) is signed already")
        if latest_versions(session, row.study_id)[row.slot].id != row.id:
            raise ReviewConflictError(f"read {read_id} is not the newest version of its read")
        check_changeable(store, session, row)
        row.signed_at = at
        signature = SignatureRow(read_id=row.id, user_id=user.id, username=user.username,
                                 printed_name=user.printed_name, meaning=stated, signed_at=at,
                                 content_sha256=row.content_sha256)
        session.add(signature)
        standing = refresh_state(store, session, study, at)
        session.flush()
        record = Signature.from_row(signature)
        due = standing.state is ReviewState.FINAL and (
            study.final_folder is None
            or study.final_content_sha256 != latest_versions(session, study.id, signed_only=True)[
                standing.final_slot or ReadSlot.READ_1].content_sha256)
        audit.append(session, user.username, "read.sign", f"read:{row.id}",
                     {"study": row.study_id, "slot": row.slot, "version": row.version, **record.manifest(),
                      "study_state": standing.state.value}, now=at)
        return SignOutcome(record, ReviewStudy.from_row(study), standing, due)


def signatures(store: ReviewStore, read_ids: list[int]) -> dict[int, Signature]:
    """The signatures of these read versions, by read id (unsigned versions are absent)."""
    with store.read() as session:
        rows = session.scalars(select(SignatureRow).where(SignatureRow.read_id.in_(read_ids)))
        return {row.read_id: Signature.from_row(row) for row in rows}
