"""Frozen snapshots of review rows: what the review functions hand out (never an ORM object)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from dvt_us.service.review.enum import ReadSlot, ReviewState, Role
from dvt_us.service.review.models import AuditRow, ReadRow, ReviewStudyRow, SignatureRow, UserRow
from dvt_us.service.review.read_content import ReadContent


@dataclass(frozen=True)
class User:
    """A user account (without its password hash)."""

    id: int
    username: str
    printed_name: str
    role: Role
    disabled: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        """Snapshot a ``review_users`` row."""
        return cls(id=row.id, username=row.username, printed_name=row.printed_name, role=Role(row.role),
                   disabled=row.disabled, created_at=row.created_at)


@dataclass(frozen=True)
class ReviewStudy:
    """One visit report under review, with its worklist columns."""

    id: int
    report_id: int | None
    folder: Path
    """The model's visit folder."""
    trial: str
    site: str
    subject: str
    visit: str
    state: ReviewState
    final_slot: ReadSlot | None
    final_folder: Path | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: ReviewStudyRow) -> ReviewStudy:
        """Snapshot a ``review_studies`` row."""
        return cls(id=row.id, report_id=row.report_id, folder=Path(row.folder), trial=row.trial, site=row.site,
                   subject=row.subject, visit=row.visit, state=ReviewState(row.state),
                   final_slot=None if row.final_slot is None else ReadSlot(row.final_slot),
                   final_folder=None if row.final_folder is None else Path(row.final_folder),
                   created_at=row.created_at, updated_at=row.updated_at)


@dataclass(frozen=True)
class Read:
    """One version of one read; ``signed_at`` is set once it is signed, and it never changes after."""

    id: int
    study_id: int
    slot: ReadSlot
    reader_id: int
    version: int
    content: ReadContent
    content_sha256: str
    change_reason: str | None
    created_at: datetime
    updated_at: datetime
    signed_at: datetime | None

    @property
    def signed(self) -> bool:
        """The version is signed (locked)."""
        return self.signed_at is not None

    @classmethod
    def from_row(cls, row: ReadRow) -> Read:
        """Snapshot a ``review_reads`` row."""
        return cls(id=row.id, study_id=row.study_id, slot=ReadSlot(row.slot), reader_id=row.reader_id,
                   version=row.version, content=ReadContent.from_json(row.content),
                   content_sha256=row.content_sha256, change_reason=row.change_reason, created_at=row.created_at,
                   updated_at=row.updated_at, signed_at=row.signed_at)


@dataclass(frozen=True)
class Signature:
    """The manifest of an electronic signature (21 CFR 11.50): who, when, what it means, over which content."""

    id: int
    read_id: int
    user_id: int
    username: str
    printed_name: str
    meaning: str
    signed_at: datetime
    content_sha256: str
    """sha256 of the canonical JSON of the signed read content."""

    @classmethod
    def from_row(cls, row: SignatureRow) -> Signature:
        """Snapshot a ``review_signatures`` row."""
        return cls(id=row.id, read_id=row.read_id, user_id=row.user_id, username=row.username,
                   printed_name=row.printed_name, meaning=row.meaning, signed_at=row.signed_at,
                   content_sha256=row.content_sha256)

    def manifest(self) -> dict[str, str]:
        """The signature as printed beside the read: printed name, UTC time, meaning, content sha256."""
        return {"printed_name": self.printed_name, "username": self.username,
                "signed_at": self.signed_at.isoformat(), "meaning": self.meaning,
                "content_sha256": self.content_sha256}


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit trail; ``hash`` covers every other field and ``prev_hash``."""

    seq: int
    at: datetime
    actor: str
    action: str
    object: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: AuditRow) -> AuditEntry:
        """Snapshot a ``review_audit`` row."""
        return cls(seq=row.seq, at=row.at, actor=row.actor, action=row.action, object=row.object,
                   details=MappingProxyType(dict(row.details)), prev_hash=row.prev_hash, hash=row.hash)
