"""The audit trail: hash-chained, refused UPDATE/DELETE by the database, one chain under concurrent appends."""

from __future__ import annotations

import csv
import io
import itertools
import json
import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dvt_us.service.db import Database
from dvt_us.service.review import audit
from dvt_us.service.review.errors import PermissionDeniedError
from dvt_us.service.review.store import ReviewStore
from tests.service.review.conftest import Team, at, review_config

SPAWN = multiprocessing.get_context("spawn")


def _append(store: ReviewStore, actor: str, n: int) -> None:
    for i in range(n):
        with store.write() as session:
            audit.append(session, actor, "test.append", f"item:{i}", {"i": i, "by": actor}, now=at(i))


def _append_in_process(url: str, actor: str, n: int) -> None:
    with Database(url) as db:
        _append(ReviewStore(db, review_config()), actor, n)


def test_the_chain_links_every_entry_and_verifies(store: ReviewStore, team: Team) -> None:
    _append(store, "tester", 3)
    entries = audit.audit_entries(store, team.root, at(10), limit=1000)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert entries[0].prev_hash == audit.GENESIS_HASH
    for before, entry in itertools.pairwise(entries):
        assert entry.prev_hash == before.hash
        assert entry.hash == audit.entry_hash(entry.seq, entry.at, entry.actor, entry.action, entry.object,
                                              details=entry.details, prev_hash=entry.prev_hash)
    result = audit.verify_chain(store, team.root, at(11))
    assert result.intact and result.entries == len(entries) + 1  # the audit.view entry is checked too
    with pytest.raises(PermissionDeniedError):
        audit.verify_chain(store, team.ada, at(12))


@pytest.mark.parametrize("statement", ["UPDATE review_audit SET actor = 'mallory' WHERE seq = 2",
                                       "DELETE FROM review_audit WHERE seq = 2",
                                       "UPDATE review_signatures SET meaning = 'nothing'",
                                       "UPDATE review_reads SET content = '{}'",
                                       "DELETE FROM review_reads"])
def test_the_database_refuses_changes(store: ReviewStore, team: Team, statement: str) -> None:
    refusal = "signed read version is locked" if "review_reads" in statement else "append-only"
    with pytest.raises(DBAPIError, match=refusal), store.database.engine.begin() as connection:
        if "review_audit" not in statement:  # a signed read and its signature to change
            connection.exec_driver_sql(
                "INSERT INTO review_studies (folder, trial, site, subject, visit, state, created_at, updated_at) "
                "VALUES ('/x', 't', 's', 'p', 'v', 'final', '2026-12-01 09:00:00', '2026-12-01 09:00:00')")
            connection.exec_driver_sql(
                "INSERT INTO review_reads (study_id, slot, reader_id, version, content, content_sha256, created_at, "
                f"updated_at, signed_at) VALUES (1, 'read_1', {team.ann.id}, 1, '{{}}', 'x', '2026-12-01 09:00:00', "
                "'2026-12-01 09:00:00', '2026-12-01 09:00:00')")
            connection.exec_driver_sql(
                "INSERT INTO review_signatures (read_id, user_id, username, printed_name, meaning, signed_at, "
                f"content_sha256) VALUES (1, {team.ann.id}, 'ann', 'Dr Ann', 'author', '2026-12-01 09:00:00', 'x')")
        connection.exec_driver_sql(statement)
    assert audit.verify_chain(store, team.root, at(1)).intact


def test_tampering_behind_the_triggers_is_found(store: ReviewStore, team: Team) -> None:
    _append(store, "tester", 4)
    triggers = (["review_audit_no_change"] if store.dialect == "postgresql"
                else ["review_audit_no_update", "review_audit_no_delete"])
    with store.database.engine.begin() as connection:
        for name in triggers:
            connection.exec_driver_sql(f"DROP TRIGGER {name}" + (" ON review_audit" if store.dialect == "postgresql"
                                                                 else ""))
        tampered = connection.execute(text("SELECT seq FROM review_audit WHERE action = 'test.append' "
                                           "ORDER BY seq LIMIT 1 OFFSET 1")).scalar_one()
        connection.execute(text("UPDATE review_audit SET actor = 'mallory' WHERE seq = :seq"), {"seq": tampered})
    result = audit.verify_chain(store, team.root, at(10))
    assert not result.intact and result.first_broken is not None
    assert result.first_broken.seq == tampered and result.first_broken.actor == "mallory"
    assert result.problem is not None and "does not hash to its stored hash" in result.problem
    with store.database.engine.begin() as connection:
        connection.execute(text("DELETE FROM review_audit WHERE seq = :seq"), {"seq": tampered})
    result = audit.verify_chain(store, team.root, at(11))
    assert result.first_broken is not None and result.first_broken.seq == tampered + 1
    assert result.problem is not None and "missing" in result.problem


def test_concurrent_appends_from_threads_and_processes_keep_one_chain(store: ReviewStore,
                                                                      database_url: str) -> None:
    procs = [SPAWN.Process(target=_append_in_process, args=(database_url, f"proc-{i}", 15)) for i in range(2)]
    for p in procs:
        p.start()
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda i: _append(store, f"thread-{i}", 15), range(3)))
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    with store.read() as session:
        seqs = list(session.execute(text("SELECT seq FROM review_audit ORDER BY seq")).scalars())
        assert seqs == list(range(1, 5 * 15 + 1))
        assert audit.check_chain(session).intact


def test_csv_export_holds_a_chain_anyone_can_recheck(store: ReviewStore, team: Team) -> None:
    _append(store, "tester", 2)
    out = io.StringIO()
    count = audit.export_csv(store, team.root, out, at(5))
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == count and tuple(rows[0]) == audit.CSV_COLUMNS
    prev = audit.GENESIS_HASH
    for row in rows:
        digest = audit.entry_hash(int(row["seq"]), datetime.fromisoformat(row["at"]), row["actor"], row["action"],
                                  row["object"], details=json.loads(row["details"]), prev_hash=row["prev_hash"])
        assert row["prev_hash"] == prev and row["hash"] == digest
        prev = row["hash"]
    last = audit.audit_entries(store, team.root, at(6), after_seq=count)
    assert last[0].action == "audit.export" and last[0].details["entries"] == count
