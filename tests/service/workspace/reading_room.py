"""A reading room for the browser tests and the screenshots: a review store, a team, two registered phantom
visits, the workspace on a live server, and the page actions of a reader (start, override, save, sign).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from playwright.sync_api import Browser, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from dvt_us.report.visit_folder import VisitFolder
from dvt_us.service.db import Database, ReportRecord
from dvt_us.service.instances import StoredInstance
from dvt_us.service.review.store import ReviewStore
from dvt_us.service.review.studies import register_report
from dvt_us.service.workspace.context import utc_now
from tests.service.workspace.harness import (
    PASSWORD,
    Team,
    WatchedPage,
    WorkspaceFiles,
    browser_login,
    mounted_app,
    review_store,
    serve,
    watched_page,
)


@dataclass
class ReadingRoom:
    """The live workspace (``url``), its store and team, and the studies of reports 1 and 2 (by report id)."""

    url: str
    store: ReviewStore
    team: Team
    studies: dict[int, int]
    """Report id (1: BASELINE, 2: D10) → study id."""
    final_calls: list[int] = field(default_factory=list)
    """The study ids ``on_final`` was called with, in order."""


def record_reports(database: Database, files: WorkspaceFiles) -> list[ReportRecord]:
    """Record the instances and a finished job with the visit reports, as the service does; the reports."""
    now = utc_now()
    studies = set()
    for path in files.instances.values():
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        studies.add(str(ds.StudyInstanceUID))
        database.record_instance(StoredInstance(
            str(ds.SOPInstanceUID), str(ds.SOPClassUID), str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID),
            str(ds.file_meta.TransferSyntaxUID), path, path.stat().st_size, "TESTS", now))
    database.enqueue(sorted(studies)[0], "phantom-models", now)
    job = database.claim("tests", now)
    assert job is not None
    visits = [VisitFolder.open(path) for _, path in sorted(files.reports.items())]
    database.finish(job.id, files.data_dir / "reports",
                    [(str(v.document["subject"]), str(v.document["visit"]), v.path) for v in visits], now)
    return database.reports(job.id)


@contextmanager
def reading_room(files: WorkspaceFiles, folder: Path) -> Iterator[ReadingRoom]:
    """Serve the workspace over a fresh store in ``folder`` with both visits registered, as finished reports."""
    store = review_store(folder)
    team = Team.add(store)
    records = record_reports(store.database, files)
    served = WorkspaceFiles(files.data_dir, files.instances, {r.id: r.folder for r in records})
    studies = {r.id: register_report(store, r, utc_now()).id for r in records}
    calls: list[int] = []
    with serve(mounted_app(served, store, on_final=calls.append)) as url:
        yield ReadingRoom(url, store, team, studies, calls)


def wait_for_players(page: Page) -> None:
    """Wait until every clip player of the page has drawn its first frame."""
    page.wait_for_function("() => Array.from(document.querySelectorAll('.clip-player'))"
                           ".every(p => p.dataset.shown === '0:0')")


def start_read(page: Page, study_id: int) -> None:
    """On the worklist: start (or open) the read of ``study_id``; waits for the review page's clips."""
    row = page.locator(f'tr.study[data-study="{study_id}"]')
    with page.expect_navigation():
        row.locator("button.start-read, a.open-read").click()
    wait_for_players(page)


def finding(page: Page, key: str, field_name: str) -> str:
    """The selector of one field row of the findings form."""
    return f'tr.finding[data-key="{key}"][data-field="{field_name}"]'


def set_finding(page: Page, key: str, field_name: str, value_json: str, reason: str | None) -> None:
    """Choose ``value_json`` (a select option, e.g. ``3``) and type ``reason`` (None: leave it empty)."""
    row = finding(page, key, field_name)
    page.select_option(f"{row} select.finding-value", value=value_json)
    page.fill(f"{row} input.finding-reason", reason or "")


def save(page: Page) -> None:
    """Save the findings form; waits for the reloaded page (AssertionError with the page's message if refused)."""
    try:
        with page.expect_navigation(timeout=15_000):
            page.click("#save-button")
    except PlaywrightTimeoutError:
        raise AssertionError(f"not saved: {page.text_content('#read-message')}") from None
    wait_for_players(page)


def open_sign_dialog(page: Page, password: str) -> None:
    """Open the sign dialog and type the password (not sent yet)."""
    page.click("#sign-open")
    page.fill("#sign-password", password)


def sign(page: Page, password: str = PASSWORD) -> None:
    """Sign the read shown, with ``password``; waits for the reloaded page."""
    open_sign_dialog(page, password)
    with page.expect_navigation():
        page.click("#sign-button")


def logged_in(browser: Browser, pages: list[WatchedPage], room: ReadingRoom, username: str) -> Page:
    """A new page (context) in ``browser``, logged in to ``room`` as ``username``, kept in ``pages``."""
    watched = watched_page(browser)
    pages.append(watched)
    return browser_login(watched, room.url, username)
