"""Service benchmarks (issue 7): receive throughput of the DICOM node against dcmtk storescp, and the latency
from a study's last acknowledged instance to its report, with ten studies arriving at once.

Usage: python benchmarks/service_benchmark.py [--quick] [--studies N] [--repeats R] [--workers 1 2]
                                              [--idle-s S] [--work DIR] [--skip-latency]

Studies are phantom BASELINE visits of the ``short`` protocol (per leg: one colour Doppler frame of the EIV
and compression cines of CFV, FV-M and POP), half of the files JPEG baseline as the phantom writes them.

1. Receive throughput. The same ``storescu --required -xy +sd +r`` invocation sends the same files to
   ``dvt-us serve`` (C-STORE SCP: parse, fsync'ed file, fsync'ed folder, SQLite row, then the answer) and to
   ``storescp +xa -od DIR`` (writes to the page cache: dcmtk 3.6.7 has no fsync option); storescp is also timed
   until its files are durable, as dvt-us' are when it answers (its send, then an fsync of each file and of
   its folder: "then fsync"). Both accept PDUs of the node's ``max_pdu_bytes``, and dcmtk runs with
   ``TCP_NODELAY=1``: Debian's dcmtk leaves Nagle's algorithm on otherwise, which costs storescp about 50 ms
   of delayed ACK per instance. A third receiver, "pynetdicom, answering at once", is the node's own
   pynetdicom AE and spool with a handler that only links the spooled file: what any pynetdicom-based node
   can reach here, before parsing, fsync and the database row. The studies are
   sent all uncompressed (dcmdjpeg) and all JPEG baseline (dcmcjpeg +eb); median of R repeats, each into an
   empty data folder, after a ``sync`` (a receiver's fsyncs would otherwise wait behind the write-back of the
   files the one before it left in the page cache); then the uncompressed files split over 4 storescu
   processes at once (storescp with ``--fork``: without it, it serves one association at a time).
2. Latency. ``dvt-us serve`` with the embedded defaults (SQLite, local worker processes, ``poll_s`` 1 s) and a
   short ``study_idle_s``; after a warm-up study per worker, N studies are sent at once by N storescu
   processes. Latency = the job's ``finished_at`` (database; the report rows are written in the same
   transaction) minus the moment that study's storescu exited after its last C-STORE response.

MiB are 2**20 bytes. Everything runs on this machine: sender, receiver and workers share its cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np
import pydicom
import yaml

from dvt_us.phantom.trial import plan_trial
from dvt_us.phantom.trial_writer import RenderOptions, write_trial
from dvt_us.service.config import DicomNodeConfig, JobsConfig
from dvt_us.service.db import Database, EventKind, Job, JobState

AE_TITLE = DicomNodeConfig().ae_title
MAX_PDU_BYTES = DicomNodeConfig().max_pdu_bytes
POLL_S = JobsConfig().poll_s
PARALLEL_SENDERS = 4
SEND_LIMIT_S = 1800.0
"""Bounds on waits, so that a broken run fails instead of hanging (not speed targets)."""
JOBS_LIMIT_S = 3600.0
DCMTK_ENV = dict(os.environ, TCP_NODELAY="1")
"""dcmtk reads TCP_NODELAY from the environment: 1 turns Nagle's algorithm off on its sockets."""


@dataclass(frozen=True)
class Sizes:
    """How large a run is: studies, their images, repeats of each throughput measurement."""

    studies: int
    shape: tuple[int, int]
    """Tissue image (rows, cols); the written image adds the scanner's annotation margins."""
    frames: int
    throughput_studies: int
    repeats: int


FULL = Sizes(studies=10, shape=(600, 800), frames=40, throughput_studies=2, repeats=5)
QUICK = Sizes(studies=3, shape=(240, 320), frames=12, throughput_studies=1, repeats=2)
WARM_UP = Sizes(studies=1, shape=(160, 200), frames=8, throughput_studies=0, repeats=0)
"""One small study per worker, sent before the measured ones so that the worker processes are started."""


def _mib(paths: Sequence[Path]) -> float:
    return sum(p.stat().st_size for p in paths) / 2**20


def _run(command: Sequence[str], limit_s: float = SEND_LIMIT_S) -> None:
    done = subprocess.run(list(command), capture_output=True, text=True, check=False, timeout=limit_s, env=DCMTK_ENV)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} ... exited {done.returncode}:\n{done.stdout}{done.stderr}")


# --- inputs ---------------------------------------------------------------------------------------------------


