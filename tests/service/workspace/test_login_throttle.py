"""The failed-login throttle on its own: a sliding window per username."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dvt_us.service.workspace.login_throttle import LoginThrottle

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_failures_expire_after_the_window() -> None:
    throttle = LoginThrottle(max_failures=3, window=timedelta(minutes=10))
    for minute in (0, 1, 2):
        assert throttle.retry_after_s("ann", T0 + timedelta(minutes=minute)) is None
        throttle.failed("ann", T0 + timedelta(minutes=minute))
    assert throttle.retry_after_s("ann", T0 + timedelta(minutes=2)) == 8 * 60  # until the first failure expires
    assert throttle.retry_after_s("Ann", T0 + timedelta(minutes=9, seconds=59)) == 1
    assert throttle.retry_after_s("ann", T0 + timedelta(minutes=10)) is None  # one failure left the window
    throttle.failed("ann", T0 + timedelta(minutes=10))
    assert throttle.retry_after_s("ann", T0 + timedelta(minutes=10)) == 60
    throttle.succeeded("ANN")
    assert throttle.retry_after_s("ann", T0 + timedelta(minutes=10)) is None
