"""The service database: received instances, studies, the durable job queue, reports and the event log.

Every method is one short transaction and is safe to call from several threads (one :class:`Database` per
process, shared by its threads) and from several processes at once (each with its own :class:`Database`).
The clock is an argument (``now``, timezone-aware); nothing here reads it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, case, exists, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from dvt_us.service.db import engine as engines
from dvt_us.service.db.enum import EventKind, JobState
from dvt_us.service.db.errors import JobNotRunningError, UnknownStudyError
from dvt_us.service.db.models import EventRow, InstanceRow, JobRow, ReportRow, StudyRow
from dvt_us.service.db.records import Event, Job, ReportRecord, StudySummary
from dvt_us.service.instances import StoredInstance

EVENT_KIND = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*")
"""Event kinds are dotted lower-case words, e.g. ``job.done``, ``association.rejected``, ``results-sent``."""


EVENTS_LOCK_ID = 0x64767476
"""PostgreSQL advisory lock that orders event ids by commit (see ``Database._event``)."""


class _InstanceKnownError(Exception):
    """Internal: roll back the study update of an instance that turned out to be known already."""


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime {now.isoformat()}: pass a timezone-aware (UTC) datetime")
    return now


class Database:
    """The repository of the service database.

    Parameters
    ----------
    url
        SQLAlchemy URL: ``sqlite:///ABSOLUTE/PATH.db`` or ``postgresql+psycopg://USER@HOST:PORT/DB``.
    max_attempts
        How many times a job is claimed before a failure (or a lost worker) fails it for good
        (``JobsConfig.max_attempts``).

    Notes
    -----
    Call :meth:`upgrade` once at start-up, before anything else. On SQLite every writing transaction starts
    with ``BEGIN IMMEDIATE`` (writers queue on the database lock, readers never wait); on PostgreSQL the
    queue is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` and every update re-checks the job state.
    """

    def __init__(self, url: str, *, max_attempts: int = 3) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts {max_attempts}: at least 1")
        self.max_attempts = max_attempts
        self._engine = engines.make_engine(url)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self._engine.execution_options(**{engines.READ_ONLY: True}),
                                           expire_on_commit=False)
        self._rebuilt_sessions = sessionmaker(self._engine.execution_options(**{engines.REBUILT_AT_START: True}),
                                              expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Database({self._engine.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (shared by this process's threads)."""
        return self._engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The session factory, for queries this class does not offer; keep each session short."""
        return self._sessions

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def upgrade(self) -> None:
        """Migrate the schema to the newest revision (``alembic upgrade head``); safe to run concurrently."""
        engines.upgrade(self._engine)

    def schema_diffs(self) -> list[Any]:
        """Differences between the database schema and the models (Alembic autogenerate); empty when none."""
        return engines.schema_diffs(self._engine)

    @contextmanager
    def _write(self, *, rebuilt_at_start: bool = False) -> Iterator[Session]:
        """A writing transaction; ``rebuilt_at_start``: see :data:`~dvt_us.service.db.engine.REBUILT_AT_START`."""
        with (self._rebuilt_sessions if rebuilt_at_start else self._sessions)() as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._read_sessions() as session, session.begin():
            yield session

    def _insert(self) -> Any:
        return postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert

    # --- instances and studies -------------------------------------------------------------------------

    @functools.cached_property
    def _instance_statements(self) -> tuple[Any, Any, Any]:
        """record_instance's statements: is the SOP Instance UID known; upsert its study; insert it.

        Built once per database (building them took a third of record_instance's time). Parameters: ``study``,
        ``at``, ``sop``, ``series``, ``sop_class``, ``transfer_syntax``, ``file_path``, ``size``, ``calling``.
        """
        insert = self._insert()
        known = select(InstanceRow.sop_instance_uid).where(InstanceRow.sop_instance_uid == bindparam("sop"))
        study = insert(StudyRow).values(study_instance_uid=bindparam("study"), first_received_at=bindparam("at"),
                                        last_received_at=bindparam("at"), instance_count=1)
        new = study.excluded
        study = study.on_conflict_do_update(index_elements=[StudyRow.study_instance_uid], set_={
            "first_received_at": case((new.first_received_at < StudyRow.first_received_at, new.first_received_at),
                                      else_=StudyRow.first_received_at),
            "last_received_at": case((new.last_received_at > StudyRow.last_received_at, new.last_received_at),
                                     else_=StudyRow.last_received_at),
            "instance_count": StudyRow.instance_count + 1,
        })
        instance = insert(InstanceRow).values(
            sop_instance_uid=bindparam("sop"), study_instance_uid=bindparam("study"),
            series_instance_uid=bindparam("series"), sop_class_uid=bindparam("sop_class"),
            transfer_syntax_uid=bindparam("transfer_syntax"), path=bindparam("file_path"), size_bytes=bindparam("size"),
            calling_ae_title=bindparam("calling"), received_at=bindparam("at"),
        ).on_conflict_do_nothing(index_elements=[InstanceRow.sop_instance_uid]).returning(InstanceRow.sop_instance_uid)
        return known, study, instance

    def record_instance(self, inst: StoredInstance) -> bool:
        """Record a stored instance and update its study (first/last received time, instance count).

        Returns
        -------
        bool
            False, and nothing changes, when the SOP Instance UID is known already.

        Notes
        -----
        On SQLite the commit does not wait for the disk (:data:`~dvt_us.service.db.engine.REBUILT_AT_START`): the
        instance file is durable before this is called, and if a power cut undoes the rows, start-up records the
        file again (:func:`~dvt_us.service.recovery.reconcile_instances`).
        """
        received_at = _aware(inst.received_at)
        known, study, instance = self._instance_statements
        values = {"study": inst.study_instance_uid, "at": received_at, "sop": inst.sop_instance_uid,
                  "series": inst.series_instance_uid, "sop_class": inst.sop_class_uid,
                  "transfer_syntax": inst.transfer_syntax_uid, "file_path": str(inst.path), "size": inst.size_bytes,
                  "calling": inst.calling_ae_title}
        try:
            with self._write(rebuilt_at_start=True) as session:
                if session.execute(known, values).first() is not None:
                    return False
                session.execute(study, values)  # first: the instance's foreign key needs the study row
                if session.execute(instance, values).scalar_one_or_none() is None:  # a concurrent call recorded it
                    raise _InstanceKnownError
                self._event(session, EventKind.INSTANCE_RECEIVED, received_at, {
                    "sop_instance_uid": inst.sop_instance_uid, "series_instance_uid": inst.series_instance_uid,
                    "sop_class_uid": inst.sop_class_uid, "size_bytes": inst.size_bytes,
                    "calling_ae_title": inst.calling_ae_title}, study_uid=inst.study_instance_uid)
        except _InstanceKnownError:
            return False
        return True

    def complete_studies(self, idle_s: float, now: datetime, models_key: str) -> list[str]:
        """Study Instance UIDs with no instance for at least ``idle_s`` seconds and no job for ``models_key``.

        Oldest last instance first.
        """
        if idle_s < 0:
            raise ValueError(f"idle_s {idle_s}: not negative")
        cutoff = _aware(now) - timedelta(seconds=idle_s)
        has_job = exists().where(JobRow.study_instance_uid == StudyRow.study_instance_uid,
                                 JobRow.models_key == models_key)
        query = (select(StudyRow.study_instance_uid).where(StudyRow.last_received_at <= cutoff, ~has_job)
                 .order_by(StudyRow.last_received_at, StudyRow.study_instance_uid))
        with self._read() as session:
            return list(session.scalars(query))

    def study_instances(self, study_uid: str) -> list[Path]:
        """Paths of the study's instance files, in the order they were received."""
        query = (select(InstanceRow.path).where(InstanceRow.study_instance_uid == study_uid)
                 .order_by(InstanceRow.received_at, InstanceRow.sop_instance_uid))
        with self._read() as session:
            return [Path(p) for p in session.scalars(query)]

    def instance_path(self, sop_instance_uid: str) -> Path | None:
        """Where the instance's Part 10 file is stored, or None for an unknown SOP Instance UID."""
        with self._read() as session:
            path = session.scalar(select(InstanceRow.path).where(InstanceRow.sop_instance_uid == sop_instance_uid))
        return Path(path) if path is not None else None

    def studies(self) -> list[StudySummary]:
        """Every study, most recently received first."""
        query = select(StudyRow).order_by(StudyRow.last_received_at.desc(), StudyRow.study_instance_uid)
        with self._read() as session:
            return [StudySummary.from_row(row) for row in session.scalars(query)]

    # --- the job queue ---------------------------------------------------------------------------------

    def enqueue(self, study_uid: str, models_key: str, now: datetime) -> int | None:
        """Queue a job for the study and models; its id, or None when that job exists already (in any state).

        Race-free: the UNIQUE (study_instance_uid, models_key) constraint lets exactly one of several
        concurrent callers insert. Raises UnknownStudyError when no instance of the study was recorded.
        """
        created_at = _aware(now)
        if not models_key:
            raise ValueError("models_key is empty")
        try:
            with self._write() as session:
                row = JobRow(study_instance_uid=study_uid, models_key=models_key, state=JobState.QUEUED, attempts=0,
                             created_at=created_at)
                session.add(row)
                session.flush()
                self._event(session, EventKind.JOB_QUEUED, created_at, {"models_key": models_key}, study_uid=study_uid,
                            job_id=row.id)
                return row.id
        except IntegrityError:
            with self._read() as session:
                if session.scalar(select(JobRow.id).where(JobRow.study_instance_uid == study_uid,
                                                          JobRow.models_key == models_key)) is not None:
                    return None
                if session.get(StudyRow, study_uid) is None:
                    raise UnknownStudyError(f"study {study_uid!r}: no instance recorded") from None
            raise

    def claim(self, worker: str, now: datetime, models_key: str | None = None) -> Job | None:
        """Take the oldest queued job (for ``models_key``, if given): mark it running under ``worker``.

        A worker claims only jobs of the model version it runs, so that results are filed under their models.
        The attempt is counted.

        Each queued job goes to exactly one caller. PostgreSQL: ``FOR UPDATE SKIP LOCKED`` (claimers pass
        over each other's rows); SQLite: the whole claim holds the write lock (``BEGIN IMMEDIATE``). Either
        way the UPDATE also requires ``state = 'queued'``.

        Returns
        -------
        Job or None
            The job as claimed, or None when nothing is queued.
        """
        started_at = _aware(now)
        if not worker:
            raise ValueError("worker is empty")
        queued = JobRow.state == JobState.QUEUED
        if models_key is not None:
            queued = queued & (JobRow.models_key == models_key)
        oldest = (select(JobRow.id).where(queued)
                  .order_by(JobRow.created_at, JobRow.id).limit(1).with_for_update(skip_locked=True))
        with self._write() as session:
            job_id = session.scalar(oldest)
            if job_id is None:
                return None
            row = session.scalar(  # the row is locked (PostgreSQL) or the database is (SQLite): it is still queued
                update(JobRow).where(JobRow.id == job_id, JobRow.state == JobState.QUEUED)
                .values(state=JobState.RUNNING, attempts=JobRow.attempts + 1, worker=worker,
                        started_at=started_at, heartbeat_at=started_at, finished_at=None)
                .returning(JobRow))
            if row is None:
                raise RuntimeError(f"job {job_id} left the queue while locked; is the database isolation changed?")
            job = Job.from_row(row)
            self._event(session, EventKind.JOB_CLAIMED, started_at, {"worker": worker, "attempt": job.attempts},
                        study_uid=job.study_instance_uid, job_id=job.id)
            return job

    def _running(self, job_id: int, worker: str | None) -> Any:
        condition = (JobRow.id == job_id) & (JobRow.state == JobState.RUNNING)
        return condition if worker is None else condition & (JobRow.worker == worker)

    def heartbeat(self, job_id: int, now: datetime, *, worker: str | None = None) -> bool:
        """Note that the job's worker is alive; False when the job is no longer running (under ``worker``).

        A worker that gets False has lost the job (it was requeued as stale) and should stop working on it.
        """
        at = _aware(now)
        with self._write() as session:
            return session.scalar(update(JobRow).where(self._running(job_id, worker)).values(heartbeat_at=at)
                                  .returning(JobRow.id)) is not None

    def finish(self, job_id: int, result_dir: Path, reports: Sequence[tuple[str, str, Path]], now: datetime,
               *, worker: str | None = None) -> None:
        """Mark a running job done and record its reports, each ``(subject, visit, folder)``.

        A job run again (:meth:`requeue_grown`) rewrites its folders: a report recorded already is kept, not doubled.

        Raises JobNotRunningError when the job is not running (under ``worker``); nothing is recorded then.
        """
        at = _aware(now)
        with self._write() as session:
            row = session.scalar(update(JobRow).where(self._running(job_id, worker))
                                 .values(state=JobState.DONE, finished_at=at, result_dir=str(result_dir), error=None)
                                 .returning(JobRow))
            if row is None:
                raise JobNotRunningError(self._not_running(job_id, worker))
            known = set(session.execute(select(ReportRow.subject, ReportRow.visit, ReportRow.folder)
                                        .where(ReportRow.job_id == job_id)).all())
            session.add_all(ReportRow(job_id=job_id, subject=subject, visit=visit, folder=str(folder), created_at=at)
                            for subject, visit, folder in reports if (subject, visit, str(folder)) not in known)
            self._event(session, EventKind.JOB_DONE, at, {"result_dir": str(result_dir), "reports": len(reports)},
                        study_uid=row.study_instance_uid, job_id=job_id)

    def fail(self, job_id: int, error: str, now: datetime, retry: bool, *, worker: str | None = None) -> JobState:
        """Record a failure of a running job; back to queued if ``retry`` and attempts remain, else failed.

        Returns
        -------
        JobState
            ``QUEUED`` or ``FAILED``. Raises JobNotRunningError when the job is not running (under ``worker``).
        """
        at = _aware(now)
        with self._write() as session:
            row = session.scalar(select(JobRow).where(self._running(job_id, worker)).with_for_update())
            if row is None:
                raise JobNotRunningError(self._not_running(job_id, worker))
            again = retry and row.attempts < self.max_attempts
            row.state = JobState.QUEUED if again else JobState.FAILED
            row.error = error
            row.finished_at = None if again else at
            if again:
                row.worker = row.started_at = row.heartbeat_at = None
            self._event(session, EventKind.JOB_RETRY if again else EventKind.JOB_FAILED, at,
                        {"error": error, "attempts": row.attempts}, study_uid=row.study_instance_uid, job_id=job_id)
            return row.state

    def requeue_stale(self, stale_after_s: float, now: datetime) -> list[int]:
        """Queue again the running jobs whose heartbeat is older than ``stale_after_s`` (their worker died).

        A stale job that has used all its attempts is failed instead. Returns the ids queued again.
        """
        if stale_after_s <= 0:
            raise ValueError(f"stale_after_s {stale_after_s}: above 0")
        at = _aware(now)
        cutoff = at - timedelta(seconds=stale_after_s)
        error = f"worker lost: no heartbeat for more than {stale_after_s:g} s"
        stale = (JobRow.state == JobState.RUNNING) & (JobRow.heartbeat_at < cutoff)
        with self._write() as session:
            failed = session.execute(
                update(JobRow).where(stale, JobRow.attempts >= self.max_attempts)
                .values(state=JobState.FAILED, finished_at=at, error=error)
                .returning(JobRow.id, JobRow.study_instance_uid)).all()
            requeued = session.execute(
                update(JobRow).where(stale)
                .values(state=JobState.QUEUED, worker=None, started_at=None, heartbeat_at=None, error=error)
                .returning(JobRow.id, JobRow.study_instance_uid)).all()
            for kind, rows in ((EventKind.JOB_FAILED, failed), (EventKind.JOB_REQUEUED, requeued)):
                for job_id, study_uid in sorted(rows):
                    self._event(session, kind, at, {"error": error}, study_uid=study_uid, job_id=job_id)
        return sorted(job_id for job_id, _study in requeued)

    def requeue_grown(self, idle_s: float, now: datetime, models_key: str) -> list[int]:
        """Queue again the finished jobs of ``models_key`` whose study received instances after their last claim.

        A study that grows after its job ran (a late series, a re-sent clip) is analysed again once it has been
        idle for ``idle_s`` seconds: the job goes back to ``queued`` with its attempts reset, and keeps its
        id, so the study is still analysed by one job per model version. Running and queued jobs are left
        alone (a queued job reads the study's instances when claimed). Returns the ids queued again.
        """
        if idle_s < 0:
            raise ValueError(f"idle_s {idle_s}: not negative")
        at = _aware(now)
        cutoff = at - timedelta(seconds=idle_s)
        grown = (select(JobRow.id).join(StudyRow, StudyRow.study_instance_uid == JobRow.study_instance_uid)
                 .where(JobRow.models_key == models_key, JobRow.state.in_((JobState.DONE, JobState.FAILED)),
                        JobRow.started_at < StudyRow.last_received_at, StudyRow.last_received_at <= cutoff))
        with self._write() as session:
            rows = session.execute(
                update(JobRow).where(JobRow.id.in_(grown.scalar_subquery()))
                .values(state=JobState.QUEUED, attempts=0, worker=None, started_at=None, heartbeat_at=None,
                        finished_at=None, error=None, created_at=at)
                .returning(JobRow.id, JobRow.study_instance_uid)).all()
            for job_id, study_uid in sorted(rows):
                self._event(session, EventKind.JOB_REQUEUED, at, {"reason": "new instances after the job ran"},
                            study_uid=study_uid, job_id=job_id)
        return sorted(job_id for job_id, _study in rows)

    def job(self, job_id: int) -> Job | None:
        """The job with this id, or None."""
        with self._read() as session:
            row = session.get(JobRow, job_id)
            return None if row is None else Job.from_row(row)

    def jobs(self, state: JobState | None = None) -> list[Job]:
        """Every job (in ``state``, if given), oldest first."""
        query = select(JobRow).order_by(JobRow.id)
        if state is not None:
            query = query.where(JobRow.state == JobState(state))
        with self._read() as session:
            return [Job.from_row(row) for row in session.scalars(query)]

    def report(self, report_id: int) -> ReportRecord | None:
        """The report with this id, or None."""
        with self._read() as session:
            row = session.get(ReportRow, report_id)
            return ReportRecord.from_row(row) if row is not None else None

    def reports(self, job_id: int | None = None) -> list[ReportRecord]:
        """The reports recorded by finished jobs (by ``job_id``, if given), in the order recorded."""
        query = select(ReportRow).order_by(ReportRow.id)
        if job_id is not None:
            query = query.where(ReportRow.job_id == job_id)
        with self._read() as session:
            return [ReportRecord.from_row(row) for row in session.scalars(query)]

    @staticmethod
    def _not_running(job_id: int, worker: str | None) -> str:
        return f"job {job_id} is not running" + ("" if worker is None else f" under worker {worker!r}")

    # --- the event log ---------------------------------------------------------------------------------

    def add_event(self, kind: str, detail: Mapping[str, Any], now: datetime, study_uid: str | None = None,
                  job_id: int | None = None) -> int:
        """Append an event; its id.

        Parameters
        ----------
        kind
            Dotted lower-case words, e.g. ``association.rejected`` (the database's own are :class:`EventKind`).
        detail
            JSON-compatible values.
        now
            When it happened (timezone-aware).
        study_uid, job_id
            What it concerns, if anything.
        """
        at = _aware(now)
        if not EVENT_KIND.fullmatch(kind):
            raise ValueError(f"event kind {kind!r}: dotted lower-case words (a-z, 0-9, _ and -), e.g. 'job.done'")
        with self._write() as session:
            return self._event(session, kind, at, detail, study_uid=study_uid, job_id=job_id)

    @staticmethod
    def _event(session: Session, kind: str, at: datetime, detail: Mapping[str, Any], *, study_uid: str | None,
               job_id: int | None = None) -> int:
        """Append an event as the last write of the transaction.

        Event ids must become visible in id order, or a reader paging with ``after_id`` could pass over an
        event that commits after a higher id. SQLite has one writer at a time anyway; on PostgreSQL the
        event is numbered under a transaction-scoped advisory lock, held to the commit. Everything else the
        transaction writes is flushed first, so that no other lock is awaited while holding it.
        """
        session.flush()
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text(f"SELECT pg_advisory_xact_lock({EVENTS_LOCK_ID})"))
        row = EventRow(at=at, kind=str(kind), study_instance_uid=study_uid, job_id=job_id, detail=dict(detail))
        session.add(row)
        session.flush()
        return row.id

    def events(self, after_id: int = 0, limit: int = 100) -> list[Event]:
        """Up to ``limit`` events with an id above ``after_id``, in the order they were added."""
        if limit < 1:
            raise ValueError(f"limit {limit}: at least 1")
        query = select(EventRow).where(EventRow.id > after_id).order_by(EventRow.id).limit(limit)
        with self._read() as session:
            return [Event.from_row(row) for row in session.scalars(query)]
