"""Crash recovery and ``dvt-us reprocess``: instances on disk but not in the database, jobs of dead processes.

Unit tests run :func:`reconcile_instances` and :func:`recover_jobs` on both database backends. The crash test
starts ``dvt-us serve`` as a real process, ``kill -9``s it (its whole process group, workers included) while
dcmtk's storescu uploads ten studies and again while jobs run, restarts it, resends what was not
acknowledged (as a PACS would) and checks that nothing acknowledged is lost and every study is analysed once.
The reprocess tests run the command in-process on SQLite, with the shipped models and with a version bump.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pydicom
import pytest
import yaml
from pydicom.uid import generate_uid
from sqlalchemy import select

from dvt_us.cli import reprocess_command
from dvt_us.phantom.trial import plan_trial
from dvt_us.phantom.trial_writer import RenderOptions, write_trial
from dvt_us.service.db import Database, JobState
from dvt_us.service.db.models import InstanceRow
from dvt_us.service.instance_store import InstanceStore
from dvt_us.service.instances import StoredInstance
from dvt_us.service.jobs import load_models, models_key
from dvt_us.service.recovery import (
    RECONCILED_EVENT,
    RECOVERED_CALLING_AE_TITLE,
    reconcile_instances,
    recover_jobs,
)
from tests.dicom_factory import UltrasoundSpec, ultrasound_dataset
from tests.orthanc import free_port

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
needs_dcmtk = pytest.mark.skipif(shutil.which("storescu") is None, reason="dcmtk (storescu, echoscu) not installed")


def part10(study_uid: str, source_ae: str | None = "MODALITY") -> bytes:
    """A small US Multi-frame Part 10 file as the node writes it (Source AE title = the calling AE)."""
    ds = ultrasound_dataset(UltrasoundSpec(frames=2, rows=32, cols=40, study_uid=study_uid))
    if source_ae is not None:
        ds.file_meta.SourceApplicationEntityTitle = source_ae
    ds.preamble = b"\x00" * 128
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue()


def recorded(db: Database) -> dict[str, tuple[str, str]]:
    """SOP Instance UID: (path, calling AE) of every recorded instance."""
    with db.sessions() as session:
        rows = session.execute(select(InstanceRow.sop_instance_uid, InstanceRow.path, InstanceRow.calling_ae_title))
        return {sop: (path, ae) for sop, path, ae in rows}


# --- reconcile_instances ---------------------------------------------------------------------------------


def test_reconcile_records_exactly_the_instances_missing_from_the_database(database: Database,
                                                                           tmp_path: Path) -> None:
    store = InstanceStore(tmp_path / "data")
    studies = [generate_uid(), generate_uid()]
    stored = [store.store(part10(studies[i % 2], None if i == 4 else "MODALITY"), "MODALITY") for i in range(6)]
    for instance in stored[:2]:  # recorded before the "crash"; the other four only reached the disk
        assert database.record_instance(instance)

    assert reconcile_instances(store, database, NOW) == 4
    rows = recorded(database)
    assert set(rows) == {i.sop_instance_uid for i in stored}
    assert all(rows[i.sop_instance_uid][0] == str(i.path) for i in stored)
    assert rows[stored[4].sop_instance_uid][1] == RECOVERED_CALLING_AE_TITLE, "no Source AE title in the file"
    assert rows[stored[3].sop_instance_uid][1] == "MODALITY", "calling AE read from the File Meta"
    counts = {s.study_instance_uid: s.instance_count for s in database.studies()}
    assert counts == {studies[0]: 3, studies[1]: 3}
    [event] = [e for e in database.events(limit=1000) if e.kind == RECONCILED_EVENT]
    assert event.detail["added"] == 4 and event.detail["quarantined"] == 0
    assert reconcile_instances(store, database, NOW) == 0, "a second run finds nothing new"


def test_reconcile_passes_over_temporary_files_deletes_stale_ones_and_quarantines_damaged_ones(
        database: Database, tmp_path: Path) -> None:
    store = InstanceStore(tmp_path / "data")
    good = store.store(part10(generate_uid()), "MODALITY")
    series = good.path.parent
    (series / ".incoming-abc123.part").write_bytes(part10(good.study_instance_uid))  # a write never acknowledged
    stale = series / ".incoming-old.part"  # a crash's leftover (e.g. linked from the spool, never renamed)
    stale.write_bytes(part10(good.study_instance_uid))
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    garbage = series / f"{generate_uid()}.dcm"
    garbage.write_bytes(b"\x00" * 200 + b"not a DICOM file")
    misplaced = store.store(part10(generate_uid()), "MODALITY").path  # valid, but moved under another study
    moved = series / misplaced.name
    misplaced.rename(moved)

    assert reconcile_instances(store, database, NOW) == 1
    assert set(recorded(database)) == {good.sop_instance_uid}
    assert good.path.is_file() and (series / ".incoming-abc123.part").is_file(), "a write may be in progress"
    assert not stale.exists(), "a temporary file nothing wrote to for an hour is deleted"
    assert not garbage.exists() and not moved.exists(), "damaged files leave instances/"
    reasons = sorted(json.loads(p.read_text())["reason"] for p in store.quarantine_dir.glob("*.json"))
    assert len(reasons) == 2
    assert reasons[0].startswith("bad-attribute: StudyInstanceUID") and "stored as" in reasons[0]
    assert reasons[1].startswith("not-dicom")
    [event] = [e for e in database.events(limit=1000) if e.kind == RECONCILED_EVENT]
    assert event.detail["quarantined"] == 2


# --- recover_jobs ----------------------------------------------------------------------------------------


def _job_claimed_by(db: Database, worker: str) -> int:
    study = generate_uid()
    db.record_instance(StoredInstance(
        sop_instance_uid=generate_uid(), sop_class_uid="1.2.840.10008.5.1.4.1.1.3.1", study_instance_uid=study,
        series_instance_uid=generate_uid(), transfer_syntax_uid="1.2.840.10008.1.2.1", path=Path("/x.dcm"),
        size_bytes=1, calling_ae_title="MODALITY", received_at=NOW))
    job_id = db.enqueue(study, "m@1", NOW)
    assert job_id is not None
    job = db.claim(worker, NOW)
    assert job is not None and job.id == job_id
    return job_id


def _dead_pid() -> int:
    """The pid of a process that has ended and been reaped."""
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def test_recover_jobs_requeues_running_jobs_of_dead_processes_of_this_host(database: Database) -> None:
    with subprocess.Popen(["sleep", "60"]) as alive:
        try:
            dead = _job_claimed_by(database, f"node-a:{_dead_pid()}")
            predecessor = _job_claimed_by(database, f"node-a:{os.getpid()}")
            live = _job_claimed_by(database, f"node-a:{alive.pid}")
            other_host = _job_claimed_by(database, f"node-b:{_dead_pid()}")
            not_a_pid = _job_claimed_by(database, "node-a:dask-worker-1")

            assert recover_jobs(database, "node-a:", NOW) == [dead, predecessor]
        finally:
            alive.kill()
    states = {job.id: job.state for job in database.jobs()}
    assert states == {dead: JobState.QUEUED, predecessor: JobState.QUEUED, live: JobState.RUNNING,
                      other_host: JobState.RUNNING, not_a_pid: JobState.RUNNING}
    again = database.claim("node-a:1", NOW)
    assert again is not None and again.id == dead and again.attempts == 2
    assert recover_jobs(database, "node-b:", NOW) == [other_host]


def test_recover_jobs_fails_a_job_without_attempts_left(database_url: str) -> None:
    with Database(database_url, max_attempts=1) as db:
        db.upgrade()
        job_id = _job_claimed_by(db, f"node-a:{_dead_pid()}")
        assert recover_jobs(db, "node-a:", NOW) == []
        job = db.job(job_id)
        assert job is not None and job.state is JobState.FAILED and job.error and "worker lost" in job.error


# --- phantom studies -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def phantom_studies(tmp_path_factory: pytest.TempPathFactory) -> list[list[Path]]:
    """Ten distinct copies of one short phantom study: new Study/Series/SOP UIDs and subject per copy."""
    out = tmp_path_factory.mktemp("recovery-phantom")
    write_trial(plan_trial(1, seed=45, protocol="short", visits=1), out / "trial",
                RenderOptions(shape=(120, 160), frames=6), jobs=1)
    originals = sorted((out / "trial" / "dicom").glob("*/*/*.dcm"))
    copies: list[list[Path]] = []
    for n in range(10):
        study, subject = generate_uid(), f"PH-C{n:02d}"
        series: dict[str, str] = {}
        files = []
        for original in originals:
            ds = pydicom.dcmread(original)
            ds.StudyInstanceUID = study
            ds.SeriesInstanceUID = series.setdefault(ds.SeriesInstanceUID, generate_uid())
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.PatientID = ds.ClinicalTrialSubjectID = subject
            files.append(out / "copies" / subject / original.name)
            files[-1].parent.mkdir(parents=True, exist_ok=True)
            ds.save_as(files[-1], enforce_file_format=True)
        copies.append(files)
    return copies


def _uids(path: Path) -> tuple[str, str, str]:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


# --- the crash test --------------------------------------------------------------------------------------

RESPONSE = re.compile(r"Received Store Response \(([^)]*)\)")
SENDING = re.compile(r"Sending file: (.+)$")


def acknowledged(storescu_output: str) -> set[Path]:
    """The files storescu -v reports a Success or Warning response for (one response follows its file)."""
    acked: set[Path] = set()
    current: Path | None = None
    for line in storescu_output.splitlines():
        if sending := SENDING.search(line):
            current = Path(sending.group(1).strip())
        elif (answer := RESPONSE.search(line)) and current is not None:
            if answer.group(1).startswith(("Success", "Warning")):
                acked.add(current)
            current = None
    return acked


@dataclass
class ServeProcess:
    """``dvt-us serve`` in its own process group, so that ``kill -9`` takes its worker processes too."""

    config: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dvt_us", "serve", "--config", str(self.config), "--log-level", "INFO"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=Path(__file__).parents[2])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"dvt-us serve exited with {self.process.returncode}:\n{self.log.read_text()[-4000:]}")
            echo = subprocess.run(["echoscu", "-aec", "DVTUS", "127.0.0.1", str(self.port)], capture_output=True,
                                  check=False, timeout=30)
            if echo.returncode == 0:
                return
            time.sleep(0.2)
        pytest.fail(f"dvt-us serve did not listen in 120 s:\n{self.log.read_text()[-4000:]}")

    def kill(self) -> None:
        """``kill -9`` the whole process group, and reap it."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=60)

    def stop(self) -> None:
        """SIGTERM (a clean stop), then ``kill -9`` after 60 s."""
        if self.process is None or self.process.poll() is not None:
            self.kill()
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        finally:
            self.kill()


