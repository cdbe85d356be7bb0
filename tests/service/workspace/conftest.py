"""Workspace fixtures: a data folder of an analysed phantom trial, a review store with a team, the app over
them, a live server, chromium.

The phantom trial and its analysis are the session fixtures of ``tests/report`` (one subject, BASELINE and
D10, both legs, 10-frame cines of 200 × 260), reused by import.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from tests.service.workspace.harness import (
    Review,
    Team,
    WatchedPage,
    WorkspaceFiles,
    chromium,
    client_login,
    copy_run,
    mounted_app,
    review_store,
    serve,
    watched_page,
)
from tests.service.workspace.reading_room import ReadingRoom, reading_room


@pytest.fixture(scope="session")
def workspace_files(run_dir, tmp_path_factory: pytest.TempPathFactory) -> WorkspaceFiles:
    """A data folder with the analysed visits (report 1: BASELINE, 2: D10) and their instances."""
    return copy_run(run_dir, tmp_path_factory.mktemp("workspace-data"))


@pytest.fixture(scope="session")
def review(tmp_path_factory: pytest.TempPathFactory) -> Review:
    """The review store shared by the route and viewer tests, with ann, bob (readers), ada and root."""
    store = review_store(tmp_path_factory.mktemp("workspace-review"))
    return Review(store, Team.add(store))


@pytest.fixture
def client(workspace_files: WorkspaceFiles, review: Review) -> Iterator[TestClient]:
    """A client of the workspace mounted at /workspace (a fresh app, so fresh caches), logged in as reader ann."""
    with TestClient(mounted_app(workspace_files, review.store)) as c:
        client_login(c, "ann")
        yield c


@pytest.fixture(scope="session")
def live_workspace(workspace_files: WorkspaceFiles, review: Review) -> Iterator[str]:
    """The workspace on a real uvicorn server on a free loopback port: its base URL (``…/workspace``)."""
    with serve(mounted_app(workspace_files, review.store)) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, through Playwright's sync API."""
    try:
        with chromium() as launched:
            yield launched
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def watched(browser: Browser) -> Iterator[WatchedPage]:
    """A fresh page that records console errors and aborts requests leaving loopback."""
    page = watched_page(browser)
    try:
        yield page
    finally:
        page.page.context.close()


EXPECTED_REFUSAL = tuple(f"Failed to load resource: the server responded with a status of {status}"
                         for status in (401, 403, 404, 422))
"""Console errors of the refusals the browser tests provoke (the browser logs them as failed loads)."""


@pytest.fixture(scope="module")
def room(workspace_files: WorkspaceFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReadingRoom]:
    """A live reading room of its own for each test module (reports 1 and 2 registered, nothing read yet)."""
    with reading_room(workspace_files, tmp_path_factory.mktemp("reading-room")) as found:
        yield found


@pytest.fixture
def pages(browser: Browser) -> Iterator[list[WatchedPage]]:
    """Pages made by :func:`~tests.service.workspace.reading_room.logged_in` (one context each), checked for
    console errors and requests off loopback, and closed afterwards."""
    made: list[WatchedPage] = []
    yield made
    for watched in made:
        watched.page.context.close()
    for watched in made:
        errors = [e for e in watched.console_errors if not e.startswith(EXPECTED_REFUSAL)]
        assert errors == [] and watched.outside_requests == []
