"""The login route's throttle across processes: two workspace apps, each on its own engine, over one database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dvt_us.service.config import ReviewConfig
from dvt_us.service.db import Database
from dvt_us.service.review.store import ReviewStore
from dvt_us.service.workspace import create_workspace_app
from tests.service.workspace.harness import (
    FAST_ARGON2,
    LOGIN_TOKEN,
    MOUNT,
    PASSWORD,
    Team,
    WorkspaceFiles,
    review_store,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Clock:
    """A fixed instant that a test moves on (nothing is timed)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def two_apps(workspace_files: WorkspaceFiles, tmp_path: Path) -> Iterator[tuple[TestClient, TestClient, Clock]]:
    """Clients of two workspace apps (two processes' worth of engines) over one SQLite file, on one clock."""
    first = review_store(tmp_path / "store")
    Team.add(first)
    second = ReviewStore(Database(f"sqlite:///{tmp_path / 'store' / 'review.db'}", max_attempts=3),
                         ReviewConfig(password_hash=FAST_ARGON2))
    clock = Clock()
    clients = []
    for store in (first, second):
        outer = FastAPI()
        outer.mount(MOUNT, create_workspace_app(workspace_files.sources(), store, clock=clock))
        clients.append(TestClient(outer))
    with clients[0], clients[1]:
        yield clients[0], clients[1], clock
    second.database.close()
    first.database.close()


def attempt(client: TestClient, username: str, password: str) -> tuple[int, str | None]:
    """Post the login form; the status and the Retry-After header."""
    token = LOGIN_TOKEN.search(client.get(f"{MOUNT}/login").text)
    assert token is not None
    done = client.post(f"{MOUNT}/login", data={"username": username, "password": password,
                                                "login_token": token.group(1)}, follow_redirects=False)
    return done.status_code, done.headers.get("retry-after")


def test_failures_through_one_app_throttle_the_other_until_the_window_passes(
        two_apps: tuple[TestClient, TestClient, Clock]) -> None:
    one, other, clock = two_apps
    assert [attempt(one, "bob", "not bob's password")[0] for _ in range(5)] == [401] * 5
    assert attempt(other, "bob", PASSWORD) == (429, "900"), "refused in the other process, even the right password"
    assert attempt(other, "ann", PASSWORD)[0] == 303, "other usernames are not affected"
    clock.now = T0 + timedelta(minutes=15)
    assert attempt(other, "bob", PASSWORD)[0] == 303, "the failures left the window"
    assert [attempt(one, "bob", "not bob's password")[0] for _ in range(5)] == [401] * 5, "the login cleared them"
    assert attempt(one, "bob", "not bob's password")[0] == 429