@contextlib.contextmanager
def storescu(port: int, studies: list[list[Path]]) -> Iterator[list[subprocess.Popen[str]]]:
    """One ``storescu -v`` association per list of files, all at once; any still running at the end is killed."""
    senders: list[subprocess.Popen[str]] = []
    try:
        for files in studies:
            senders.append(subprocess.Popen(
                ["storescu", "-v", "--required", "-xy", "-aet", "MODALITY", "-aec", "DVTUS", "127.0.0.1", str(port),
                 *map(str, files)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        yield senders
    finally:
        for sender in senders:
            if sender.poll() is None:
                sender.kill()
            sender.communicate()


def _forget(database_file: Path, sop_uids: list[str]) -> None:
    """Delete instance rows, as if ``kill -9`` had landed between the acknowledgement and the commit."""
    with sqlite3.connect(database_file) as connection:
        for sop in sop_uids:
            [study] = connection.execute("SELECT study_instance_uid FROM instances WHERE sop_instance_uid = ?",
                                         (sop,)).fetchone()
            connection.execute("DELETE FROM instances WHERE sop_instance_uid = ?", (sop,))
            connection.execute("UPDATE studies SET instance_count = instance_count - 1 WHERE study_instance_uid = ?",
                               (study,))
    connection.close()


def _wait(db: Database, what: str, until: Callable[[], object], limit_s: float) -> None:
    """Poll ``until()`` (a bound, not a speed target: the suite must not hang); fail on a failed job."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        failed = db.jobs(JobState.FAILED)
        if failed:
            pytest.fail(f"a job failed: {[j.error for j in failed]}")
        if until():
            return
        time.sleep(0.5)
    pytest.fail(f"{what}: not within {limit_s:.0f} s; jobs {db.jobs()}")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    port = free_port()
    config = {"data_dir": str(tmp_path / "data"), "database_url": f"sqlite:///{tmp_path / 'data' / 'dvt-us.db'}",
              "dicom": {"port": port, "min_free_disk_mb": 0},
              "jobs": {"study_idle_s": 3, "poll_s": 0.2, "workers": 2, "stale_after_s": 600, "max_attempts": 3},
              "http": {"enabled": False}}
    path = tmp_path / "service.yaml"
    path.write_text(yaml.safe_dump(config))
    server = ServeProcess(path, port, tmp_path / "serve.log")
    try:
        yield server
    finally:
        server.stop()


@needs_dcmtk
def test_kill_9_during_uploads_and_during_jobs_loses_nothing_acknowledged_and_analyses_each_study_once(
        serve: ServeProcess, phantom_studies: list[list[Path]], tmp_path: Path) -> None:
    data = tmp_path / "data"
    uids = {f: _uids(f) for files in phantom_studies for f in files}
    serve.start()
    with storescu(serve.port, phantom_studies) as senders:
        deadline = time.monotonic() + 120  # kill -9 once a few associations are through
        while sum(s.poll() is not None for s in senders) < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        serve.kill()
        outputs = [s.communicate(timeout=120)[0] for s in senders]
    acked = set().union(*map(acknowledged, outputs))
    assert acked, "storescu reported no acknowledged instance:\n" + outputs[0]
    # The kill cannot be timed into the instant between the rename and the commit, so three acknowledged
    # instances are made to look as if it had landed there: on disk, but not in the database.
    forgotten = sorted(uids[f][2] for f in acked)[:3]
    _forget(data / "dvt-us.db", forgotten)

    serve.start()  # 2nd life: reconciles at start-up, before it listens
    with Database(f"sqlite:///{data / 'dvt-us.db'}") as db:
        assert set(forgotten) <= set(recorded(db)), "acknowledged instances on disk were not reconciled"
        resend = [[f for f in files if f not in acked] for files in phantom_studies]
        with storescu(serve.port, [files for files in resend if files]) as again:
            for sender in again:
                out = sender.communicate(timeout=300)[0]
                assert sender.returncode == 0, out
                acked |= acknowledged(out)
        assert acked == set(uids), "every instance acknowledged once resent"
        cut_short: list[int] = []
        for _ in range(3):  # kill -9 while analyses run; the database after the kill says which were running
            _wait(db, "a job running", lambda: db.jobs(JobState.RUNNING), 120)
            serve.kill()
            cut_short = [job.id for job in db.jobs(JobState.RUNNING)]
            serve.start()  # next life: the dead process's running jobs are queued again at once
            if cut_short:
                break
        _wait(db, "ten studies done", lambda: len(db.jobs(JobState.DONE)) >= len(phantom_studies), 300)
        jobs, rows = db.jobs(), recorded(db)
        reports = {job.id: db.reports(job.id) for job in jobs}
    key = models_key(load_models(None))
    for path, (study, series, sop) in uids.items():
        assert (data / "instances" / study / series / f"{sop}.dcm").is_file(), f"{path.name} not on disk"
        assert sop in rows, f"{path.name} not in the database"
    assert sorted(j.study_instance_uid for j in jobs) == sorted({s for s, _, _ in uids.values()}), "one job per study"
    assert all(j.models_key == key and j.state is JobState.DONE and j.attempts >= 1 for j in jobs)
    assert all(reports[j.id] for j in jobs), "every job recorded its visit report"
    assert cut_short and all(j.attempts >= 2 for j in jobs if j.id in cut_short), \
        "the jobs running at the kill were claimed again"


# --- reprocess -------------------------------------------------------------------------------------------


def _reprocess(config: Path, *studies: str) -> int:
    parser = argparse.ArgumentParser()
    reprocess_command.register(parser)
    args = parser.parse_args(["--config", str(config), *(a for s in studies for a in ("--study", s))])
    return reprocess_command.run(args)


def _bumped_models(folder: Path) -> Path:
    """A copy of the shipped models with compressibility 0.1.1 (same ONNX file, manifest version bumped)."""
    shipped = load_models(None)
    shutil.copytree(shipped.segmentation.folder.parents[1], folder)
    old = folder / "compressibility" / shipped.compressibility.version
    new = shutil.copytree(old, folder / "compressibility" / "0.1.1")
    manifest = json.loads((new / "manifest.json").read_text())
    manifest["version"] = "0.1.1"
    (new / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder


def test_reprocess_runs_each_study_once_per_model_version(phantom_studies: list[list[Path]], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    store = InstanceStore(data)
    for files in phantom_studies[:2]:  # on disk only: reprocess reconciles them first
        for f in files:
            store.store(f.read_bytes(), "MODALITY")
    first, second = (_uids(files[0])[0] for files in phantom_studies[:2])
    # study_idle_s 0: the studies are complete at once, so a runner that queued complete studies itself
    # would queue the second study in the --study run too.
    config = {"data_dir": str(data), "jobs": {"workers": 1, "poll_s": 0.2, "max_attempts": 1, "study_idle_s": 0}}
    shipped = tmp_path / "shipped.yaml"
    shipped.write_text(yaml.safe_dump(config))
    bumped = tmp_path / "bumped.yaml"
    bumped.write_text(yaml.safe_dump({**config, "models_dir": str(_bumped_models(tmp_path / "models"))}))
    db_url = f"sqlite:///{data / 'dvt-us.db'}"

    assert _reprocess(shipped, first) == 0, "--study limits the set"
    assert "1 done, 0 failed, 0 already processed" in capsys.readouterr().out
    with Database(db_url) as db:
        assert [(j.study_instance_uid, j.state) for j in db.jobs()] == [(first, JobState.DONE)]
    assert _reprocess(shipped) == 0
    assert "1 done, 0 failed, 1 already processed" in capsys.readouterr().out
    assert _reprocess(shipped) == 0
    assert "0 done, 0 failed, 2 already processed (0 queued now)" in capsys.readouterr().out
    assert _reprocess(bumped) == 0, "a new model version queues every study again"
    assert "compressibility@0.1.1: 2 done, 0 failed, 0 already processed" in capsys.readouterr().out
    with Database(db_url) as db:
        jobs = db.jobs()
    assert len(jobs) == 4 and all(j.state is JobState.DONE for j in jobs)
    assert {j.models_key for j in jobs} == {models_key(load_models(None)),
                                            models_key(load_models(tmp_path / "models"))}
    assert all(len({j.models_key for j in jobs if j.study_instance_uid == s}) == 2 for s in (first, second))


def test_reprocess_exits_1_when_a_job_fails_and_2_for_an_unknown_study(phantom_studies: list[list[Path]],
                                                                       tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    store = InstanceStore(data)
    stored = [store.store(f.read_bytes(), "MODALITY") for f in phantom_studies[2]]
    config = tmp_path / "service.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(data), "jobs": {"workers": 1, "poll_s": 0.2,
                                                                       "max_attempts": 1}}))
    with Database(f"sqlite:///{data / 'dvt-us.db'}") as db:
        db.upgrade()
        assert reconcile_instances(store, db, NOW) == len(stored)
    stored[0].path.unlink()  # recorded, then lost: the analysis cannot read its inputs

    assert _reprocess(config, generate_uid()) == 2
    assert "no instance recorded" in capsys.readouterr().err
    assert _reprocess(config) == 1
    out = capsys.readouterr().out
    assert "0 done, 1 failed" in out and f"failed {stored[0].study_instance_uid}" in out
    assert _reprocess(config) == 1, "a failed job stays failed: still reported"
