"""The browser-test harness of the workspace: the app on a real uvicorn server, driven by Debian's chromium.

Used by the fixtures of ``conftest.py`` and by ``screenshot.py``. The app is mounted at ``/workspace`` in an
outer FastAPI app, as the service mounts it, over a real review store (a migrated SQLite database, real
argon2 with light parameters) and served by :class:`~dvt_us.service.http_server.HttpServer` on a free
loopback port. Every request the page makes to anywhere but that server is aborted and recorded.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Request, Route, sync_playwright
from starlette.routing import Mount

from dvt_us.report.visit_folder import visit_folders
from dvt_us.service.config import PasswordHashConfig, ReviewConfig
from dvt_us.service.db import Database
from dvt_us.service.http_server import HttpServer
from dvt_us.service.review.accounts import add_user
from dvt_us.service.review.records import User
from dvt_us.service.review.store import ReviewStore
from dvt_us.service.workspace import MediaLimits, WorkspaceSources, create_workspace_app
from dvt_us.service.workspace.context import FinalHook, utc_now

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery"
FAST_ARGON2 = PasswordHashConfig(time_cost=1, memory_kib=8192, parallelism=1)
"""Real argon2id, with parameters light enough for the 2-core test machine."""
MOUNT = "/workspace"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class WorkspaceFiles:
    """A service data folder holding analysed visit folders and the instances they came from."""

    data_dir: Path
    instances: dict[str, Path]
    """SOPInstanceUID → its DICOM file under ``data_dir/instances``."""
    reports: dict[int, Path]
    """Report id → visit folder under ``data_dir/reports`` (1: BASELINE, then the other visits)."""

    def sources(self) -> WorkspaceSources:
        """The resolvers the service would give the workspace."""
        return WorkspaceSources(self.data_dir, self.instances.get, self.reports.get)


def copy_run(run_dir: Path, data_dir: Path) -> WorkspaceFiles:
    """Copy an analyze output folder and the DICOM files its reports name into ``data_dir``."""
    shutil.copytree(run_dir, data_dir / "reports")
    visits = sorted(visit_folders(data_dir / "reports"), key=lambda v: (v.path.name != "BASELINE", v.path.name))
    instances: dict[str, Path] = {}
    for visit in visits:
        for clip in visit.clips:
            dest = data_dir / "instances" / f"{clip['sop_instance_uid']}.dcm"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(clip["file"], dest)
            instances[clip["sop_instance_uid"]] = dest
    return WorkspaceFiles(data_dir, instances, {i + 1: v.path for i, v in enumerate(visits)})


def review_store(folder: Path) -> ReviewStore:
    """A review store on a new, migrated SQLite database in ``folder`` (double read, default rules)."""
    folder.mkdir(parents=True, exist_ok=True)
    database = Database(f"sqlite:///{folder / 'review.db'}", max_attempts=3)
    database.upgrade()
    return ReviewStore(database, ReviewConfig(password_hash=FAST_ARGON2))


@dataclass(frozen=True)
class Team:
    """Two readers, an adjudicator and an admin, all with :data:`PASSWORD`."""

    ann: User
    bob: User
    ada: User
    root: User

    @classmethod
    def add(cls, store: ReviewStore) -> Team:
        """Create the accounts in ``store``."""
        def user(name: str, role: str) -> User:
            return add_user(store, None, name, f"Dr {name.title()}", role, password=PASSWORD, now=utc_now())

        return cls(user("ann", "reader"), user("bob", "reader"), user("ada", "adjudicator"), user("root", "admin"))


@dataclass(frozen=True)
class Review:
    """A review store (SQLite, migrated) and its team."""

    store: ReviewStore
    team: Team


def mounted_app(files: WorkspaceFiles, store: ReviewStore, *, limits: MediaLimits | None = None,
                on_final: FinalHook | None = None) -> FastAPI:
    """An outer app with the workspace mounted at :data:`MOUNT`, as the service mounts it."""
    outer = FastAPI()
    outer.mount(MOUNT, create_workspace_app(files.sources(), store, limits=limits, on_final=on_final))
    return outer


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


def client_login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log ``client`` in through the login form; the session's CSRF token (from a page's meta tag)."""
    form = client.get(f"{MOUNT}/login")
    token = LOGIN_TOKEN.search(form.text)
    assert token is not None, form.text
    done = client.post(f"{MOUNT}/login", data={"username": username, "password": password,
                                                "login_token": token.group(1)}, follow_redirects=False)
    assert done.status_code == 303, done.text
    page = client.get(f"{MOUNT}/worklist")
    found = CSRF_META.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def mounted_workspace(outer: FastAPI) -> FastAPI:
    """The workspace app inside an app made by :func:`mounted_app`."""
    mount = next(r for r in outer.routes if isinstance(r, Mount) and r.path == MOUNT)
    app = mount.app
    assert isinstance(app, FastAPI)
    return app


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yields the workspace's base URL."""
    with HttpServer(app, "127.0.0.1", 0) as server:
        yield f"http://127.0.0.1:{server.port}{MOUNT}"


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's chromium, headless; fails saying how to install it when it is missing."""
    if not CHROMIUM.is_file():
        raise FileNotFoundError(f"{CHROMIUM} is missing: `make system-test` installs Debian's chromium")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)


