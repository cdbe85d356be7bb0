"""Run one function over many work items, in this process or in worker processes, reporting progress.

Worker processes are forked from a fork server, never from the calling process: a child forked from a process
with running threads (OpenCV's or ONNX Runtime's thread pools, a test runner's, a progress bar's) can inherit
a lock that one of them held and hang on its first use of that library. The fork server imports the calling
program and the clip-analysis modules once, so a worker starts with them loaded (other work imports what it
needs); :func:`start_worker_server` starts it early, while the inputs are still being read.

As with any start method but fork: a script that runs work in processes needs its ``if __name__ ==
"__main__":`` guard (the fork server imports it), and changes to ``os.environ`` after the server started do
not reach the workers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import forkserver, get_context
from multiprocessing.context import BaseContext
from typing import TypeVar

ProgressCallback = Callable[[str, int, int], None]
"""``progress(stage, done, total)``."""

Item = TypeVar("Item")
Result = TypeVar("Result")

WORKER_MODULES = ("__main__", "dvt_us.pipeline.clip_analysis")
"""Imported by the fork server before it forks any worker."""


def worker_context() -> BaseContext:
    """The multiprocessing context of the worker processes: the fork server, with :data:`WORKER_MODULES`."""
    context = get_context("forkserver")
    context.set_forkserver_preload(list(WORKER_MODULES))
    return context


def start_worker_server(jobs: int) -> None:
    """Start the fork server now if ``jobs`` workers will be needed; it imports its modules in the background."""
    if jobs > 1:
        worker_context()
        forkserver.ensure_running()


def map_in_workers(work: Callable[[Item], Result], items: Sequence[Item], jobs: int, stage: str,
                   progress: ProgressCallback | None = None) -> list[Result]:
    """``[work(item) for item in items]``, in order, over ``jobs`` processes (``work`` must be picklable)."""
    results: list[Result] = []

    def tick(result: Result) -> None:
        results.append(result)
        if progress:
            progress(stage, len(results), len(items))

    if jobs <= 1 or len(items) <= 1:
        for item in items:
            tick(work(item))
        return results
    with ProcessPoolExecutor(max_workers=jobs, mp_context=worker_context()) as pool:
        for result in pool.map(work, items, chunksize=1):
            tick(result)
    return results
