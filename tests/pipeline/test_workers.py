"""Worker processes: results in order, and no hang when the caller's own threads hold library locks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dvt_us.pipeline.workers import map_in_workers

HANG_LIMIT_S = 180
"""A bound on a hang, not a speed target: the script takes a few seconds."""

_SCRIPT = textwrap.dedent(
    """
    import numpy as np, cv2
    from dvt_us.pipeline.workers import map_in_workers

    def blur_sum(i):
        cv2.setNumThreads(1)  # what analyse_clip does first; hangs in a child forked while the pool ran
        return float(cv2.GaussianBlur(np.full((64, 64), i, np.float32), (5, 5), 0).sum())

    if __name__ == "__main__":
        image = np.random.default_rng(0).random((2000, 2000), dtype=np.float32)
        for _ in range(5):
            cv2.GaussianBlur(image, (31, 31), 0)  # OpenCV's thread pool has run in this process
        print(map_in_workers(blur_sum, [1, 2, 3, 4], 2, "blur"))
    """
)


def test_workers_start_cleanly_after_the_caller_used_opencvs_thread_pool(tmp_path: Path) -> None:
    script = tmp_path / "caller.py"
    script.write_text(_SCRIPT)
    caller = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
    try:
        out, err = caller.communicate(timeout=HANG_LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(caller.pid, signal.SIGKILL)  # the script and its hung workers
        caller.communicate()
        pytest.fail(f"map_in_workers hung for {HANG_LIMIT_S} s after the caller used OpenCV's thread pool")
    assert caller.returncode == 0, err
    assert out.strip() == str([4096.0 * i for i in (1, 2, 3, 4)])


def _pid_and_parent(_: int) -> tuple[int, int]:
    return os.getpid(), os.getppid()


def test_results_keep_the_order_of_the_items() -> None:
    assert map_in_workers(abs, [-3, 1, -2, 5], 2, "abs") == [3, 1, 2, 5]


def test_workers_are_not_forked_from_the_caller() -> None:
    pids = map_in_workers(_pid_and_parent, [0, 1, 2], 2, "pids")
    assert all(pid != os.getpid() and parent != os.getpid() for pid, parent in pids)