def phantom_studies(work: Path, sizes: Sizes, seed: int) -> list[list[Path]]:
    """The files of ``sizes.studies`` phantom BASELINE studies (one subject each), written once under ``work``."""
    rows, cols = sizes.shape
    out = work / f"phantom-{sizes.studies}x{rows}x{cols}x{sizes.frames}-seed{seed}"
    if not (out / "truth" / "truth.json").is_file():
        plan = plan_trial(sizes.studies, seed=seed, protocol="short", visits=1)
        write_trial(plan, out, RenderOptions(shape=sizes.shape, frames=sizes.frames))
    studies = [sorted(folder.glob("*.dcm")) for folder in sorted((out / "dicom").glob("*/BASELINE"))]
    if len(studies) != sizes.studies or not all(studies):
        raise RuntimeError(f"{out}: expected {sizes.studies} studies, found {len(studies)}")
    return studies


def transcoded(files: Sequence[Path], out: Path, tool: Sequence[str]) -> list[Path]:
    """``files`` rewritten by a dcmtk tool (``dcmdjpeg`` or ``dcmcjpeg +eb``) into ``out``, once."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, src in enumerate(files):
        dst = out / f"{i:04d}_{src.name}"
        if not dst.is_file():
            _run([*tool, str(src), str(dst)])
        written.append(dst)
    return written


def _study_uid(files: Sequence[Path]) -> str:
    return str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)


def describe(studies: Sequence[Sequence[Path]]) -> str:
    """What one study is: instances, cines and frames, sizes."""
    first = [pydicom.dcmread(p, stop_before_pixels=True) for p in studies[0]]
    cines = [int(ds.get("NumberOfFrames", 1)) for ds in first if int(ds.get("NumberOfFrames", 1)) > 1]
    images = sorted({f"{ds.Rows}x{ds.Columns}" for ds in first})
    sizes = [_mib(files) for files in studies]
    return (f"a study = {len(first)} instances: {len(cines)} compression cines x {cines[0] if cines else 0} frames "
            f"+ {len(first) - len(cines)} single frames (colour Doppler), images {images[0]}..{images[-1]}, "
            f"mixed uncompressed/JPEG baseline as written, {min(sizes):.0f}-{max(sizes):.0f} MiB")


# --- receivers ------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_echo(port: int, process: subprocess.Popen[bytes], limit_s: float = 180.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the receiver on port {port} exited {process.returncode} while starting")
        echo = subprocess.run(["echoscu", "-aet", "BENCH", "-aec", AE_TITLE, "127.0.0.1", str(port)],
                              capture_output=True, check=False)
        if echo.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"no C-ECHO answer on port {port} in {limit_s:.0f} s")


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Receiver:
    """A running C-STORE SCP: its port and process; ``peak_rss_mib`` is read just before it is stopped."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    folder: Path
    database_url: str | None = None
    peak_rss_mib: float = float("nan")

    def received(self) -> int:
        """Instances received: database rows for dvt-us, files for storescp."""
        if self.database_url is None:
            return sum(1 for p in self.folder.iterdir() if p.is_file())
        db = Database(self.database_url)
        try:
            return sum(s.instance_count for s in db.studies())
        finally:
            db.close()


@contextmanager
def _running(receiver: Receiver) -> Iterator[Receiver]:
    try:
        _wait_for_echo(receiver.port, receiver.process)
        yield receiver
    finally:
        if receiver.process.poll() is None:
            receiver.peak_rss_mib = _peak_rss_mib(receiver.process.pid)
            receiver.process.send_signal(signal.SIGTERM)
        try:
            receiver.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            receiver.process.kill()
            receiver.process.wait()


def storescp(folder: Path, fork: bool = False) -> Receiver:
    """dcmtk storescp writing every instance into ``folder`` (not fsync'ed), with the node's PDU size."""
    folder.mkdir(parents=True)
    port = _free_port()
    command = ["storescp", "+xa", "-aet", AE_TITLE, "-pdu", str(MAX_PDU_BYTES), "-od", str(folder),
               *(["--fork"] if fork else []), str(port)]
    return Receiver("storescp --fork" if fork else "storescp", port,
                    subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=DCMTK_ENV),
                    folder)


_PYNETDICOM_FLOOR = textwrap.dedent(
    """
    import os, signal, sys, threading, uuid
    from pathlib import Path
    from pynetdicom import evt
    from dvt_us.service import receive_spool
    from dvt_us.service.config import DicomNodeConfig
    from dvt_us.service.dicom_node import DicomNode
    from dvt_us.service.instance_store import InstanceStore
    folder, port = Path(sys.argv[1]), int(sys.argv[2])
    received = folder / "received"
    received.mkdir()
    store = InstanceStore(folder / "data")
    ae = DicomNode(DicomNodeConfig(port=port, min_free_disk_mb=0), store, lambda instance: None)._application_entity()
    def on_store(event):
        os.link(event.dataset_path, received / f"{uuid.uuid4().hex}.dcm")
        return 0x0000
    receive_spool.enable(store.spool_dir)
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    """
)


