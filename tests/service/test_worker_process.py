"""Local worker processes end with the service, even when only its main process is killed with ``kill -9``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PARENT = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from dvt_us.service.worker_process import watch_parent

def work(_: int) -> int:
    time.sleep(600)  # a long study
    return os.getpid()

def pid(_: int) -> int:
    return os.getpid()

if __name__ == "__main__":
    pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"), initializer=watch_parent,
                               initargs=(os.getpid(),))
    print(pool.submit(pid, 0).result(), flush=True)
    pool.submit(work, 0)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes (its parent, the killed process, never reaped it)
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_worker_busy_with_a_study_exits_after_kill_9_of_the_service_alone(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        assert _alive(worker)
        parent.send_signal(signal.SIGKILL)  # the main process only, not its group
        parent.wait()
        deadline = time.monotonic() + 60  # a liveness bound, not a measurement: the watchdog polls every second
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(worker), f"worker {worker} outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
