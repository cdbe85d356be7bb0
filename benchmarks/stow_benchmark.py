"""STOW-RS benchmark (issue 7): throughput of ``POST /studies`` and the memory one large request costs.

Usage: python benchmarks/stow_benchmark.py [--instances 20 80] [--repeats R] [--work DIR]

Each request carries N copies of pydicom's ``US1_UNCR.dcm`` (0.9 MB, uncompressed ultrasound) with new SOP
Instance UIDs, one study. The API runs (uvicorn thread, SQLite in the data folder, the
service's own ``recorder`` hand-on) in a child process; httpx sends the body from memory. Each run starts a
fresh server over an empty data folder. Per N: median wall time of R requests, MiB/s of body, and how much
the server's peak resident set (VmHWM) grew during its first request: the body is spooled to disk, so this
should stay near one instance, whatever N.
MiB are 2**20 bytes. Sender and server share this machine's cores.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from dvt_us.service.app import recorder
from dvt_us.service.config import DicomNodeConfig, ServiceConfig
from dvt_us.service.db import Database
from dvt_us.service.http_api import Intake, create_app
from dvt_us.service.http_server import HttpServer
from dvt_us.service.instance_store import InstanceStore

TOKEN = "benchmark-token"
MIB = 2**20


def _body(count: int) -> tuple[str, bytes]:
    """(Content-Type, body): ``count`` copies of US1_UNCR.dcm with new SOP Instance UIDs, one new study."""
    source = pydicom.dcmread(get_testdata_file("US1_UNCR.dcm", read=False))
    source.StudyInstanceUID = generate_uid()
    boundary = uuid.uuid4().hex
    chunks = []
    for _ in range(count):
        source.SOPInstanceUID = source.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        buffer = io.BytesIO()
        source.save_as(buffer, enforce_file_format=True)
        chunks.append(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + buffer.getvalue() + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return f'multipart/related; type="application/dicom"; boundary={boundary}', b"".join(chunks)


def serve(data_dir: Path) -> None:
    """The server side (run in its own process): the API over ``data_dir`` until stdin closes; prints its port."""
    data_dir.mkdir(parents=True)
    db = Database(f"sqlite:///{data_dir / 'dvt-us.db'}")
    db.upgrade()
    config = ServiceConfig(data_dir=data_dir, dicom=DicomNodeConfig(min_free_disk_mb=0))
    app = create_app(db, config, token=TOKEN, intake=Intake(InstanceStore(data_dir), recorder(db)))
    with HttpServer(app, "127.0.0.1", 0) as server:
        print(server.port, flush=True)
        sys.stdin.read()
    db.close()


def _peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set) of process ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def _run(work: Path, count: int, repeats: int) -> tuple[float, float, float]:
    """(median seconds, MiB of body, growth of the server's peak resident set over its first request, MiB)."""
    seconds: list[float] = []
    growth = 0.0
    content_type, body = _body(count)
    for repeat in range(repeats):
        command = [sys.executable, __file__, "--serve", str(work / f"n{count}-r{repeat}")]
        with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as server:
            assert server.stdin is not None and server.stdout is not None
            port = int(server.stdout.readline())
            before = _peak_rss_mib(server.pid)
            start = time.perf_counter()
            response = httpx.post(f"http://127.0.0.1:{port}/studies", content=body, timeout=600,
                                  headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type})
            seconds.append(time.perf_counter() - start)
            if repeat == 0:
                growth = _peak_rss_mib(server.pid) - before
            server.stdin.close()
        if response.status_code != 200:
            raise RuntimeError(f"STOW-RS answered {response.status_code}: {response.text[:500]}")
    return statistics.median(seconds), len(body) / MIB, growth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, nargs="+", default=[20, 80])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--serve", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        rows = [(n, *_run(Path(work), n, args.repeats)) for n in args.instances]
    print("| instances | body MiB | median s | MiB/s | instances/s | server peak RSS growth MiB (first request) |")
    print("|---|---|---|---|---|---|")
    for count, seconds, mib, growth in rows:
        print(f"| {count} | {mib:.1f} | {seconds:.2f} | {mib / seconds:.1f} | {count / seconds:.1f} | {growth:.1f} |")


if __name__ == "__main__":
    main()
