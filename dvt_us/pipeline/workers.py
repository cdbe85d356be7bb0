"""Run one function over many work items, in this process or in worker processes, reporting progress."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

ProgressCallback = Callable[[str, int, int], None]
"""``progress(stage, done, total)``."""

Item = TypeVar("Item")
Result = TypeVar("Result")


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
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for result in pool.map(work, items, chunksize=1):
            tick(result)
    return results
