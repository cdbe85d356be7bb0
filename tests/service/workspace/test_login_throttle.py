"""The failed-login throttle: counted from the audit trail of the shared database, on an explicit clock.

Two stores over the same database stand for two service processes (or one before and after a restart).
Failures and successes are real logins (:func:`~dvt_us.service.review.accounts.authenticate`, real argon2
with light parameters), so the throttle is checked against the audit entries that logins really write.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from dvt_us.service.config import PasswordHashConfig, ReviewConfig
from dvt_us.service.db import Database
from dvt_us.service.review.accounts import add_user, authenticate
from dvt_us.service.review.errors import AuthenticationError
from dvt_us.service.review.store import ReviewStore
from dvt_us.service.workspace.login_throttle import LoginThrottle

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
CONFIG = ReviewConfig(password_hash=PasswordHashConfig(time_cost=1, memory_kib=8192, parallelism=1))


def at(offset_s: int) -> datetime:
    """A fixed instant ``offset_s`` after T0 (the throttle is given its clock; nothing is timed)."""
    return T0 + timedelta(seconds=offset_s)


@pytest.fixture
def stores(database_url: str) -> Iterator[tuple[ReviewStore, ReviewStore]]:
    """Two review stores, each on its own Database (engine and pool), over one migrated database with ann."""
    with Database(database_url, max_attempts=3) as first, Database(database_url, max_attempts=3) as second:
        first.upgrade()
        store = ReviewStore(first, CONFIG)
        add_user(store, None, "ann", "Dr Ann", "reader", password=PASSWORD, now=T0)
        yield store, ReviewStore(second, CONFIG)


def fail(store: ReviewStore, username: str, now: datetime) -> None:
    """One failed login of ``username`` (a wrong password, or an unknown name)."""
    with pytest.raises(AuthenticationError):
        authenticate(store, username, "not the password", now)


def test_failures_in_one_process_throttle_the_other_and_expire_after_the_window(
        stores: tuple[ReviewStore, ReviewStore]) -> None:
    one, other = stores
    throttle = LoginThrottle(max_failures=3, window=timedelta(minutes=10))
    for offset_s in (0, 60, 120):
        assert throttle.retry_after_s(other, "ann", at(offset_s)) is None
        fail(one, "ann", at(offset_s))
    assert throttle.retry_after_s(other, "ann", at(120)) == 480  # until the first failure leaves the window
    assert LoginThrottle(max_failures=3, window=timedelta(minutes=10)).retry_after_s(one, "ann", at(599)) == 1
    assert throttle.retry_after_s(other, "ann", at(600)) is None  # one failure left the window
    fail(other, "ann", at(600))
    assert throttle.retry_after_s(one, "ann", at(600)) == 60
    assert throttle.retry_after_s(one, "Ann", at(600)) is None, "another spelling is another (unknown) name"
    assert throttle.retry_after_s(one, "ann", at(600 + 600 + 120)) is None  # all of them left the window


def test_a_successful_login_clears_the_earlier_failures_only(stores: tuple[ReviewStore, ReviewStore]) -> None:
    one, other = stores
    throttle = LoginThrottle(max_failures=2, window=timedelta(minutes=15))
    fail(one, "ann", at(0))
    authenticate(other, "ann", PASSWORD, at(10))
    fail(one, "ann", at(20))
    assert throttle.retry_after_s(other, "ann", at(30)) is None, "the failure before the login no longer counts"
    fail(other, "ann", at(40))
    assert throttle.retry_after_s(one, "ann", at(50)) == 900 - 30  # until the failure at 20 s leaves the window


def test_an_unknown_username_is_throttled_like_a_known_one(stores: tuple[ReviewStore, ReviewStore]) -> None:
    one, other = stores
    throttle = LoginThrottle(max_failures=2, window=timedelta(minutes=15))
    long_name = "x" * 300  # longer than any username: counted under its first 64 characters, as audited
    for offset_s in (0, 1):
        fail(one, "nobody", at(offset_s))
        fail(one, long_name, at(offset_s))
    assert throttle.retry_after_s(other, "nobody", at(2)) == 898  # until the failure at 0 s leaves
    assert throttle.retry_after_s(other, long_name, at(2)) == 898
    assert throttle.retry_after_s(other, "ann", at(2)) is None, "other usernames are not affected"


def test_the_rule_is_checked() -> None:
    with pytest.raises(ValueError, match="max_failures 0"):
        LoginThrottle(max_failures=0)
    with pytest.raises(ValueError, match="positive"):
        LoginThrottle(window=timedelta(0))
