"""The review pages and calls through a test client: cookies, CSRF, roles, blinding, forms and the domain's refusals.

Each test gets a fresh review store (a migrated SQLite database) with the phantom visits registered.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dvt_us.report.visit_folder import VisitFolder
from dvt_us.service.review import reads, signing
from dvt_us.service.review.adjudication import start_adjudication
from dvt_us.service.review.enum import ReviewState
from dvt_us.service.review.final_outputs import write_final_outputs
from dvt_us.service.review.reads import FindingEdit
from dvt_us.service.review.studies import get_study, register_visit_folder
from dvt_us.service.workspace import create_workspace_app
from dvt_us.service.workspace.context import utc_now
from tests.service.workspace.harness import (
    LOGIN_TOKEN,
    MOUNT,
    PASSWORD,
    Review,
    Team,
    WorkspaceFiles,
    client_login,
    mounted_app,
    review_store,
)


@dataclass(frozen=True)
class Desk:
    """A fresh store with the team and the phantom's studies (BASELINE, D10), and the app over it."""

    review: Review
    app: FastAPI
    baseline: int
    d10: int

    def client(self, username: str | None = None) -> tuple[TestClient, str]:
        """A started client, logged in as ``username`` (when given), and its CSRF token."""
        client = TestClient(self.app)
        client.__enter__()
        return client, client_login(client, username) if username else ""


@pytest.fixture
def desk(workspace_files: WorkspaceFiles, tmp_path: Path) -> Iterator[Desk]:
    store = review_store(tmp_path / "store")
    studies = [register_visit_folder(store, workspace_files.reports[i], utc_now()).id for i in (1, 2)]
    found = Desk(Review(store, Team.add(store)), mounted_app(workspace_files, store), *studies)
    yield found
    store.database.close()


def _cookie(response, name: str) -> str:
    return next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}="))