def pynetdicom_floor(folder: Path) -> Receiver:
    """The node's pynetdicom AE (same contexts, PDU size, spool) whose handler only links the spooled file.

    No parse, fsync or database row: the most a pynetdicom-based node can receive on this machine.
    """
    folder.mkdir(parents=True)
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-c", _PYNETDICOM_FLOOR, str(folder), str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Receiver("pynetdicom, answering at once", port, process, folder / "received")


def dvt_us_serve(folder: Path, idle_s: float, workers: int) -> Receiver:
    """``dvt-us serve`` (log level INFO, as deployed) with a fresh data folder and SQLite database."""
    folder.mkdir(parents=True)
    port = _free_port()
    config = {"data_dir": str(folder / "data"), "dicom": {"port": port, "min_free_disk_mb": 0},
              "jobs": {"study_idle_s": idle_s, "workers": workers}, "http": {"enabled": False}}
    path = folder / "service.yaml"
    path.write_text(yaml.safe_dump(config))
    with (folder / "serve.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "dvt_us", "serve", "--config", str(path)],
                                   stdout=log, stderr=subprocess.STDOUT)
    return Receiver("dvt-us", port, process, folder, database_url=f"sqlite:///{folder / 'data' / 'dvt-us.db'}")


# --- senders --------------------------------------------------------------------------------------------------


def storescu(port: int, files: Sequence[Path]) -> datetime:
    """Send ``files`` in one association; the UTC time storescu exited (its last C-STORE was answered)."""
    _run(["storescu", "--required", "-xy", "-aet", "BENCH", "-aec", AE_TITLE, "+sd", "+r", "127.0.0.1", str(port),
          *map(str, files)])
    return datetime.now(UTC)


def send_parallel(port: int, groups: Sequence[Sequence[Path]]) -> list[datetime]:
    """One storescu process per group, all started at once; their exit times."""
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        return list(pool.map(lambda files: storescu(port, files), groups))


# --- 1. throughput --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Throughput:
    """One receiver, one file set: the median wall time of its sends."""

    files: str
    receiver: str
    senders: int
    instances: int
    mib: float
    seconds: float
    peak_rss_mib: float

    @property
    def mib_s(self) -> float:
        """MiB per second."""
        return self.mib / self.seconds


def _one_send(receiver: Receiver, groups: Sequence[Sequence[Path]]) -> tuple[float, float]:
    """Seconds to send ``groups`` (in parallel when more than one) into ``receiver``, and its peak RSS."""
    expected = sum(len(g) for g in groups)
    with _running(receiver):
        start = time.perf_counter()
        send_parallel(receiver.port, groups)
        seconds = time.perf_counter() - start
        received = receiver.received()
    if received != expected:
        raise RuntimeError(f"{receiver.name} holds {received} instances after {expected} were sent")
    return seconds, receiver.peak_rss_mib


def fsync_files(folder: Path) -> float:
    """Seconds to fsync every file in ``folder``, then the folder: what makes storescp's files durable."""
    start = time.perf_counter()
    for path in folder.iterdir():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - start


def throughput(name: str, files: Sequence[Path], senders: int, repeats: int, tmp: Path) -> list[Throughput]:
    """storescp, the pynetdicom floor and dvt-us receiving ``files`` from ``senders`` storescu processes, in turn,
    ``repeats`` times; each receiver is started only when the one before has stopped.

    storescp is also timed to the moment its files are durable (its send, then :func:`fsync_files`).
    """
    groups = [list(files[i::senders]) for i in range(senders)]
    keys = ("storescp", "storescp+fsync", "pynetdicom", "dvt-us")
    times: dict[str, list[float]] = {key: [] for key in keys}
    rss: dict[str, float] = dict.fromkeys(keys, 0.0)
    for repeat in range(repeats):
        run = tmp / f"{name}-{senders}-{repeat}"
        # Started one at a time: a receiver still starting up would take the cores from another's send.
        starts: dict[str, Callable[[], Receiver]] = {
            "storescp": partial(storescp, run / "storescp", fork=senders > 1),
            "pynetdicom": partial(pynetdicom_floor, run / "pynetdicom"),
            "dvt-us": partial(dvt_us_serve, run / "dvt-us", 3600.0, 1),
        }
        for key, start in starts.items():
            os.sync()  # no receiver's fsyncs wait behind the write-back of the one before (or of its input)
            receiver = start()
            seconds, peak = _one_send(receiver, groups)
            times[key].append(seconds)
            rss[key] = max(rss[key], peak)
            if key == "storescp":
                times["storescp+fsync"].append(seconds + fsync_files(receiver.folder))
                rss["storescp+fsync"] = rss[key]
        shutil.rmtree(run)
    plain = "storescp --fork" if senders > 1 else "storescp"
    label = {"storescp": plain, "storescp+fsync": f"{plain}, then fsync of its files",
             "pynetdicom": "pynetdicom, answering at once", "dvt-us": "dvt-us serve"}
    return [Throughput(name, label[key], senders, len(files), _mib(files), statistics.median(t), rss[key])
            for key, t in times.items()]