@contextmanager
def chromium() -> Iterator[Browser]:
    """A started Playwright and a launched chromium, closed afterwards."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class WatchedPage:
    """A page whose console errors, page errors and requests beyond loopback are recorded."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def watched_page(browser: Browser, width: int = 1400, height: int = 1000) -> WatchedPage:
    """A new page (own context) that aborts and records every request leaving loopback."""
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    watched = WatchedPage(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.console_errors.append(message.text)

    def on_request(request: Request) -> None:
        watched.requests.append(request.url)

    def guard(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("data", "blob") or url.hostname in LOOPBACK:
            route.continue_()
        else:
            watched.outside_requests.append(route.request.url)
            route.abort()

    page.on("console", on_console)
    page.on("pageerror", lambda exc: watched.console_errors.append(f"page error: {exc}"))
    page.on("request", on_request)
    page.route("**/*", guard)
    return watched


def submit_login(page: Page, username: str, password: str = PASSWORD) -> None:
    """Fill in and send the login form the page shows; waits for the page it leads to."""
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    with page.expect_navigation():
        page.click('.login-form button[type="submit"]')


def browser_login(watched: WatchedPage, base_url: str, username: str, password: str = PASSWORD) -> Page:
    """Log the page in as ``username`` through the login page; it is left on the worklist."""
    page = watched.page
    page.goto(f"{base_url}/login")
    submit_login(page, username, password)
    return page


def open_viewer(watched: WatchedPage, base_url: str, report_id: int = 1, username: str = "ann") -> Page:
    """Open the viewer of ``report_id`` (logging in as ``username`` when the page asks) and wait until every
    player has drawn its first frame."""
    page = watched.page
    page.goto(f"{base_url}/reports/{report_id}/viewer")
    if "/login" in page.url:
        submit_login(page, username)
    page.wait_for_function("() => Array.from(document.querySelectorAll('.clip-player'))"
                           ".every(p => p.dataset.shown === '0:0')")
    return page


def canvas_pixels(page: Page, clip: int) -> dict[str, Any]:
    """Of player ``clip``'s canvas: a hash of its RGBA bytes and how many pixels are not grey (R, G, B differ)."""
    return page.evaluate(
        """(i) => {
            const canvas = document.querySelector(`#clip-${i} canvas.frame`);
            const rgba = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let hash = 2166136261, coloured = 0;
            for (let k = 0; k < rgba.length; k += 4) {
                const r = rgba[k], g = rgba[k + 1], b = rgba[k + 2];
                if (Math.max(Math.abs(r - g), Math.abs(g - b), Math.abs(r - b)) > 24) coloured++;
                hash = Math.imul(hash ^ (r + 3 * g + 7 * b), 16777619) >>> 0;
            }
            return {hash, coloured, pixels: rgba.length / 4};
        }""",
        clip,
    )
