"""Studies under review: registering a model's visit report, and keeping its state in step with its reads."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dvt_us.report.visit_folder import VisitFolder
from dvt_us.service.db import ReportRecord
from dvt_us.service.review import audit
from dvt_us.service.review.discordance import StudyStanding, study_standing
from dvt_us.service.review.enum import Action, ReadSlot, ReviewState
from dvt_us.service.review.errors import NotFoundError
from dvt_us.service.review.models import NAME_LENGTH, ReadRow, ReviewStudyRow
from dvt_us.service.review.permissions import authorise
from dvt_us.service.review.read_content import ReadContent
from dvt_us.service.review.records import ReviewStudy, User
from dvt_us.service.review.store import ReviewStore, aware


def register_visit_folder(store: ReviewStore, folder: Path, now: datetime, *,
                          report_id: int | None = None) -> ReviewStudy:
    """Put a model's visit folder (``<subject>/<visit>`` with report.json) on the worklist; idempotent.

    Trial and site come from report.json ``protocol`` (ClinicalTrialProtocolID) and ``site``. Raises
    FileNotFoundError for a folder without report.json and ``jsonschema.ValidationError`` for an invalid one.
    """
    at = aware(now)
    path = folder.resolve()
    document = VisitFolder.open(path).document

    def column(key: str) -> str:
        return str(document.get(key) or "")[:NAME_LENGTH]

    with store.write() as session:
        existing = session.scalar(select(ReviewStudyRow).where(ReviewStudyRow.folder == str(path)))
        if existing is not None:
            return ReviewStudy.from_row(existing)
        row = ReviewStudyRow(report_id=report_id, folder=str(path), trial=column("protocol"), site=column("site"),
                             subject=column("subject"), visit=column("visit"), state=ReviewState.AWAITING_READ_1,
                             created_at=at, updated_at=at)
        session.add(row)
        session.flush()
        audit.append(session, audit.SYSTEM_ACTOR, "study.register", f"study:{row.id}",
                     {"folder": str(path), "report_id": report_id, "segments": len(document["segments"])}, now=at)
        return ReviewStudy.from_row(row)


def register_report(store: ReviewStore, report: ReportRecord, now: datetime) -> ReviewStudy:
    """Register the visit folder of a finished job's report (call it when the job is done)."""
    return register_visit_folder(store, report.folder, now, report_id=report.id)


def study_row(session: Session, study_id: int, *, for_update: bool = False) -> ReviewStudyRow:
    """The study's row; NotFoundError otherwise.

    ``for_update``: lock the row to the end of the transaction (PostgreSQL ``SELECT ... FOR UPDATE``; SQLite
    transactions that write are serialised anyway), so that two signatures of one study recompute its state
    one after the other, each seeing the other's.
    """
    row = session.get(ReviewStudyRow, study_id, with_for_update=for_update)
    if row is None:
        raise NotFoundError(f"no study {study_id} under review")
    return row


def get_study(store: ReviewStore, user: User, study_id: int, now: datetime) -> ReviewStudy:
    """One study's worklist entry (``worklist.view``; audited as a view)."""
    authorise(user, Action.WORKLIST_VIEW)
    with store.write() as session:
        study = ReviewStudy.from_row(study_row(session, study_id))
        audit.append(session, user.username, "study.view", f"study:{study_id}", {}, now=now)
        return study


def latest_versions(session: Session, study_id: int, *, signed_only: bool = False) -> dict[ReadSlot, ReadRow]:
    """The newest version of each read of the study (the newest signed one with ``signed_only``)."""
    newest = select(ReadRow.slot, func.max(ReadRow.version).label("version")).where(ReadRow.study_id == study_id)
    if signed_only:
        newest = newest.where(ReadRow.signed_at.is_not(None))
    newest_sq = newest.group_by(ReadRow.slot).subquery()
    rows = session.scalars(select(ReadRow).join(newest_sq, (ReadRow.slot == newest_sq.c.slot)
                                                & (ReadRow.version == newest_sq.c.version))
                           .where(ReadRow.study_id == study_id))
    return {ReadSlot(row.slot): row for row in rows}


def refresh_state(store: ReviewStore, session: Session, row: ReviewStudyRow, now: datetime) -> StudyStanding:
    """Recompute the study's state from its latest signed reads and store it (with its final read).

    After a signed amendment of a final study's final read (the only read that may change once final, see
    :mod:`.reads`) this gives final again, on the new version, or ``discordant`` with no final read when the
    new version of read 1 disagrees with read 2; an adjudication, once signed, stays final.
    """
    signed = {slot: ReadContent.from_json(r.content) for slot, r in latest_versions(session, row.id,
                                                                                      signed_only=True).items()}
    started = session.scalar(select(func.count()).select_from(ReadRow).where(
        ReadRow.study_id == row.id, ReadRow.slot == ReadSlot.ADJUDICATION)) or 0
    standing = study_standing(signed, started > 0, store.rules)
    if (row.state, row.final_slot) != (standing.state, standing.final_slot):
        row.state, row.final_slot, row.updated_at = standing.state, standing.final_slot, aware(now)
    return standing
