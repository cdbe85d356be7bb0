"""Correcting a final concordant double read in a real browser: the readers' reads stay locked, the adjudicator
corrects by an adjudication, and its signature makes the final read (``on_final`` once)."""

from __future__ import annotations

from playwright.sync_api import Browser

from dvt_us.service.review import reads, signing
from dvt_us.service.review.enum import ReadSlot, ReviewState
from dvt_us.service.review.studies import get_study
from dvt_us.service.workspace.context import utc_now
from tests.service.workspace.harness import PASSWORD, WatchedPage
from tests.service.workspace.reading_room import ReadingRoom, logged_in, save, set_finding, sign


def test_an_adjudicator_corrects_a_final_concordant_read(browser: Browser, pages: list[WatchedPage],
                                                         room: ReadingRoom) -> None:
    study = room.studies[1]
    store, team = room.store, room.team
    for reader in (team.ann, team.bob):  # a concordant double read: both confirm the model
        read = reads.start_read(store, reader, study, utc_now())
        signing.sign_read(store, reader, read.id, PASSWORD, utc_now())
    assert get_study(store, team.root, study, utc_now()).final_slot is ReadSlot.READ_1

    ann = logged_in(browser, pages, room, "ann")
    ann.goto(f"{room.url}/studies/{study}/review")
    assert "Reads of this study are locked." in (ann.text_content(".sign-off") or "")
    assert ann.locator("#amend-button").count() == 0 and ann.text_content("h1 .state") == "final"

    ada = logged_in(browser, pages, room, "ada")
    with ada.expect_navigation():
        ada.click(f'tr.study[data-study="{study}"] a.correction')
    with ada.expect_navigation():
        ada.click("#start-adjudication")
    assert get_study(store, team.root, study, utc_now()).state is ReviewState.FINAL, "final until signed"
    row = ada.locator('tr.finding[data-field="grade"]').first
    key, model = row.get_attribute("data-key") or "", row.get_attribute("data-model") or "null"
    set_finding(ada, key, "grade", "3" if model != "3" else "0", "correction: re-read the cine")
    save(ada)
    assert room.final_calls == []
    sign(ada)
    corrected = get_study(store, team.root, study, utc_now())
    assert (corrected.state, corrected.final_slot) == (ReviewState.FINAL, ReadSlot.ADJUDICATION)
    assert room.final_calls == [study], "the corrected final outputs are due once"

    ann.goto(f"{room.url}/worklist")
    assert ann.locator(f'tr.study[data-study="{study}"]').get_attribute("data-state") == "final"