# --- 2. latency -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudyTimes:
    """One study's way through the service, as UTC times."""

    acknowledged: datetime
    """storescu exited after the study's last C-STORE response."""
    queued: datetime
    """When its job was (last) queued; before ``acknowledged`` when the study was idle between two instances."""
    started: datetime
    finished: datetime
    runs: int
    """Times its job was claimed; more than 1: it first ran on part of the study (or failed and was retried)."""


def _runs(db: Database) -> Counter[str]:
    """How many times each study's job was claimed (``job.claimed`` events)."""
    runs: Counter[str] = Counter()
    after = 0
    while events := db.events(after, limit=1000):
        runs.update(e.study_instance_uid for e in events if e.kind == EventKind.JOB_CLAIMED and e.study_instance_uid)
        after = events[-1].id
    return runs


def _wait_for_jobs(db: Database, acknowledged: dict[str, datetime]) -> dict[str, Job]:
    """Until every study has a DONE job that started after its last instance was acknowledged.

    A job that started earlier (the study was idle for ``study_idle_s`` between two instances) analysed part of
    the study; the job loop queues it again once the study is idle, and that run is the one waited for.
    Raises when a job fails.
    """
    deadline = time.monotonic() + JOBS_LIMIT_S
    while time.monotonic() < deadline:
        jobs = {j.study_instance_uid: j for j in db.jobs() if j.study_instance_uid in acknowledged}
        failed = [j for j in jobs.values() if j.state is JobState.FAILED]
        if failed:
            raise RuntimeError(f"jobs failed: {[j.error for j in failed]}")
        if len(jobs) == len(acknowledged) and all(
                j.state is JobState.DONE and j.started_at is not None and j.started_at > acknowledged[uid]
                for uid, j in jobs.items()):
            return jobs
        time.sleep(0.5)
    raise RuntimeError(f"jobs not done in {JOBS_LIMIT_S:.0f} s")


def latency(studies: Sequence[Sequence[Path]], warm_up: Sequence[Sequence[Path]], workers: int, idle_s: float,
            tmp: Path) -> tuple[list[StudyTimes], float, float]:
    """Send ``studies`` at once to a warmed-up ``dvt-us serve``; per-study times, batch seconds, peak RSS MiB."""
    receiver = dvt_us_serve(tmp / f"latency-{workers}", idle_s, workers)
    if receiver.database_url is None:
        raise RuntimeError("dvt-us serve has no database")
    with _running(receiver):
        db = Database(receiver.database_url)
        try:
            warm = warm_up[:workers]
            _wait_for_jobs(db, dict(zip(map(_study_uid, warm), send_parallel(receiver.port, warm), strict=True)))
            uids = [_study_uid(files) for files in studies]
            start = time.perf_counter()
            acknowledged = dict(zip(uids, send_parallel(receiver.port, studies), strict=True))
            jobs = _wait_for_jobs(db, acknowledged)
            batch_s = time.perf_counter() - start
            runs = _runs(db)
        finally:
            db.close()
    times = []
    for uid, ack in acknowledged.items():
        job = jobs[uid]
        if job.started_at is None or job.finished_at is None:
            raise RuntimeError(f"job {job.id} is done but has no start or finish time")
        times.append(StudyTimes(ack, job.created_at, job.started_at, job.finished_at, runs[uid]))
    return times, batch_s, receiver.peak_rss_mib


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


