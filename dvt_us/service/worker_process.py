"""Local worker processes that end with the service: each watches its parent and exits when it is gone.

A ``ProcessPoolExecutor`` worker outlives a parent killed with ``kill -9``: it would finish its study (whose
result nobody records) and then wait forever. :func:`watch_parent` is the pool's initializer: a daemon thread
polls the parent's pid and ends the worker within ``poll_s`` of the parent's death, whatever it is doing.
The job it held is queued again by the next service's recovery (its heartbeat stops).
"""

from __future__ import annotations

import os
import threading

PARENT_POLL_S = 1.0
"""How often a worker checks that the service process is still its parent."""

ORPHANED_EXIT_CODE = 3
"""A worker's exit status when it ended because the service died."""


def _exit_when_orphaned(parent_pid: int, poll_s: float, stop: threading.Event) -> None:
    while not stop.wait(poll_s):
        if os.getppid() != parent_pid:  # re-parented: the service is gone
            os._exit(ORPHANED_EXIT_CODE)  # no clean-up: nothing of this process is needed any more


def watch_parent(parent_pid: int, poll_s: float = PARENT_POLL_S) -> threading.Event:
    """Start the watchdog in this (worker) process; returns the event that stops it (tests)."""
    stop = threading.Event()
    if os.getppid() != parent_pid:
        os._exit(ORPHANED_EXIT_CODE)
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid, poll_s, stop), name="parent-watchdog",
                     daemon=True).start()
    return stop