def test_login_cookies_are_strict_and_httponly_and_bad_logins_are_refused(desk: Desk,
                                                                          workspace_files: WorkspaceFiles) -> None:
    client, _ = desk.client()
    form = client.get(f"{MOUNT}/login")
    assert "httponly" in _cookie(form, "dvtus_login").lower()
    token = LOGIN_TOKEN.search(form.text).group(1)
    wrong = client.post(f"{MOUNT}/login", data={"username": "ann", "password": "wrong password!",
                                                 "login_token": token})
    assert wrong.status_code == 401 and "wrong password" in wrong.text and "dvtus_session" not in client.cookies
    stranger, _ = desk.client()  # a form posted from elsewhere has no login cookie
    refused = stranger.post(f"{MOUNT}/login", data={"username": "ann", "password": PASSWORD, "login_token": token})
    assert refused.status_code == 403 and "login form" in refused.text
    token = LOGIN_TOKEN.search(client.get(f"{MOUNT}/login").text).group(1)
    done = client.post(f"{MOUNT}/login", data={"username": "ann", "password": PASSWORD, "login_token": token,
                                                "next": "//evil.example/steal"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"{MOUNT}/worklist"
    cookie = _cookie(done, "dvtus_session").lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and f"path={MOUNT}" in cookie
    assert "secure" not in cookie

    outer = FastAPI()
    outer.mount(MOUNT, create_workspace_app(workspace_files.sources(), desk.review.store, secure_cookies=True))
    with TestClient(outer, base_url="https://testserver") as secure:
        page = secure.get(f"{MOUNT}/login")
        assert "; secure" in _cookie(page, "dvtus_login").lower()


def test_failed_logins_of_a_username_are_throttled_then_a_good_login_clears_them(desk: Desk) -> None:
    client, _ = desk.client()

    def attempt(username: str, password: str) -> int:
        token = LOGIN_TOKEN.search(client.get(f"{MOUNT}/login").text).group(1)
        done = client.post(f"{MOUNT}/login", data={"username": username, "password": password, "login_token": token},
                           follow_redirects=False)
        if done.status_code == 429:
            assert int(done.headers["retry-after"]) > 0 and "too many failed logins" in done.text
        return done.status_code

    assert [attempt("bob", "not bob's password") for _ in range(6)] == [401] * 5 + [429]
    assert attempt("bob", PASSWORD) == 429, "refused while throttled, even with the right password"
    assert attempt("BOB ", PASSWORD) == 401, "counted per username as typed: 'BOB ' is another, unknown name"
    assert attempt("nobody", "guess") == 401, "other usernames are not affected"
    assert attempt("ann", "wrong password!") == 401
    assert attempt("ann", PASSWORD) == 303
    assert [attempt("ann", "wrong password!") for _ in range(5)] == [401] * 5, "a good login cleared ann's count"


def test_every_unsafe_call_needs_the_sessions_csrf_token(desk: Desk) -> None:
    client, csrf = desk.client("ann")
    refused = client.post(f"{MOUNT}/studies/{desk.baseline}/read", follow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    wrong = client.post(f"{MOUNT}/studies/{desk.baseline}/read", data={"csrf_token": "0" * 64},
                        follow_redirects=False)
    assert wrong.status_code == 403
    started = client.post(f"{MOUNT}/studies/{desk.baseline}/read", data={"csrf_token": csrf}, follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"] == f"{MOUNT}/studies/{desk.baseline}/review"
    read_id = int(client.get(started.headers["location"]).text.split('data-read="')[1].split('"')[0])
    segment = json.loads(client.get(f"{MOUNT}/api/reads/{read_id}").text)["content"]["segments"][0]
    edit = {"findings": [{"segment_key": f"{segment['side']}:{segment['segment']}", "field": "rvt",
                          "value": segment["fields"]["rvt"]["model"]}]}
    no_header = client.post(f"{MOUNT}/api/reads/{read_id}/edits", json=edit)
    assert no_header.status_code == 403 and no_header.headers["content-type"] == "application/problem+json"
    saved = client.post(f"{MOUNT}/api/reads/{read_id}/edits", json=edit, headers={"X-CSRF-Token": csrf})
    assert saved.status_code == 200 and saved.json()["id"] == read_id
    assert client.post(f"{MOUNT}/logout", follow_redirects=False).status_code == 403
    assert client.post(f"{MOUNT}/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert client.get(f"{MOUNT}/api/reads/{read_id}").status_code == 401  # the session is over


@pytest.mark.parametrize(("username", "path", "status"), [
    ("ann", "/audit", 403), ("ann", "/audit/export.csv", 403), ("ann", "/agreement", 403), ("ann", "/users", 403),
    ("ada", "/audit", 403), ("ada", "/agreement", 200), ("ada", "/users", 403),
    ("root", "/audit", 200), ("root", "/agreement?comparison=reader_1_vs_reader_2", 200), ("root", "/users", 200),
    ("root", "/studies/{study}/review", 403), ("ann", "/studies/{study}/adjudication", 403),
])
def test_pages_are_authorised_by_role(desk: Desk, username: str, path: str, status: int) -> None:
    client, _ = desk.client(username)
    got = client.get(MOUNT + path.format(study=desk.baseline))
    assert got.status_code == status, got.text[-400:]


def test_api_calls_beyond_the_role_are_refused(desk: Desk) -> None:
    ann, ann_csrf = desk.client("ann")
    assert ann.post(f"{MOUNT}/api/audit/verify", headers={"X-CSRF-Token": ann_csrf}).status_code == 403
    root, root_csrf = desk.client("root")
    refused = root.post(f"{MOUNT}/studies/{desk.baseline}/read", data={"csrf_token": root_csrf})
    assert refused.status_code == 403 and "read.create" in refused.text
    verified = root.post(f"{MOUNT}/api/audit/verify", headers={"X-CSRF-Token": root_csrf}).json()
    assert verified["intact"] is True and verified["entries"] > 5 and verified["first_broken_seq"] is None


def test_a_reader_gets_only_their_own_read_as_json(desk: Desk) -> None:
    ann, ann_csrf = desk.client("ann")
    ann.post(f"{MOUNT}/studies/{desk.d10}/read", data={"csrf_token": ann_csrf})
    page = ann.get(f"{MOUNT}/studies/{desk.d10}/review").text
    read_id = int(page.split('data-read="')[1].split('"')[0])
    assert ann.get(f"{MOUNT}/api/reads/{read_id}").json()["slot"] == "read_1"
    bob, _ = desk.client("bob")
    got = bob.get(f"{MOUNT}/api/reads/{read_id}")
    assert got.status_code == 403 and "segments" not in got.text and "another user's read" in got.json()["detail"]
    assert bob.get(f"{MOUNT}/studies/{desk.d10}/review").status_code == 404  # bob holds no read of it


def _read_id(page: str) -> int:
    return int(page.split('data-read="')[1].split('"', maxsplit=1)[0])


def test_wrong_password_locked_versions_and_the_correction_after_final(desk: Desk) -> None:
    ann, csrf = desk.client("ann")
    ann.post(f"{MOUNT}/studies/{desk.baseline}/read", data={"csrf_token": csrf})
    read_id = _read_id(ann.get(f"{MOUNT}/studies/{desk.baseline}/review").text)
    headers = {"X-CSRF-Token": csrf}
    wrong = ann.post(f"{MOUNT}/api/reads/{read_id}/sign", json={"password": "not my password"}, headers=headers)
    assert wrong.status_code == 401 and "wrong password" in wrong.json()["detail"]
    signed = ann.post(f"{MOUNT}/api/reads/{read_id}/sign", json={"password": PASSWORD}, headers=headers).json()
    assert signed["study_state"] == "read_submitted" and not signed["final"]
    assert signed["signature"]["meaning"] == "author of read 1" and signed["signature"]["printed_name"] == "Dr Ann"
    content = ann.get(f"{MOUNT}/api/reads/{read_id}").json()["content"]
    seg = content["segments"][0]
    edit = {"findings": [{"segment_key": f"{seg['side']}:{seg['segment']}", "field": "rvt", "value": None,
                          "reason": "cannot tell"}]}
    locked = ann.post(f"{MOUNT}/api/reads/{read_id}/edits", json=edit, headers=headers)
    assert locked.status_code == 409 and "signed and locked" in locked.json()["detail"]
    blank = ann.post(f"{MOUNT}/api/reads/{read_id}/amend", json={"reason": "  "}, headers=headers)
    assert blank.status_code == 422 and "needs a reason" in blank.json()["detail"]
    early = ann.post(f"{MOUNT}/api/reads/{read_id}/amend", json={"reason": "re-read the CFV clip"}, headers=headers)
    assert early.status_code == 409 and early.json()["detail"] == f"read {read_id}: reads of this study are locked"
    page = ann.get(f"{MOUNT}/studies/{desk.baseline}/review").text
    assert 'id="amend-button"' not in page and "Reads of this study are locked." in page

    bob, bob_csrf = desk.client("bob")  # a concordant read 2: final on read 1, and both reads stay locked
    bob.post(f"{MOUNT}/studies/{desk.baseline}/read", data={"csrf_token": bob_csrf})
    bob_read = _read_id(bob.get(f"{MOUNT}/studies/{desk.baseline}/review").text)
    final = bob.post(f"{MOUNT}/api/reads/{bob_read}/sign", json={"password": PASSWORD},
                     headers={"X-CSRF-Token": bob_csrf}).json()
    assert (final["study_state"], final["final"]) == ("final", True)
    for client, read, token in ((ann, read_id, csrf), (bob, bob_read, bob_csrf)):
        after = client.post(f"{MOUNT}/api/reads/{read}/amend", json={"reason": "second thoughts"},
                            headers={"X-CSRF-Token": token})
        assert after.status_code == 409 and after.json()["detail"] == f"read {read}: reads of this study are locked"
        page = client.get(f"{MOUNT}/studies/{desk.baseline}/review").text
        assert 'id="amend-button"' not in page and "Reads of this study are locked." in page
        assert 'state-final">final<' in page

    ada, ada_csrf = desk.client("ada")  # a change to the final concordant read is the adjudicator's correction
    assert "Correct (adjudicate)" in ada.get(f"{MOUNT}/worklist").text
    page = ada.get(f"{MOUNT}/studies/{desk.baseline}/adjudication").text
    assert "Start a correction" in page
    started = ada.post(f"{MOUNT}/studies/{desk.baseline}/adjudication", data={"csrf_token": ada_csrf},
                       follow_redirects=False)
    assert started.status_code == 303
    page = ada.get(f"{MOUNT}/studies/{desk.baseline}/adjudication").text
    assert 'id="save-button"' in page and 'id="sign-open"' in page


def test_a_reader_sees_nothing_of_a_discordance_on_the_pages_or_in_answers(desk: Desk) -> None:
    store, team = desk.review.store, desk.review.team
    first = reads.start_read(store, team.ann, desk.baseline, utc_now())
    seg = next(s for s in first.content.segments if s.fields["grade"].model not in (None, 3))
    reads.edit_read(store, team.ann, first.id, [FindingEdit(seg.key, "grade", 3, "occlusive throughout")],
                    utc_now())
    signing.sign_read(store, team.ann, first.id, PASSWORD, utc_now())
    ann, _ = desk.client("ann")
    paths = ("/worklist", f"/studies/{desk.baseline}/review", "/worklist?state=read_submitted",
             "/worklist?state=final")
    awaiting = {path: ann.get(MOUNT + path).text for path in paths}
    assert 'data-state="read_submitted"' in awaiting["/worklist"]
    assert 'class="state state-read_submitted">read submitted<' in awaiting[f"/studies/{desk.baseline}/review"]
    assert awaiting["/worklist?state=read_submitted"].count('class="study"') == 1

    bob, bob_csrf = desk.client("bob")
    bob.post(f"{MOUNT}/studies/{desk.baseline}/read", data={"csrf_token": bob_csrf})
    signed = bob.post(f"{MOUNT}/api/reads/{_read_id(bob.get(f'{MOUNT}/studies/{desk.baseline}/review').text)}/sign",
                      json={"password": PASSWORD}, headers={"X-CSRF-Token": bob_csrf})
    assert (signed.json()["study_state"], signed.json()["final"]) == ("read_submitted", False)
    assert get_study(store, team.ada, desk.baseline, utc_now()).state is ReviewState.DISCORDANT
    ada, _ = desk.client("ada")
    assert 'data-state="discordant"' in ada.get(f"{MOUNT}/worklist").text  # the adjudicator sees the truth
    bob_pages: dict[str, str] = {}
    for phase in (ReviewState.DISCORDANT, ReviewState.IN_ADJUDICATION):
        if phase is ReviewState.IN_ADJUDICATION:
            start_adjudication(store, team.ada, desk.baseline, utc_now())
            assert 'data-state="in_adjudication"' in ada.get(f"{MOUNT}/worklist").text
        for path in paths:
            page = ann.get(MOUNT + path).text
            assert page == awaiting[path], (phase, path)  # ann cannot tell read 2 was signed, nor how it compares
            bob_pages.setdefault(path, bob.get(MOUNT + path).text)
            assert bob.get(MOUNT + path).text == bob_pages[path], (phase, path)
            for text in (page, bob_pages[path]):
                assert "discordan" not in text.lower() and "adjudicat" not in text.lower(), (phase, path)
        refused = ann.get(f"{MOUNT}/worklist", params={"state": phase.value})
        assert refused.status_code == 422 and "valid: awaiting_read, in_progress, read_submitted, final" in refused.text


def test_an_unassigned_clip_is_given_a_segment_and_side_with_a_reason(desk: Desk, workspace_files: WorkspaceFiles,
                                                                      tmp_path: Path) -> None:
    folder = workspace_files.data_dir / "reports" / f"unassigned-{tmp_path.name}" / "PH-001" / "BASELINE"
    shutil.copytree(workspace_files.reports[1], folder)
    doc = json.loads((folder / "report.json").read_text())
    clip = next(c for c in doc["clips"] if c["kind"] == "compression-cine")
    clip["segment"] = "unassigned"
    doc["segments"] = [s for s in doc["segments"] if clip["sop_instance_uid"] not in s["clips"]]
    (folder / "report.json").write_text(json.dumps(doc))
    study = register_visit_folder(desk.review.store, VisitFolder.open(folder).path, utc_now()).id
    ann, csrf = desk.client("ann")
    ann.post(f"{MOUNT}/studies/{study}/read", data={"csrf_token": csrf})
    page = ann.get(f"{MOUNT}/studies/{study}/review").text
    sop = clip["sop_instance_uid"]
    assert f'data-sop="{sop}" data-side="{clip["side"]}"' in page and 'data-segment="unassigned"' in page
    read_id = int(page.split('data-read="')[1].split('"')[0])
    assign = {"sop_instance_uid": sop, "side": "L", "segment": "POP"}
    headers = {"X-CSRF-Token": csrf}
    refused = ann.post(f"{MOUNT}/api/reads/{read_id}/edits", json={"clips": [assign]}, headers=headers)
    assert refused.status_code == 422 and "needs a reason" in refused.json()["detail"]
    done = ann.post(f"{MOUNT}/api/reads/{read_id}/edits", json={"clips": [{**assign, "reason": "popliteal fossa"}]},
                    headers=headers).json()
    assert [(c["side"], c["segment"], c["reason"]) for c in done["content"]["clips"]] == [("L", "POP",
                                                                                          "popliteal fossa")]


def test_worklist_filters_counts_and_actions(desk: Desk) -> None:
    ann, csrf = desk.client("ann")
    page = ann.get(f"{MOUNT}/worklist").text
    assert page.count('class="study"') == 2 and page.count('class="start-read"') == 2
    assert 'data-state="awaiting_read">' in page and "awaiting_read_1" not in page
    ann.post(f"{MOUNT}/studies/{desk.d10}/read", data={"csrf_token": csrf})
    d10 = ann.get(f"{MOUNT}/worklist", params={"visit": "D10"}).text
    assert d10.count('class="study"') == 1 and 'class="open-read"' in d10 and "read 1" in d10
    none = ann.get(f"{MOUNT}/worklist", params={"state": "final"}).text
    assert none.count('class="study"') == 0 and "No study matches." in none
    ada, _ = desk.client("ada")
    board = ada.get(f"{MOUNT}/worklist").text
    assert board.count('class="study"') == 2 and "start-read" not in board and "open-adjudication" not in board


def test_an_admin_adds_and_disables_accounts(desk: Desk) -> None:
    root, csrf = desk.client("root")
    user = {"username": "cy", "printed_name": "Dr Cy Young", "role": "reader", "password": PASSWORD,
            "csrf_token": csrf}
    assert root.post(f"{MOUNT}/users", data=user, follow_redirects=False).status_code == 303
    assert 'data-username="cy"' in root.get(f"{MOUNT}/users").text
    short = root.post(f"{MOUNT}/users", data={**user, "username": "dee", "password": "short"})
    assert short.status_code == 422 and "at least 12 characters" in short.text
    taken = root.post(f"{MOUNT}/users", data=user)
    assert taken.status_code == 409 and "taken" in taken.text
    cy, _ = desk.client("cy")
    assert cy.get(f"{MOUNT}/worklist").status_code == 200
    off = root.post(f"{MOUNT}/users/cy/disabled", data={"disabled": "true", "csrf_token": csrf}, follow_redirects=False)
    assert off.status_code == 303
    assert cy.get(f"{MOUNT}/worklist", follow_redirects=False).status_code == 303  # the session was revoked


def test_a_concordant_double_read_is_final_and_the_hook_writes_the_final_outputs(
        desk: Desk, workspace_files: WorkspaceFiles, tmp_path: Path) -> None:
    written: list[Path] = []

    def on_final(study_id: int) -> None:
        outputs = write_final_outputs(desk.review.store, None, study_id, tmp_path / "final", utc_now())
        written.append(outputs.report_json)

    outer = FastAPI()
    outer.mount(MOUNT, create_workspace_app(workspace_files.sources(), desk.review.store, on_final=on_final))
    states = []
    for username in ("ann", "bob"):
        with TestClient(outer) as client:
            csrf = client_login(client, username)
            client.post(f"{MOUNT}/studies/{desk.baseline}/read", data={"csrf_token": csrf})
            page = client.get(f"{MOUNT}/studies/{desk.baseline}/review").text
            read_id = int(page.split('data-read="')[1].split('"')[0])
            signed = client.post(f"{MOUNT}/api/reads/{read_id}/sign", json={"password": PASSWORD},
                                 headers={"X-CSRF-Token": csrf}).json()
            states.append((signed["study_state"], signed["final"], len(written)))
    assert states == [("read_submitted", False, 0), ("final", True, 1)]
    doc = json.loads(written[0].read_text())
    assert doc["read_status"] == "final: concordant double read, signed"