# --- the tables -----------------------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def throughput_table(results: Sequence[Throughput]) -> str:
    """Markdown: one row per receiver and file set, with the ratios to storescp, as is and durable, on those files."""
    baseline = {(r.files, r.senders): r.mib_s for r in results
                if r.receiver.startswith("storescp") and not r.receiver.endswith("files")}
    durable = {(r.files, r.senders): r.mib_s for r in results if r.receiver.endswith("fsync of its files")}
    rows = [(r.files, r.receiver, str(r.senders), str(r.instances), f"{r.mib:.0f}", f"{r.seconds:.2f}",
             f"{r.mib_s:.0f}", f"{r.mib_s / baseline[(r.files, r.senders)]:.2f}",
             f"{r.mib_s / durable[(r.files, r.senders)]:.2f}", f"{r.peak_rss_mib:.0f}")
            for r in results]
    return _table(["files", "receiver", "storescu processes", "instances", "MiB", "seconds (median)", "MiB/s",
                   "vs storescp", "vs storescp then fsync", "receiver peak RSS MiB"], rows)


def latency_table(runs: Sequence[tuple[int, list[StudyTimes], float, float]], idle_s: float) -> str:
    """Markdown: last instance acknowledged -> report ready, p50/p95/max, and where the time went (medians)."""
    rows = []
    for workers, times, batch_s, rss in runs:
        total = [_seconds(t.finished, t.acknowledged) for t in times]
        waiting = [_seconds(t.started, t.acknowledged) for t in times]
        analysis = [_seconds(t.finished, t.started) for t in times]
        p50, p95 = np.percentile(total, [50, 95])
        rows.append((str(workers), str(len(times)), f"{idle_s:g}", f"{p50:.1f}", f"{p95:.1f}", f"{max(total):.1f}",
                     f"{statistics.median(waiting):.1f}", f"{statistics.median(analysis):.1f}", f"{batch_s:.1f}",
                     str(sum(t.queued < t.acknowledged for t in times)), str(sum(t.runs - 1 for t in times)),
                     f"{rss:.0f}"))
    return _table(["workers", "studies at once", "study_idle_s", "p50 s", "p95 s", "max s",
                   "ack -> started (median s)", "started -> finished (median s)", "batch s",
                   "queued before last ack", "runs on part of a study", "serve peak RSS MiB"], rows)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 small studies, 2 repeats (a few minutes)")
    parser.add_argument("--studies", type=int, default=None, help="studies sent at once (default 10, quick 3)")
    parser.add_argument("--repeats", type=int, default=None, help="throughput repeats (default 5, quick 2)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="local workers (default 1 2)")
    parser.add_argument("--idle-s", type=float, default=2.0, help="jobs.study_idle_s (default 2)")
    parser.add_argument("--work", type=Path, default=None, help="keep phantom studies here between runs")
    parser.add_argument("--skip-latency", action="store_true", help="receive throughput only")
    args = parser.parse_args()
    base = QUICK if args.quick else FULL
    sizes = Sizes(args.studies or base.studies, base.shape, base.frames, base.throughput_studies,
                  args.repeats or base.repeats)
    if sizes.studies < 1 or sizes.repeats < 1 or min(args.workers) < 1 or args.idle_s < 0:
        parser.error("--studies, --repeats and --workers must be at least 1, --idle-s not negative")
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="dvt-us-service-bench-") as scratch:
        work = args.work or Path(scratch)
        studies = phantom_studies(work, sizes, seed=7)
        warm_up = phantom_studies(work, replace(WARM_UP, studies=max(args.workers)), seed=8)
        study = describe(studies)
        sent_studies = studies[: sizes.throughput_studies]
        sent = [p for files in sent_studies for p in files]
        key = f"{sent[0].parents[3].name}-{len(sent_studies)}"  # phantom-<sizes>-seed<s>/dicom/<subject>/<visit>
        sets = {"uncompressed": transcoded(sent, work / f"uncompressed-{key}", ["dcmdjpeg"]),
                "JPEG baseline": transcoded(sent, work / f"jpeg-{key}", ["dcmcjpeg", "+eb"])}
        tmp = Path(scratch) / "runs"
        results = [r for name, files in sets.items() for r in throughput(name, files, 1, sizes.repeats, tmp)]
        results += throughput("uncompressed", sets["uncompressed"], PARALLEL_SENDERS, sizes.repeats, tmp)
        runs = [] if args.skip_latency else [(w, *latency(studies, warm_up, w, args.idle_s, tmp)) for w in args.workers]
    print(f"# dvt-us service benchmark ({'quick' if args.quick else 'full'}), {os.cpu_count()} cores")
    print(f"load average (1/5/15 min) before {load_before}, after {_load()}")
    print(study)
    print(f"\n## Receive throughput (median of {sizes.repeats}; {len(sent_studies)} studies)\n")
    print(throughput_table(results))
    if runs:
        print(f"\n## Last instance acknowledged -> report ready ({sizes.studies} studies at once, poll_s {POLL_S:g})\n")
        print(latency_table(runs, args.idle_s))


if __name__ == "__main__":
    main()
