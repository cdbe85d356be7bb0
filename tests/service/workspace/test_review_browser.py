"""The reading workflow in a real browser (Debian's chromium) against the workspace on a real uvicorn server.

Reader 1 overrides a finding (refused without a reason, accepted with one) and signs (a wrong password is
refused); reader 2 reads the same study blind and signs; the adjudicator sees both reads with the
discordance marked, adjudicates and signs, which makes the study final and calls ``on_final`` once; the admin
verifies the audit chain and downloads the CSV, which re-checks without the database. And what each role
may not do: see another reader's read, open the audit trail, adjudicate, post without the CSRF token.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

from playwright.sync_api import Browser, Page

from dvt_us.service.review import reads
from dvt_us.service.review.audit import CSV_COLUMNS, GENESIS_HASH, entry_hash
from dvt_us.service.review.enum import ReviewState
from dvt_us.service.review.reads import FindingEdit
from dvt_us.service.review.studies import get_study
from dvt_us.service.workspace.context import utc_now
from tests.service.workspace.harness import WatchedPage
from tests.service.workspace.reading_room import (
    ReadingRoom,
    finding,
    logged_in,
    open_sign_dialog,
    save,
    set_finding,
    sign,
    start_read,
)

SECRET = "read-1-private-reason"


def _grade_to_override(page: Page) -> tuple[str, str, str]:
    """(segment key, model value, another value) of the first grade the model called 0-2."""
    for row in page.locator('tr.finding[data-field="grade"]').all():
        model = row.get_attribute("data-model") or "null"
        if model in ("0", "1", "2"):
            return row.get_attribute("data-key") or "", model, "3"
    raise AssertionError("no segment with a grade of 0-2 in the phantom visit")


def test_double_read_adjudication_sign_off_and_audit(browser: Browser, pages: list[WatchedPage],
                                                     room: ReadingRoom) -> None:
    study = room.studies[1]
    ann = logged_in(browser, pages, room, "ann")
    assert ann.locator(".state-counts .state-awaiting_read .n").text_content() == "2"
    start_read(ann, study)
    assert ann.locator(".clip-player").count() >= 1 and ann.locator(".leg-diagram").count() == 1
    key, model, other = _grade_to_override(ann)
    row = finding(ann, key, "grade")

    set_finding(ann, key, "grade", other, None)
    assert ann.locator(f"{row} .reason-hint").is_visible()  # shown client-side at once
    ann.click("#save-button")
    ann.locator("#read-message.error").wait_for()
    assert "needs a reason" in (ann.text_content("#read-message") or "")  # refused by the server
    mine = reads.own_read(room.store, room.team.ann, study, utc_now())
    assert mine is not None and mine.content.segment(key).fields["grade"].reader == json.loads(model)

    ann.fill(f"{row} input.finding-reason", SECRET)
    save(ann)
    assert ann.get_attribute(row, "data-reader") == other and "overridden" in (ann.get_attribute(row, "class") or "")
    assert ann.input_value(f"{row} input.finding-reason") == SECRET

    open_sign_dialog(ann, "not my password")
    assert ann.text_content("#sign-dialog .meaning") == "author of read 1"
    ann.click("#sign-button")
    ann.locator("#sign-dialog .sign-message").wait_for()
    assert "wrong password" in (ann.text_content("#sign-dialog .sign-message") or "")
    ann.click("#sign-cancel")
    sign(ann)
    assert "signed and locked" in (ann.text_content(".signed-note") or "")
    assert ann.text_content("tr.version .signed-by") == "Dr Ann" and ann.locator("#save-button").count() == 0

    bob = logged_in(browser, pages, room, "bob")
    start_read(bob, study)
    assert bob.get_attribute(row, "data-reader") == model  # the model's value, not read 1's
    assert SECRET not in bob.content()
    sign(bob)
    assert get_study(room.store, room.team.root, study, utc_now()).state is ReviewState.DISCORDANT
    ann.goto(f"{room.url}/worklist")  # blinded: ann's worklist cannot tell that bob disagreed
    assert ann.locator(f'tr.study[data-study="{study}"]').get_attribute("data-state") == "read_submitted"
    assert "discordan" not in ann.content() and "adjudicat" not in ann.content().lower()

    ada = logged_in(browser, pages, room, "ada")
    assert ada.locator(".state-counts .state-discordant .n").text_content() == "1"
    with ada.expect_navigation():
        ada.click(f'tr.study[data-study="{study}"] a.open-adjudication')
    discordant = ada.locator('tr.finding[data-discordant="true"]')
    assert discordant.count() == 1 and discordant.get_attribute("data-key") == key
    assert discordant.get_attribute("data-field") == "grade"
    assert SECRET in (discordant.locator("td.read-1").text_content() or "")  # the adjudicator sees both reads
    with ada.expect_navigation():
        ada.click("#start-adjudication")
    assert ada.get_attribute(row, "data-reader") == model  # undecided: starts from the model
    set_finding(ada, key, "grade", other, "agree with read 1: occlusive throughout")
    save(ada)
    assert room.final_calls == []
    open_sign_dialog(ada, "correct horse battery")
    assert ada.text_content("#sign-dialog .meaning") == "adjudicator: final read"
    with ada.expect_navigation():
        ada.click("#sign-button")
    assert ada.text_content("h1 .state") == "final"
    assert room.final_calls == [study]

    root = logged_in(browser, pages, room, "root")
    with root.expect_navigation():
        root.click('.app-nav a:text("Audit trail")')
    assert root.locator("tr.audit-entry").count() > 10
    root.click("#verify-chain")
    root.locator("#chain-result:not([hidden])").wait_for()
    assert root.get_attribute("#chain-result", "data-intact") == "true"
    assert "Intact" in (root.text_content("#chain-result") or "")
    with root.expect_download() as download:
        root.click("a.csv-export")
    rows = list(csv.DictReader(Path(download.value.path()).read_text().splitlines()))
    assert tuple(rows[0]) == CSV_COLUMNS
    prev = GENESIS_HASH
    for n, entry in enumerate(rows, start=1):
        assert int(entry["seq"]) == n and entry["prev_hash"] == prev
        assert entry["hash"] == entry_hash(n, datetime.fromisoformat(entry["at"]), entry["actor"], entry["action"],
                                           entry["object"], details=json.loads(entry["details"]), prev_hash=prev)
        prev = entry["hash"]
    actions = {(e["actor"], e["action"]) for e in rows}
    assert {("ann", "read.sign_refused"), ("ann", "read.sign"), ("bob", "read.sign"), ("ada", "read.sign"),
            ("root", "audit.verify")} <= actions

    root.goto(f"{room.url}/agreement?comparison=reader_1_vs_reader_2")
    assert "over 1 study" in (root.text_content(".subtitle") or "")
    assert root.locator('table.pooled tr[data-field="grade"]').count() == 1


def test_a_reader_sees_only_their_own_read_and_nothing_beyond_the_role(browser: Browser, pages: list[WatchedPage],
                                                                       room: ReadingRoom) -> None:
    study = room.studies[2]
    first = reads.start_read(room.store, room.team.ann, study, utc_now())
    segment = first.content.segments[0]
    model = segment.fields["rvt"].model
    changed = not model if isinstance(model, bool) else True
    reads.edit_read(room.store, room.team.ann, first.id, [FindingEdit(segment.key, "rvt", changed, SECRET)], utc_now())

    bob = logged_in(browser, pages, room, "bob")
    for path, status in ((f"/api/reads/{first.id}", 403), (f"/studies/{study}/review", 404),
                         (f"/studies/{study}/adjudication", 403), ("/audit", 403), ("/users", 403)):
        response = bob.goto(room.url + path)
        assert response is not None and response.status == status, path
        assert SECRET not in bob.content() and '"content"' not in bob.content(), path
    csrf = bob.evaluate("() => document.querySelector('meta[name=csrf-token]').content")
    refused = bob.request.post(f"{room.url}/studies/{study}/adjudication", headers={"X-CSRF-Token": csrf})
    assert refused.status == 403 and "may not adjudicate" in refused.text()  # a page: the error page
    no_token = bob.request.post(f"{room.url}/studies/{study}/read", form={"x": "1"})
    assert no_token.status == 403 and "CSRF" in no_token.text()
    wrong = bob.request.post(f"{room.url}/api/reads/{first.id}/sign", data={"password": "correct horse battery"},
                             headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status == 403 and "CSRF" in wrong.json()["detail"]
    steal = bob.request.post(f"{room.url}/api/reads/{first.id}/sign", data={"password": "correct horse battery"},
                             headers={"X-CSRF-Token": csrf})
    assert steal.status == 403 and "another user's read" in steal.json()["detail"]
    assert reads.get_read(room.store, room.team.ann, first.id, utc_now()).signed_at is None

    bob.goto(f"{room.url}/worklist")
    with bob.expect_navigation():
        bob.click("form.logout button")
    assert "/login" in bob.url
    response = bob.goto(f"{room.url}/studies/{study}/review")
    assert response is not None and "/login?next=" in bob.url and bob.locator(".login-form").count() == 1
    assert bob.request.get(f"{room.url}/api/reads/{first.id}").status == 401


def test_reading_keys_move_between_segments_and_save(browser: Browser, pages: list[WatchedPage],
                                                     room: ReadingRoom) -> None:
    ann = logged_in(browser, pages, room, "ann")
    start_read(ann, room.studies[2])
    keys = [k.get_attribute("data-key") for k in ann.locator(".segment-findings").all()]
    assert len(keys) >= 2
    for press, expected in (("n", keys[0]), ("n", keys[1]), ("p", keys[0]), ("p", keys[-1])):
        ann.keyboard.press(press)
        assert ann.get_attribute("#read-form", "data-segment") == expected
        assert ann.locator(".segment-findings.current").get_attribute("data-key") == expected
    row = finding(ann, keys[-1], "compressibility")
    model = ann.get_attribute(row, "data-model")
    other = next(v for v in ('"noncompressible"', '"compressible"') if v != model)
    set_finding(ann, keys[-1], "compressibility", other, "walls do not coapt")
    ann.keyboard.press("s")  # typing in the reason: the key is text, not a shortcut
    assert ann.input_value(f"{row} input.finding-reason") == "walls do not coapts"
    assert ann.get_attribute(row, "data-reader") == model  # nothing saved
    ann.fill(f"{row} input.finding-reason", "walls do not coapt")
    ann.locator("h1.study-title").click()
    with ann.expect_navigation():
        ann.keyboard.press("s")
    assert ann.get_attribute(row, "data-reader") == other
