"""The service database on SQLite and PostgreSQL: schema, instances, studies, the job queue, the event log.

Every test passes the clock explicitly; the concurrency tests race real threads and processes (spawned, each
with its own ``Database``) and check invariants, never timings.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import queue
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from dvt_us.service.db import (
    Database,
    EventKind,
    JobNotRunningError,
    JobState,
    UnknownStudyError,
    parse_url,
)
from dvt_us.service.instances import StoredInstance

T0 = datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=UTC)
MODELS = "vein-seg@0.1.0+compressibility@0.1.0"
TABLES = {"instances", "studies", "jobs", "reports", "events", "review_users", "review_sessions", "review_studies",
          "review_reads", "review_signatures", "review_audit"}
SPAWN = multiprocessing.get_context("spawn")


def at(offset_s: float) -> datetime:
    return T0 + timedelta(seconds=offset_s)


def instance(sop: str, study: str = "1.2.3", offset_s: float = 0.0) -> StoredInstance:
    return StoredInstance(sop_instance_uid=sop, sop_class_uid="1.2.840.10008.5.1.4.1.1.3.1", study_instance_uid=study,
                          series_instance_uid=f"{study}.1", transfer_syntax_uid="1.2.840.10008.1.2.1",
                          path=Path(f"/data/instances/{sop}.dcm"), size_bytes=1024, calling_ae_title="PACS",
                          received_at=at(offset_s))


def queued_study(db: Database, study: str, offset_s: float = 0.0) -> int:
    assert db.record_instance(instance(f"{study}.1.1", study, offset_s))
    job_id = db.enqueue(study, MODELS, at(offset_s))
    assert job_id is not None
    return job_id


# --- schema ----------------------------------------------------------------------------------------------


def test_migrated_schema_matches_models(database: Database) -> None:
    assert database.schema_diffs() == []


def test_unmigrated_database_differs_from_models(database_url: str) -> None:
    with Database(database_url) as db:
        added = {diff[1].name for diff in db.schema_diffs() if diff[0] == "add_table"}
    assert added == TABLES


def test_upgrade_twice_is_harmless(database: Database) -> None:
    database.upgrade()
    assert database.schema_diffs() == []


def test_concurrent_upgrades_migrate_once(database_url: str) -> None:
    with Database(database_url) as db, ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: db.upgrade(), range(4)))
        assert db.schema_diffs() == []


def test_urls() -> None:
    assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    with pytest.raises(ValueError, match="valid: sqlite, postgresql"):
        parse_url("mysql://u@h/db")
    with pytest.raises(ValueError, match="max_attempts"):
        Database("sqlite://", max_attempts=0)


def test_job_state_is_parsed_at_the_edge() -> None:
    assert JobState.parse(" Running ") is JobState.RUNNING
    with pytest.raises(ValueError, match=r"'paused'.*valid: queued, running, done, failed"):
        JobState.parse("paused")


# --- instances and studies -------------------------------------------------------------------------------


def test_datetimes_round_trip_as_aware_utc(database: Database) -> None:
    cet = timezone(timedelta(hours=1))
    assert database.record_instance(dataclasses.replace(instance("1.1"), received_at=T0.astimezone(cet)))
    (study,) = database.studies()
    assert study.first_received_at == T0
    assert study.first_received_at.tzinfo is UTC
    assert study.first_received_at.microsecond == T0.microsecond
    with pytest.raises(ValueError, match="naive"):
        database.record_instance(dataclasses.replace(instance("1.2"), received_at=T0.replace(tzinfo=None)))


def test_record_instance_is_idempotent(database: Database) -> None:
    assert database.record_instance(instance("1.1", offset_s=10))
    assert not database.record_instance(instance("1.1", offset_s=20))
    assert database.record_instance(instance("1.2", offset_s=30))
    assert database.record_instance(instance("1.3", offset_s=5))  # arrives late, was acquired earlier
    (study,) = database.studies()
    assert (study.instance_count, study.first_received_at, study.last_received_at) == (3, at(5), at(30))
    assert database.study_instances("1.2.3") == [Path(f"/data/instances/1.{n}.dcm") for n in (3, 1, 2)]
    received = [e for e in database.events() if e.kind == EventKind.INSTANCE_RECEIVED]
    assert [e.detail["sop_instance_uid"] for e in received] == ["1.1", "1.2", "1.3"]


def test_record_instance_from_threads_counts_each_once(database: Database) -> None:
    instances = [instance(f"1.{n}", offset_s=n) for n in range(10)]
    barrier = threading.Barrier(8)

    def record_all(_: int) -> list[bool]:
        barrier.wait()
        return [database.record_instance(inst) for inst in instances]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(record_all, range(8)))
    assert [sum(column) for column in zip(*results, strict=True)] == [1] * 10
    (study,) = database.studies()
    assert (study.instance_count, study.last_received_at) == (10, at(9))


def test_instance_rows_commit_without_waiting_for_the_disk_and_jobs_durably(database: Database) -> None:
    """On SQLite an instance row is rebuilt from its file at start-up, so its commit need not reach the disk
    first; a job's must (and takes the instance rows before it along). Each insert sees the level it was given.
    PostgreSQL commits both durably: its server can restart without the service."""
    postgres = database.engine.dialect.name == "postgresql"
    seen: list[tuple[str, str]] = []

    def durability_at_insert(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        table = next((t for t in ("instances", "jobs") if statement.startswith(f"INSERT INTO {t} ")), None)
        if table is not None:
            probe = cursor.connection.cursor()  # the same connection, so the same transaction
            probe.execute("SHOW synchronous_commit" if postgres else "PRAGMA synchronous")
            seen.append((table, str(probe.fetchone()[0])))
            probe.close()

    event.listen(database.engine, "before_cursor_execute", durability_at_insert)
    try:
        for study in ("1.2.3", "1.2.4"):
            queued_study(database, study)
    finally:
        event.remove(database.engine, "before_cursor_execute", durability_at_insert)
    relaxed, durable = ("on", "on") if postgres else ("1", "2")  # SQLite: 1 NORMAL, 2 FULL
    assert seen == [("instances", relaxed), ("jobs", durable)] * 2


def test_instance_path_of_a_recorded_instance(database: Database) -> None:
    database.record_instance(instance("1.1"))
    assert database.instance_path("1.1") == Path("/data/instances/1.1.dcm")
    assert database.instance_path("9.9") is None


def test_complete_studies_waits_for_idle_time_and_skips_queued(database: Database) -> None:
    database.record_instance(instance("1.1", "1.2.3", offset_s=0))
    database.record_instance(instance("2.1", "2.3.4", offset_s=0))
    database.record_instance(instance("2.2", "2.3.4", offset_s=20))
    assert database.complete_studies(30, at(29), MODELS) == []
    assert database.complete_studies(30, at(30), MODELS) == ["1.2.3"]
    assert database.complete_studies(30, at(49), MODELS) == ["1.2.3"]
    assert database.complete_studies(30, at(50), MODELS) == ["1.2.3", "2.3.4"]
    assert database.enqueue("1.2.3", MODELS, at(50)) is not None
    assert database.complete_studies(30, at(50), MODELS) == ["2.3.4"]
    assert database.complete_studies(30, at(50), "vein-seg@0.2.0+compressibility@0.1.0") == ["1.2.3", "2.3.4"]


# --- enqueue ---------------------------------------------------------------------------------------------


def test_enqueue_once_per_study_and_models(database: Database) -> None:
    database.record_instance(instance("1.1"))
    first = database.enqueue("1.2.3", MODELS, at(1))
    assert first is not None
    assert database.enqueue("1.2.3", MODELS, at(2)) is None
    assert database.enqueue("1.2.3", "other@1.0.0", at(2)) not in (None, first)
    with pytest.raises(UnknownStudyError, match=r"9\.9\.9"):
        database.enqueue("9.9.9", MODELS, at(3))


def test_enqueue_race_between_threads_makes_one_job(database: Database) -> None:
    database.record_instance(instance("1.1"))
    barrier = threading.Barrier(8)

    def enqueue(_: int) -> int | None:
        barrier.wait()
        return database.enqueue("1.2.3", MODELS, at(1))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(enqueue, range(8)))
    assert sum(r is not None for r in results) == 1
    assert [job.id for job in database.jobs()] == [r for r in results if r is not None]


def _enqueue_in_process(db: Database) -> int | None:
    return db.enqueue("1.2.3", MODELS, at(1))


def _claim_all_in_process(db: Database, worker: str) -> tuple[str, list[int]]:
    claimed = []
    while (job := db.claim(worker, at(100))) is not None:
        claimed.append(job.id)
    return worker, claimed


def _process_main(target: Any, url: str, args: tuple[Any, ...], barrier: Any, results: Any) -> None:
    """Run ``target(Database(url), *args)`` in a spawned process, all processes starting it at once."""
    try:
        with Database(url) as db:
            barrier.wait(timeout=60)
            results.put(("ok", target(db, *args)))
    except BaseException:
        results.put(("error", traceback.format_exc()))
        raise


def _run_processes(target: Any, url: str, args: list[tuple[Any, ...]]) -> list[Any]:
    barrier, results = SPAWN.Barrier(len(args)), SPAWN.Queue()
    processes = [SPAWN.Process(target=_process_main, args=(target, url, a, barrier, results)) for a in args]
    for process in processes:
        process.start()
    outcomes: list[tuple[str, Any]] = []
    while len(outcomes) < len(processes):
        alive = any(process.is_alive() for process in processes)
        try:
            outcomes.append(results.get(timeout=1))
        except queue.Empty:
            if not alive:  # every process has ended and the queue stayed empty for a second after
                break
    for process in processes:
        process.join(timeout=60)
    errors = [value for status, value in outcomes if status == "error"]
    assert not errors, "\n".join(errors)
    assert [process.exitcode for process in processes] == [0] * len(processes)
    assert len(outcomes) == len(processes)
    return [value for _status, value in outcomes]


def test_enqueue_race_between_processes_makes_one_job(database: Database, database_url: str) -> None:
    database.record_instance(instance("1.1"))
    results = _run_processes(_enqueue_in_process, database_url, [()] * 4)
    assert sum(r is not None for r in results) == 1
    assert [job.id for job in database.jobs()] == [r for r in results if r is not None]


# --- claim, heartbeat, stale jobs ------------------------------------------------------------------------


def test_claim_takes_oldest_and_returns_a_frozen_snapshot(database: Database) -> None:
    later = queued_study(database, "2.2", offset_s=5)
    older = queued_study(database, "1.1", offset_s=1)
    job = database.claim("w1", at(10))
    assert job is not None
    assert (job.id, job.state, job.attempts, job.worker, job.started_at, job.heartbeat_at) == (
        older, JobState.RUNNING, 1, "w1", at(10), at(10))
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.attempts = 5  # type: ignore[misc]  # the point: snapshots cannot be changed
    second = database.claim("w2", at(11))
    assert second is not None and second.id == later
    assert database.claim("w3", at(12)) is None


def test_a_worker_claims_only_jobs_of_its_model_version(database: Database) -> None:
    ours = queued_study(database, "3.1", offset_s=2)
    assert database.record_instance(instance("4.1.1.1", "4.1", 0))
    other = database.enqueue("4.1", "vein-seg@0.2.0+compressibility@0.2.0", at(1))  # older, another version
    job = database.claim("w", at(10), MODELS)
    assert job is not None and job.id == ours
    assert database.claim("w", at(11), MODELS) is None
    anything = database.claim("w", at(12))
    assert anything is not None and anything.id == other


def test_processes_claim_every_job_exactly_once(database: Database, database_url: str) -> None:
    job_ids = [queued_study(database, f"1.{n}", offset_s=n) for n in range(20)]
    claimed = _run_processes(_claim_all_in_process, database_url, [(f"worker-{n}",) for n in range(4)])
    flat = [job_id for _worker, ids in claimed for job_id in ids]
    assert sorted(flat) == sorted(job_ids)
    assert len(flat) == len(set(flat))
    jobs = database.jobs()
    assert {job.state for job in jobs} == {JobState.RUNNING}
    assert {job.attempts for job in jobs} == {1}
    by_worker = {job.id: job.worker for job in jobs}
    for worker, ids in claimed:
        assert all(by_worker[job_id] == worker for job_id in ids)


def test_crashed_worker_job_is_requeued_and_claimed_again(database: Database) -> None:
    job_id = queued_study(database, "1.1")
    first = database.claim("dead-worker", at(10))
    assert first is not None and first.id == job_id
    # the worker is killed (kill -9): it never heartbeats, finishes or fails
    assert database.requeue_stale(600, at(10 + 600)) == []
    assert database.requeue_stale(600, at(10 + 601)) == [job_id]
    requeued = database.job(job_id)
    assert requeued is not None
    assert (requeued.state, requeued.worker, requeued.attempts) == (JobState.QUEUED, None, 1)
    assert requeued.error is not None and "worker lost" in requeued.error
    second = database.claim("new-worker", at(700))
    assert second is not None
    assert (second.id, second.attempts, second.worker) == (job_id, 2, "new-worker")
    assert not database.heartbeat(job_id, at(701), worker="dead-worker")
    with pytest.raises(JobNotRunningError, match="dead-worker"):
        database.finish(job_id, Path("/results/1"), [], at(702), worker="dead-worker")
    assert database.heartbeat(job_id, at(703), worker="new-worker")


def test_heartbeat_keeps_a_job_from_going_stale(database: Database) -> None:
    job_id = queued_study(database, "1.1")
    assert database.claim("w", at(0)) is not None
    assert database.heartbeat(job_id, at(500))
    assert database.requeue_stale(600, at(1000)) == []
    assert database.requeue_stale(600, at(1101)) == [job_id]
    assert not database.heartbeat(job_id, at(1102))


def test_stale_job_without_attempts_left_fails(database: Database) -> None:
    job_id = queued_study(database, "1.1")
    for attempt in range(1, 4):
        claimed = database.claim("w", at(attempt * 1000))
        assert claimed is not None and claimed.attempts == attempt
        requeued = database.requeue_stale(600, at(attempt * 1000 + 601))
        assert requeued == ([job_id] if attempt < 3 else [])
    job = database.job(job_id)
    assert job is not None
    assert (job.state, job.attempts, job.finished_at) == (JobState.FAILED, 3, at(3601))
    assert database.claim("w", at(5000)) is None


# --- fail and finish -------------------------------------------------------------------------------------


def test_fail_with_retry_until_max_attempts(database: Database) -> None:
    job_id = queued_study(database, "1.1")
    states = []
    for attempt in range(1, 4):
        claimed = database.claim("w", at(attempt))
        assert claimed is not None and claimed.attempts == attempt
        states.append(database.fail(job_id, f"boom {attempt}", at(attempt + 0.5), retry=True))
    assert states == [JobState.QUEUED, JobState.QUEUED, JobState.FAILED]
    job = database.job(job_id)
    assert job is not None
    assert (job.state, job.error, job.finished_at) == (JobState.FAILED, "boom 3", at(3.5))
    assert database.claim("w", at(10)) is None
    assert database.jobs(JobState.FAILED) == [job]
    assert database.jobs(JobState.QUEUED) == []
    with pytest.raises(JobNotRunningError):
        database.fail(job_id, "again", at(11), retry=True)


def test_fail_without_retry_fails_at_once(database: Database) -> None:
    job_id = queued_study(database, "1.1")
    assert database.claim("w", at(1)) is not None
    assert database.fail(job_id, "bad input", at(2), retry=False) is JobState.FAILED


def test_finish_records_the_reports(database: Database) -> None:
    job_id = queued_study(database, "1.1")
    with pytest.raises(JobNotRunningError):
        database.finish(job_id, Path("/results/1"), [], at(1))  # not claimed yet
    assert database.claim("w", at(1)) is not None
    reports = [("S-001", "BASELINE", Path("/results/1/S-001/BASELINE")), ("S-001", "D10", Path("/results/1/S-001/D10"))]
    database.finish(job_id, Path("/results/1"), reports, at(2), worker="w")
    job = database.job(job_id)
    assert job is not None
    assert (job.state, job.result_dir, job.finished_at, job.error) == (JobState.DONE, Path("/results/1"), at(2), None)
    recorded = database.reports(job_id)
    assert [(r.subject, r.visit, r.folder) for r in recorded] == reports
    assert database.report(recorded[1].id) == recorded[1] and database.report(recorded[1].id + 99) is None
    assert {r.created_at for r in recorded} == {at(2)}
    assert not database.heartbeat(job_id, at(3))
    with pytest.raises(JobNotRunningError):
        database.finish(job_id, Path("/results/1"), reports, at(4))
    assert len(database.reports()) == 2


def test_a_study_that_grows_after_its_job_ran_is_queued_again_once(database: Database) -> None:
    job_id = queued_study(database, "1.1")
    assert database.claim("w", at(1)) is not None
    database.record_instance(instance("1.1.2", "1.1", offset_s=2))  # arrives while the job runs
    assert database.requeue_grown(30, at(40), MODELS) == []  # running: left alone
    reports = [("S-001", "BASELINE", Path("/results/1/S-001/BASELINE"))]
    database.finish(job_id, Path("/results/1"), reports, at(3), worker="w")
    assert database.requeue_grown(30, at(31), MODELS) == []  # the study is not idle yet
    assert database.requeue_grown(30, at(32), "other@1.0.0") == []
    assert database.requeue_grown(30, at(32), MODELS) == [job_id]
    assert database.requeue_grown(30, at(33), MODELS) == []  # queued: once
    job = database.job(job_id)
    assert job is not None
    assert (job.state, job.attempts, job.worker, job.created_at) == (JobState.QUEUED, 0, None, at(32))
    claimed = database.claim("w2", at(34))
    assert claimed is not None and claimed.id == job_id
    database.finish(job_id, Path("/results/1"), reports, at(35), worker="w2")
    assert [(r.subject, r.visit) for r in database.reports(job_id)] == [("S-001", "BASELINE")]  # not doubled
    assert database.requeue_grown(30, at(100), MODELS) == []  # nothing new since the second run
    requeued = [e for e in database.events(limit=1000) if e.kind == EventKind.JOB_REQUEUED]
    assert [(e.job_id, e.detail["reason"]) for e in requeued] == [(job_id, "new instances after the job ran")]


def test_a_failed_job_is_queued_again_when_its_study_grows(database: Database) -> None:
    job_id = queued_study(database, "1.1")
    assert database.claim("w", at(1)) is not None
    assert database.fail(job_id, "bad", at(2), retry=False, worker="w") is JobState.FAILED
    assert database.requeue_grown(0, at(5), MODELS) == []
    database.record_instance(instance("1.1.2", "1.1", offset_s=6))
    assert database.requeue_grown(0, at(6), MODELS) == [job_id]


# --- the event log ---------------------------------------------------------------------------------------


def test_events_are_ordered_and_paged(database: Database) -> None:
    job_id = queued_study(database, "1.1")
    ids = [database.add_event("report.sent", {"n": n, "to": ["PACS"]}, at(n), job_id=job_id) for n in range(5)]
    assert ids == sorted(ids)
    events = database.events()
    assert [e.kind for e in events] == ["instance.received", "job.queued", *["report.sent"] * 5]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert [e.detail["n"] for e in events[2:]] == list(range(5))
    assert events[2].detail["to"] == ["PACS"] and events[2].at == at(0) and events[2].job_id == job_id
    assert [e.id for e in database.events(after_id=ids[1], limit=2)] == ids[2:4]
    with pytest.raises(TypeError):
        events[0].detail["n"] = 1  # type: ignore[index]  # the point: snapshots are read-only
    assert database.add_event("results-sent", {}, at(9)) > ids[-1]
    for bad in ("Report Sent", "", ".job", "job..done"):
        with pytest.raises(ValueError, match="dotted lower-case"):
            database.add_event(bad, {}, at(9))


@pytest.mark.parametrize("statement", ["UPDATE events SET kind = 'x'", "DELETE FROM events"])
def test_events_are_append_only(database: Database, statement: str) -> None:
    database.add_event("note", {}, at(0))
    with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as connection:
        connection.execute(text(statement))
    assert [e.kind for e in database.events()] == ["note"]
