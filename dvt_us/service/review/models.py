"""The tables of reader review, declared on the service database's :class:`~dvt_us.service.db.models.Base`.

Revision ``0002_review`` creates them; the migration/model comparison covers them once this module is imported
(the Alembic environment imports it). ``review_audit`` and ``review_signatures`` are append-only: triggers
created by the migration refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dvt_us.service.db.models import Base, UTCDateTime
from dvt_us.service.review.enum import ReadSlot, ReviewState, Role

SHA256_HEX = 64
NAME_LENGTH = 64
"""Usernames, trial, site, subject and visit identifiers (DICOM LO is 64 characters)."""


def _enum(kind: type[Role | ReadSlot | ReviewState], name: str) -> Enum:
    return Enum(kind, name=name, native_enum=False, create_constraint=True, length=32,
                values_callable=lambda members: [m.value for m in members], validate_strings=True)


class UserRow(Base):
    """A reader, adjudicator or admin account."""

    __tablename__ = "review_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    printed_name: Mapped[str] = mapped_column(String(200))
    """The name printed on signatures (21 CFR 11.50)."""
    role: Mapped[Role] = mapped_column(_enum(Role, "review_role"))
    password_hash: Mapped[str] = mapped_column(String(200))
    """argon2id PHC string."""
    disabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SessionRow(Base):
    """A server-side login session; the token itself is never stored, only its sha256."""

    __tablename__ = "review_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(SHA256_HEX), unique=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("review_users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(SHA256_HEX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReviewStudyRow(Base):
    """One visit report under review (a ``reports`` row of a job, or a visit folder registered directly)."""

    __tablename__ = "review_studies"
    __table_args__ = (Index("ix_review_studies_trial_site_subject_visit", "trial", "site", "subject", "visit"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("reports.id"), unique=True)
    folder: Mapped[str] = mapped_column(Text, unique=True)
    """The model's visit folder (``<result_dir>/<subject>/<visit>``), absolute."""
    trial: Mapped[str] = mapped_column(String(NAME_LENGTH))
    """ClinicalTrialProtocolID (report.json ``protocol``)."""
    site: Mapped[str] = mapped_column(String(NAME_LENGTH))
    subject: Mapped[str] = mapped_column(String(NAME_LENGTH))
    visit: Mapped[str] = mapped_column(String(NAME_LENGTH))
    state: Mapped[ReviewState] = mapped_column(_enum(ReviewState, "review_state"), index=True)
    final_slot: Mapped[ReadSlot | None] = mapped_column(_enum(ReadSlot, "review_final_slot"))
    """The read that is final (read 1 for a single or concordant double read, else the adjudication)."""
    final_folder: Mapped[str | None] = mapped_column(Text)
    """The final visit folder written from the final read, once written."""
    final_content_sha256: Mapped[str | None] = mapped_column(String(SHA256_HEX))
    """sha256 of the read content the final folder was written from."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReadRow(Base):
    """One version of one read; a signed version is never changed again (a change makes the next version)."""

    __tablename__ = "review_reads"
    __table_args__ = (UniqueConstraint("study_id", "slot", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(Integer, ForeignKey("review_studies.id"), index=True)
    slot: Mapped[ReadSlot] = mapped_column(_enum(ReadSlot, "review_read_slot"))
    reader_id: Mapped[int] = mapped_column(Integer, ForeignKey("review_users.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    """:class:`~dvt_us.service.review.read_content.ReadContent` as JSON."""
    content_sha256: Mapped[str] = mapped_column(String(SHA256_HEX))
    change_reason: Mapped[str | None] = mapped_column(Text)
    """Why version N+1 was made from the signed version N; None for version 1."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SignatureRow(Base):
    """The manifest of one electronic signature of one read version (append-only)."""

    __tablename__ = "review_signatures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    read_id: Mapped[int] = mapped_column(Integer, ForeignKey("review_reads.id"), unique=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("review_users.id"))
    username: Mapped[str] = mapped_column(String(NAME_LENGTH))
    printed_name: Mapped[str] = mapped_column(String(200))
    meaning: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    content_sha256: Mapped[str] = mapped_column(String(SHA256_HEX))


class AuditRow(Base):
    """One entry of the hash-chained audit trail (append-only); ``seq`` is gapless from 1."""

    __tablename__ = "review_audit"
    __table_args__ = (Index("ix_review_audit_object_action_at", "object", "action", "at"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(NAME_LENGTH))
    action: Mapped[str] = mapped_column(String(NAME_LENGTH))
    object: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(SHA256_HEX))
    hash: Mapped[str] = mapped_column(String(SHA256_HEX), unique=True)
