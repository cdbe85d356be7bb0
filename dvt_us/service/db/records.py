"""Frozen snapshots of database rows: what the repository hands out (never an ORM object bound to a session)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from dvt_us.service.db.enum import JobState
from dvt_us.service.db.models import EventRow, JobRow, ReportRow, StudyRow


@dataclass(frozen=True)
class Job:
    """One job as it stood when it was read; all datetimes are timezone-aware UTC."""

    id: int
    study_instance_uid: str
    models_key: str
    state: JobState
    attempts: int
    """How many times the job was claimed (1 while it runs for the first time)."""
    worker: str | None
    """The worker that holds (or last held) it."""
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    error: str | None
    """The last failure, kept when the job is retried."""
    result_dir: Path | None

    @classmethod
    def from_row(cls, row: JobRow) -> Job:
        """Snapshot a ``jobs`` row."""
        return cls(id=row.id, study_instance_uid=row.study_instance_uid, models_key=row.models_key,
                   state=JobState(row.state), attempts=row.attempts, worker=row.worker, created_at=row.created_at,
                   started_at=row.started_at, heartbeat_at=row.heartbeat_at, finished_at=row.finished_at,
                   error=row.error, result_dir=None if row.result_dir is None else Path(row.result_dir))


@dataclass(frozen=True)
class StudySummary:
    """One study: when its instances arrived and how many."""

    study_instance_uid: str
    first_received_at: datetime
    last_received_at: datetime
    instance_count: int

    @classmethod
    def from_row(cls, row: StudyRow) -> StudySummary:
        """Snapshot a ``studies`` row."""
        return cls(study_instance_uid=row.study_instance_uid, first_received_at=row.first_received_at,
                   last_received_at=row.last_received_at, instance_count=row.instance_count)


@dataclass(frozen=True)
class ReportRecord:
    """One visit report folder written by a finished job."""

    id: int
    job_id: int
    subject: str
    visit: str
    folder: Path
    created_at: datetime

    @classmethod
    def from_row(cls, row: ReportRow) -> ReportRecord:
        """Snapshot a ``reports`` row."""
        return cls(id=row.id, job_id=row.job_id, subject=row.subject, visit=row.visit, folder=Path(row.folder),
                   created_at=row.created_at)


@dataclass(frozen=True)
class Event:
    """One entry of the event log; ``id`` grows with every entry."""

    id: int
    at: datetime
    kind: str
    study_instance_uid: str | None
    job_id: int | None
    detail: Mapping[str, Any]
    """JSON-compatible values, read-only."""

    @classmethod
    def from_row(cls, row: EventRow) -> Event:
        """Snapshot an ``events`` row."""
        return cls(id=row.id, at=row.at, kind=row.kind, study_instance_uid=row.study_instance_uid,
                   job_id=row.job_id, detail=MappingProxyType(dict(row.detail)))
