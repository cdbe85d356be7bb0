"""The tables of the service database, as SQLAlchemy 2.0 declarative models.

The models are the schema's single source of truth: the Alembic revisions in ``migrations/versions`` must build
exactly this schema (a test compares them). Rows never leave :mod:`dvt_us.service.db.database`; callers get the
frozen snapshots of :mod:`dvt_us.service.db.records`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dvt_us.service.db.enum import JobState

UID_LENGTH = 64
"""Maximum length of a DICOM UID (PS3.5 section 9)."""

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so that migrations can refer to them on every backend."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores ``timestamp with time zone``; SQLite stores the UTC wall time as text, which sorts and
    compares in time order. Naive datetimes are refused on the way in, so no local time is ever guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store aware ones in UTC (SQLite: without an offset)."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: pass a timezone-aware (UTC) datetime")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware datetime in UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JOB_STATE = Enum(
    JobState,
    name="job_state",
    native_enum=False,
    create_constraint=True,
    length=16,
    values_callable=lambda states: [s.value for s in states],
    validate_strings=True,
)
"""``jobs.state``: a VARCHAR with a CHECK constraint (portable; no PostgreSQL enum type to migrate)."""


class Base(DeclarativeBase):
    """The declarative base; its metadata is Alembic's ``target_metadata``."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class StudyRow(Base):
    """One study, as seen from the instances received so far."""

    __tablename__ = "studies"

    study_instance_uid: Mapped[str] = mapped_column(String(UID_LENGTH), primary_key=True)
    first_received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    """Received time of the newest instance; the study is complete once this is older than the idle time."""
    instance_count: Mapped[int] = mapped_column(Integer)


class InstanceRow(Base):
    """One instance durably stored in the instance store (``StoredInstance``)."""

    __tablename__ = "instances"

    sop_instance_uid: Mapped[str] = mapped_column(String(UID_LENGTH), primary_key=True)
    study_instance_uid: Mapped[str] = mapped_column(
        String(UID_LENGTH), ForeignKey("studies.study_instance_uid"), index=True
    )
    series_instance_uid: Mapped[str] = mapped_column(String(UID_LENGTH))
    sop_class_uid: Mapped[str] = mapped_column(String(UID_LENGTH))
    transfer_syntax_uid: Mapped[str] = mapped_column(String(UID_LENGTH))
    path: Mapped[str] = mapped_column(Text)
    """Absolute path of the Part 10 file."""
    size_bytes: Mapped[int] = mapped_column(Integer)
    calling_ae_title: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JobRow(Base):
    """One analysis of one study by one set of model versions; at most one per (study, models_key)."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("study_instance_uid", "models_key"),
        Index("ix_jobs_state_created_at", "state", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_instance_uid: Mapped[str] = mapped_column(String(UID_LENGTH), ForeignKey("studies.study_instance_uid"))
    models_key: Mapped[str] = mapped_column(String(200))
    """The models and versions that run, e.g. ``vein-seg@0.1.0+compressibility@0.1.0``."""
    state: Mapped[JobState] = mapped_column(JOB_STATE)
    attempts: Mapped[int] = mapped_column(Integer)
    """How many times the job was claimed."""
    worker: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    result_dir: Mapped[str | None] = mapped_column(Text)


class ReportRow(Base):
    """One visit report folder written by a finished job."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(Integer, ForeignKey("jobs.id"), index=True)
    subject: Mapped[str] = mapped_column(String(64))
    visit: Mapped[str] = mapped_column(String(64))
    folder: Mapped[str] = mapped_column(Text)
    """``<result_dir>/<subject>/<visit>``, absolute."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EventRow(Base):
    """One entry of the append-only event log (the database refuses UPDATE and DELETE on it)."""

    __tablename__ = "events"
    __table_args__ = ({"sqlite_autoincrement": True},)  # ids are never reused, even after the newest row is gone

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(64))
    study_instance_uid: Mapped[str | None] = mapped_column(String(UID_LENGTH), index=True)
    job_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
