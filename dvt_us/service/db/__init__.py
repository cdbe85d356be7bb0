"""The service database (SQLite embedded, or PostgreSQL) and its durable job queue.

``Database(url)`` opens it, ``Database.upgrade()`` migrates it (Alembic revisions shipped in ``migrations/``),
and its methods record instances, find complete studies, queue, claim, heartbeat, finish and fail jobs, and
append to the event log. Everything it returns is a frozen snapshot (:class:`Job`, :class:`StudySummary`,
:class:`ReportRecord`, :class:`Event`).
"""

from dvt_us.service.db.database import Database
from dvt_us.service.db.engine import BACKENDS, make_engine, parse_url
from dvt_us.service.db.enum import EventKind, JobState
from dvt_us.service.db.errors import JobNotRunningError, UnknownStudyError
from dvt_us.service.db.models import Base
from dvt_us.service.db.records import Event, Job, ReportRecord, StudySummary

__all__ = [
    "BACKENDS",
    "Base",
    "Database",
    "Event",
    "EventKind",
    "Job",
    "JobNotRunningError",
    "JobState",
    "ReportRecord",
    "StudySummary",
    "UnknownStudyError",
    "make_engine",
    "parse_url",
]
