"""The audit trail: append-only, hash-chained entries of every view, change, signature and export.

Entry ``seq`` (gapless from 1) stores ``hash = sha256(canonical JSON of seq, at, actor, action, object,
details, prev_hash)`` with ``prev_hash`` the hash of entry ``seq - 1`` (64 zeros for the first). Appending is
serialised so the chain cannot fork: SQLite has one writer at a time (``BEGIN IMMEDIATE``); on PostgreSQL the
head is read under a transaction-scoped advisory lock held to the commit. The database refuses UPDATE and
DELETE of entries (triggers of revision 0002); :func:`verify_chain` finds an entry changed behind its back.

The exports carry everything needed to check the chain again without the database: :func:`export_jsonl`
(the stored values, one JSON object a line, for programs) and :func:`export_csv` (for people: every cell that a
spreadsheet would take for a formula is escaped, reversibly). :func:`verify_csv` and :func:`verify_jsonl`
re-check an exported file on its own. A file cut short after any entry still verifies: compare its last
``seq`` with the ``entries`` of the ``audit.export`` entry that follows it in the trail.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
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
"""The columns of :func:`export_csv` (after a header row of these names) and the keys of :func:`export_jsonl`."""

CSV_ESCAPE = "'"
"""Put before a CSV cell that a spreadsheet would read as a formula, and before one that starts with itself."""
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make Excel or LibreOffice evaluate a cell (CSV injection)."""


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
    head_hash: str = GENESIS_HASH
    """The hash of the last entry checked out (the chain's head when intact): compare it with a trusted copy,
    since anyone who edits an entry can recompute every later hash."""

    @property
    def intact(self) -> bool:
        """No entry was changed, removed or inserted."""
        return self.first_broken is None


def _rows(session: Session) -> Iterator[AuditRow]:
    yield from session.scalars(select(AuditRow).order_by(AuditRow.seq).execution_options(yield_per=500))


def _walk(entries: Iterable[AuditEntry]) -> ChainVerification:
    """Walk entries from seq 1: each follows the last, links to its hash, and hashes to its own hash."""
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    for entry in entries:
        count += 1
        problem = None
        if entry.seq != expected_seq:
            problem = f"entry {entry.seq} follows entry {expected_seq - 1}: entries are missing or out of order"
        elif entry.prev_hash != prev_hash:
            problem = f"entry {entry.seq}: prev_hash does not match the hash of entry {entry.seq - 1}"
        elif entry.hash != entry_hash(entry.seq, entry.at, entry.actor, entry.action, entry.object,
                                       details=entry.details, prev_hash=entry.prev_hash):
            problem = f"entry {entry.seq}: its content does not hash to its stored hash (changed after it was written)"
        if problem is not None:
            return ChainVerification(count, entry, problem, prev_hash)
        expected_seq, prev_hash = entry.seq + 1, entry.hash
    return ChainVerification(count, None, None, prev_hash)


def check_chain(session: Session) -> ChainVerification:
    """Walk the stored chain from entry 1 (see :func:`verify_chain`; this check is not audited)."""
    return _walk(AuditEntry.from_row(row) for row in _rows(session))


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


def csv_cell(value: str) -> str:
    """``value`` as a CSV cell a spreadsheet shows as text: :data:`CSV_ESCAPE` put before a formula start or itself.

    :func:`csv_cell_value` gives ``value`` back exactly.
    """
    return CSV_ESCAPE + value if value.startswith((*CSV_FORMULA_STARTS, CSV_ESCAPE)) else value


def csv_cell_value(cell: str) -> str:
    """The value a cell of :func:`export_csv` holds: the cell less one leading :data:`CSV_ESCAPE`, if it has one."""
    return cell.removeprefix(CSV_ESCAPE)


def csv_row(entry: AuditEntry) -> list[str]:
    """The CSV cells of an entry (:data:`CSV_COLUMNS`; ``at`` in ISO 8601, ``details`` as JSON), escaped."""
    values = [str(entry.seq), entry.at.isoformat(), entry.actor, entry.action, entry.object,
              json.dumps(dict(entry.details), sort_keys=True, ensure_ascii=False), entry.prev_hash, entry.hash]
    return [csv_cell(value) for value in values]


def entry_document(entry: AuditEntry) -> dict[str, Any]:
    """The stored values of an entry as one JSON object (keys :data:`CSV_COLUMNS`, ``at`` in ISO 8601)."""
    return {"seq": entry.seq, "at": entry.at.isoformat(), "actor": entry.actor, "action": entry.action,
            "object": entry.object, "details": dict(entry.details), "prev_hash": entry.prev_hash, "hash": entry.hash}


