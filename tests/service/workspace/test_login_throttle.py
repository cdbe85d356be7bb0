"""The failed-login throttle on its own: a sliding window per username, on an explicit clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dvt_us.service.workspace.login_throttle import LoginThrottle

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def at(offset_s: int) -> datetime:
    """A fixed instant ``offset_s`` after T0 (the throttle is given its clock; nothing is timed)."""
    return T0 + timedelta(seconds=offset_s)


def test_failures_expire_after_the_window() -> None:
    throttle = LoginThrottle(max_failures=3, window=timedelta(minutes=10))
    for offset_s in (0, 60, 120):
        assert throttle.retry_after_s("ann", at(offset_s)) is None
        throttle.failed("ann", at(offset_s))
    assert throttle.retry_after_s("ann", at(120)) == 480  # until the first failure leaves the window
    assert throttle.retry_after_s("Ann", at(599)) == 1
    assert throttle.retry_after_s("ann", at(600)) is None  # one failure left the window
    throttle.failed("ann", at(600))
    assert throttle.retry_after_s("ann", at(600)) == 60
    throttle.succeeded("ANN")
    assert throttle.retry_after_s("ann", at(600)) is None
