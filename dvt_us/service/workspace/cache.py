"""A thread-safe least-recently-used cache bounded by a total cost (bytes, or a count), and per-key locks.

The workspace keeps encoded JPEG frames (cost: their length in bytes), clip headers and area curves (cost 1
each) in these caches, so the memory they hold has a fixed upper bound whatever the readers open.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class CacheStats:
    """What a cache holds and how it has been used since it was made."""

    entries: int
    cost: int
    max_cost: int
    hits: int
    misses: int
    evictions: int


class LruCache(Generic[K, V]):
    """At most ``max_cost`` worth of values (``cost(value)`` each), least recently used evicted first.

    A value costing more than ``max_cost`` on its own is not kept (``put`` returns False).
    """

    def __init__(self, max_cost: int, cost: Callable[[V], int]) -> None:
        if max_cost < 0:
            raise ValueError(f"max_cost must be ≥ 0, got {max_cost}")
        self._max_cost, self._cost_of = max_cost, cost
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._cost = self._hits = self._misses = self._evictions = 0
        self._lock = threading.Lock()

    def get(self, key: K, *, count: bool = True) -> V | None:
        """The value of ``key`` (now the most recently used), or None; ``count``: add to the hit/miss counters."""
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self._misses += count
                return None
            self._items.move_to_end(key)
            self._hits += count
            return found[0]

    def put(self, key: K, value: V) -> bool:
        """Keep ``value`` under ``key``, evicting the least recently used; False when it alone exceeds the bound."""
        cost = self._cost_of(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._cost -= old[1]
            if cost > self._max_cost:
                return False
            self._items[key] = (value, cost)
            self._cost += cost
            while self._cost > self._max_cost:
                _, (_, evicted) = self._items.popitem(last=False)
                self._cost -= evicted
                self._evictions += 1
            return True

    def stats(self) -> CacheStats:
        """Entries, total cost and counters, read together."""
        with self._lock:
            return CacheStats(len(self._items), self._cost, self._max_cost, self._hits, self._misses,
                              self._evictions)


class KeyedLocks:
    """One lock per key, made on first use and dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[Hashable, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: Hashable) -> Iterator[None]:
        """Hold the lock of ``key`` for the ``with`` block."""
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)
