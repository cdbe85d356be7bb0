"""The audit trail: append-only, hash-chained entries of every view, change, signature and export.

Entry ``seq`` (gapless from 1) stores ``hash = sha256(canonical JSON of seq, at, actor, action, object,
details, prev_hash)`` with ``prev_hash`` the hash of entry ``seq - 1`` (64 zeros for the first). Appending is
serialised so the chain cannot fork: SQLite has one writer at a time (``BEGIN IMMEDIATE``); on PostgreSQL the
head is read under a transaction-scoped advisory lock held to the commit. The database refuses UPDATE and
DELETE of entries (triggers of revision 0002); :func:`verify_chain` finds an entry changed behind its back.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from dvt_us.service.review.enum import Action
from dvt_us.service.review.models import AuditRow
from dvt_us.service.review.permissions import authorise
from dvt_us.service.review.records import AuditEntry, User
from dvt_us.service.review.store import ReviewStore, aware

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first entry."""

AUDIT_LOCK_ID = 0x64767477
"""PostgreSQL advisory lock held from reading the chain's head to the commit of the new entry."""

SYSTEM_ACTOR = "system"
"""The actor of what the service does by itself (registering a report, writing final outputs)."""

CSV_COLUMNS = ("seq", "at", "actor", "action", "object", "details", "prev_hash", "hash")


def canonical_entry(seq: int, at: datetime, actor: str, action: str, object_: str, *, details: Mapping[str, Any],
                    prev_hash: str) -> bytes:
    """The bytes an entry's hash covers: UTF-8 JSON with sorted keys, no whitespace, ``at`` in ISO 8601 UTC."""
    document = {"seq": seq, "at": aware(at).astimezone(UTC).isoformat(), "actor": actor, "action": action,
                "object": object_, "details": dict(details), "prev_hash": prev_hash}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(seq: int, at: datetime, actor: str, action: str, object_: str, *, details: Mapping[str, Any],
               prev_hash: str) -> str:
    """Hex sha256 of :func:`canonical_entry`."""
    return hashlib.sha256(canonical_entry(seq, at, actor, action, object_, details=details,
                                          prev_hash=prev_hash)).hexdigest()


def append(session: Session, actor: str, action: str, object_: str, details: Mapping[str, Any], *,
           now: datetime) -> AuditEntry:
    """Append one entry as the last write of the caller's transaction; it commits (or not) with the action.

    Everything else the transaction wrote is flushed first, so that no other lock is awaited while the
    chain's head is held.
    """
    at = aware(now).astimezone(UTC)
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({AUDIT_LOCK_ID})"))
    head = session.execute(select(AuditRow.seq, AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1)).first()
    seq, prev_hash = (1, GENESIS_HASH) if head is None else (head.seq + 1, head.hash)
    plain_details = json.loads(json.dumps(dict(details)))  # what the JSON column will give back
    row = AuditRow(seq=seq, at=at, actor=actor, action=action, object=object_, details=plain_details,
                   prev_hash=prev_hash,
                   hash=entry_hash(seq, at, actor, action, object_, details=plain_details, prev_hash=prev_hash))
    session.add(row)
    session.flush()
    return AuditEntry.from_row(row)


@dataclass(frozen=True)
class ChainVerification:
    """The result of :func:`verify_chain`: ``first_broken`` is None when every entry checks out."""

    entries: int
    """How many entries were checked (up to and including the first broken one)."""
    first_broken: AuditEntry | None
    problem: str | None

    @property
    def intact(self) -> bool:
        """No entry was changed, removed or inserted."""
        return self.first_broken is None


def _rows(session: Session) -> Iterator[AuditRow]:
    yield from session.scalars(select(AuditRow).order_by(AuditRow.seq).execution_options(yield_per=500))


def check_chain(session: Session) -> ChainVerification:
    """Walk the chain from entry 1: each seq follows the last, links to its hash, and hashes to its own hash."""
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    for row in _rows(session):
        count += 1
        problem = None
        if row.seq != expected_seq:
            problem = f"entry {row.seq} follows entry {expected_seq - 1}: entries are missing"
        elif row.prev_hash != prev_hash:
            problem = f"entry {row.seq}: prev_hash does not match the hash of entry {row.seq - 1}"
        elif row.hash != entry_hash(row.seq, row.at, row.actor, row.action, row.object, details=row.details,
                                     prev_hash=row.prev_hash):
            problem = f"entry {row.seq}: its content does not hash to its stored hash (changed after it was written)"
        if problem is not None:
            return ChainVerification(count, AuditEntry.from_row(row), problem)
        expected_seq, prev_hash = row.seq + 1, row.hash
    return ChainVerification(count, None, None)


def verify_chain(store: ReviewStore, user: User, now: datetime) -> ChainVerification:
    """Check the whole audit trail (``audit.verify``); the check itself is appended to the trail."""
    authorise(user, Action.AUDIT_VERIFY)
    with store.write() as session:
        result = check_chain(session)
        append(session, user.username, "audit.verify", "audit", {
            "entries": result.entries, "intact": result.intact, "problem": result.problem,
            "first_broken_seq": None if result.first_broken is None else result.first_broken.seq}, now=now)
        return result


def audit_entries(store: ReviewStore, user: User, now: datetime, *, after_seq: int = 0,
                  limit: int = 100, object_: str | None = None) -> list[AuditEntry]:
    """Up to ``limit`` entries after ``after_seq`` (of one object, if given), oldest first (``audit.view``)."""
    authorise(user, Action.AUDIT_VIEW)
    if limit < 1:
        raise ValueError(f"limit {limit}: at least 1")
    query = select(AuditRow).where(AuditRow.seq > after_seq).order_by(AuditRow.seq).limit(limit)
    if object_ is not None:
        query = query.where(AuditRow.object == object_)
    with store.write() as session:
        entries = [AuditEntry.from_row(row) for row in session.scalars(query)]
        append(session, user.username, "audit.view", "audit",
               {"after_seq": after_seq, "limit": limit, "object": object_, "returned": len(entries)}, now=now)
        return entries


def export_csv(store: ReviewStore, user: User, out: TextIO, now: datetime) -> int:
    """Write the whole trail as CSV (:data:`CSV_COLUMNS`, details as JSON) to ``out``; the number of entries.

    The export is appended to the trail after the rows it wrote (it is not in the file it describes).
    """
    authorise(user, Action.AUDIT_EXPORT)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    with store.write() as session:
        for row in _rows(session):
            writer.writerow([row.seq, row.at.isoformat(), row.actor, row.action, row.object,
                             json.dumps(row.details, sort_keys=True, ensure_ascii=False), row.prev_hash, row.hash])
            count += 1
        append(session, user.username, "audit.export", "audit", {"format": "csv", "entries": count}, now=now)
    return count