def entry_from_document(document: Mapping[str, Any], where: str) -> AuditEntry:
    """The entry of one exported object (:func:`entry_document`); ValueError naming ``where`` when it is not one."""
    if set(document) != set(CSV_COLUMNS):
        raise ValueError(f"{where}: fields {sorted(document)}, expected {sorted(CSV_COLUMNS)}")
    seq, at, details = document["seq"], document["at"], document["details"]
    texts = [document[key] for key in ("at", "actor", "action", "object", "prev_hash", "hash")]
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise ValueError(f"{where}: seq {seq!r} is not an integer")
    if not isinstance(details, dict):
        raise ValueError(f"{where}: details {details!r} is not a JSON object")
    if not all(isinstance(value, str) for value in texts):
        raise ValueError(f"{where}: at, actor, action, object, prev_hash and hash must be strings")
    try:
        moment = aware(datetime.fromisoformat(at))
    except ValueError as exc:
        raise ValueError(f"{where}: at {at!r} is not an ISO 8601 time with its UTC offset ({exc})") from None
    return AuditEntry(seq=seq, at=moment, actor=document["actor"], action=document["action"],
                      object=document["object"], details=MappingProxyType(details), prev_hash=document["prev_hash"],
                      hash=document["hash"])


def entry_from_csv(cells: Sequence[str], where: str) -> AuditEntry:
    """The entry of one row of :func:`export_csv` (escaped cells); ValueError naming ``where`` when it is not one."""
    if len(cells) != len(CSV_COLUMNS):
        raise ValueError(f"{where}: {len(cells)} cells, expected {len(CSV_COLUMNS)} ({', '.join(CSV_COLUMNS)})")
    values = dict(zip(CSV_COLUMNS, (csv_cell_value(cell) for cell in cells), strict=True))
    try:
        seq = int(values["seq"])
    except ValueError:
        raise ValueError(f"{where}: seq {values['seq']!r} is not an integer") from None
    try:
        details = json.loads(values["details"])
    except ValueError as exc:
        raise ValueError(f"{where}: details is not JSON ({exc})") from None
    return entry_from_document({**values, "seq": seq, "details": details}, where)


def verify_csv(rows: Iterable[Sequence[str]]) -> ChainVerification:
    """Re-check the chain of a CSV export without the database.

    ``rows`` are those ``csv.reader`` gives from the file opened with ``newline=""``, the header first. Every
    entry's hash is recomputed from its cells (escapes removed) and every link checked; the first entry that
    does not check out is returned. ValueError when the header or a row is not that of an export at all.
    """
    found = iter(rows)
    header = tuple(csv_cell_value(cell) for cell in next(found, ()))
    if header != CSV_COLUMNS:
        raise ValueError(f"not an audit trail CSV: header {header!r}, expected {CSV_COLUMNS!r}")
    return _walk(entry_from_csv(cells, f"row {number}") for number, cells in enumerate(found, start=2))


def verify_jsonl(lines: Iterable[str]) -> ChainVerification:
    """Re-check the chain of a JSON Lines export (one object a line; blank lines skipped) without the database."""
    def entries() -> Iterator[AuditEntry]:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    document = json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"line {number}: not JSON ({exc})") from None
                if not isinstance(document, dict):
                    raise ValueError(f"line {number}: not a JSON object")
                yield entry_from_document(document, f"line {number}")

    return _walk(entries())


def _export(store: ReviewStore, user: User, now: datetime, file_format: str,
            write: Callable[[AuditEntry], object]) -> int:
    """Hand every entry to ``write``, oldest first, then append the ``audit.export`` entry; the number written."""
    count = 0
    with store.write() as session:
        for row in _rows(session):
            write(AuditEntry.from_row(row))
            count += 1
        append(session, user.username, "audit.export", "audit", {"format": file_format, "entries": count}, now=now)
    return count


def export_csv(store: ReviewStore, user: User, out: TextIO, now: datetime) -> int:
    """Write the whole trail as CSV (RFC 4180: a header, then :func:`csv_row` of each entry) to ``out``; the count.

    Safe to open in a spreadsheet (see :func:`csv_cell`), and :func:`verify_csv` re-checks it. The export is
    appended to the trail after the rows it wrote (it is not in the file it describes).
    """
    authorise(user, Action.AUDIT_EXPORT)
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; a CR or LF in a cell makes it quoted
    writer.writerow(CSV_COLUMNS)
    return _export(store, user, now, "csv", lambda entry: writer.writerow(csv_row(entry)))


def export_jsonl(store: ReviewStore, user: User, out: TextIO, now: datetime) -> int:
    """Write the whole trail as JSON Lines (:func:`entry_document` of each entry, ASCII) to ``out``; the count.

    The stored values exactly, for programs (:func:`verify_jsonl` re-checks it); audited like :func:`export_csv`.
    """
    authorise(user, Action.AUDIT_EXPORT)
    return _export(store, user, now, "jsonl",
                   lambda entry: out.write(json.dumps(entry_document(entry), separators=(",", ":")) + "\n"))
