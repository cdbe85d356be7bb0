"""Failed logins are throttled per username: after a few in a window, the login is refused for a while.

Guessing a password costs an attacker one argon2 hash per try on our side; this bounds the tries. The
count is kept in the serving process (one per data folder), keyed by the lower-cased username, so an unknown
name is throttled like a known one. A successful login clears it.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

MAX_FAILURES = 5
"""Failed logins of one username within :data:`WINDOW` before its logins are refused."""
WINDOW = timedelta(minutes=15)
MAX_NAMES = 10_000
"""Above this many usernames with failures, the expired ones are forgotten (attacker-chosen names cost memory)."""


class LoginThrottle:
    """Counts failed logins per username; thread-safe."""

    def __init__(self, max_failures: int = MAX_FAILURES, window: timedelta = WINDOW) -> None:
        self.max_failures, self.window = max_failures, window
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        return times

    def retry_after_s(self, username: str, now: datetime) -> int | None:
        """Seconds until ``username`` may try again, or None when a login may be tried now."""
        key = username.strip().lower()
        with self._lock:
            times = self._recent(key, now)
            if len(times) < self.max_failures:
                return None
            return max(1, int((times[0] + self.window - now).total_seconds() + 0.999))

    def failed(self, username: str, now: datetime) -> None:
        """Count one failed login."""
        with self._lock:
            self._recent(username.strip().lower(), now).append(now)
            if len(self._failures) > MAX_NAMES:
                for key in [k for k in self._failures if not self._recent(k, now)]:
                    del self._failures[key]

    def succeeded(self, username: str) -> None:
        """Forget the failures of ``username``."""
        with self._lock:
            self._failures.pop(username.strip().lower(), None)
