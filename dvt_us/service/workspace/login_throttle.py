"""Failed logins are throttled per username: after a few in a window, the login is refused for a while.

Guessing a password costs an attacker one argon2 hash per try on our side; this bounds the tries. The
failures counted are the ``auth.login_failed`` entries that
:func:`~dvt_us.service.review.accounts.authenticate` appends to the audit trail, so every service process on
the same database, and a restarted one, sees the same count, and nothing is kept in memory. Only the failures
after the last successful login (``auth.login``) of the name count: a success clears them.

The count is per username exactly as typed (the audit object ``user:NAME``, the name cut to
:data:`~dvt_us.service.review.models.NAME_LENGTH` characters), the spelling a login must match: an unknown
name is throttled like a known one, and ``BOB`` is another name than ``bob``, one whose failures guess nothing
of bob's password. The index of revision 0003 on ``(object, action, at)`` keeps each check to the few entries
of one name in the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from dvt_us.service.review.models import NAME_LENGTH, AuditRow
from dvt_us.service.review.store import ReviewStore, aware

MAX_FAILURES = 5
"""Failed logins of one username within :data:`WINDOW` before its logins are refused."""
WINDOW = timedelta(minutes=15)
LOGIN_FAILED_ACTION = "auth.login_failed"
"""The audit action of a failed login (unknown user, wrong password or disabled account)."""
LOGIN_ACTION = "auth.login"
"""The audit action of a successful login."""


def login_object(username: str) -> str:
    """The audit object of a login as ``username``, as :func:`~dvt_us.service.review.accounts.authenticate` has it."""
    return f"user:{username[:NAME_LENGTH]}"


@dataclass(frozen=True)
class LoginThrottle:
    """The throttle's rule: at most ``max_failures`` failed logins of one username within ``window``."""

    max_failures: int = MAX_FAILURES
    window: timedelta = WINDOW

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.window <= timedelta(0):
            raise ValueError(f"max_failures {self.max_failures}, window {self.window}: at least 1 and positive")

    def retry_after_s(self, store: ReviewStore, username: str, now: datetime) -> int | None:
        """Seconds until ``username`` may try again, or None when a login may be tried now.

        Counts the failed logins of ``username`` in the audit trail of ``store`` within ``window`` before
        ``now`` and after its last successful login; the wait lasts until fewer than ``max_failures`` remain.
        """
        object_, since = login_object(username), aware(now) - self.window
        last_login = (select(func.max(AuditRow.seq))
                      .where(AuditRow.object == object_, AuditRow.action == LOGIN_ACTION, AuditRow.at > since)
                      .scalar_subquery())
        failures = (select(AuditRow.at)
                    .where(AuditRow.object == object_, AuditRow.action == LOGIN_FAILED_ACTION, AuditRow.at > since,
                           AuditRow.seq > func.coalesce(last_login, 0))
                    .order_by(AuditRow.at.desc()).limit(self.max_failures))
        with store.read() as session:
            newest = list(session.scalars(failures))
        if len(newest) < self.max_failures:
            return None
        return max(1, math.ceil((newest[-1] + self.window - now).total_seconds()))
