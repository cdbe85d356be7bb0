"""The audit page's exports through a test client: the CSV re-checks offline, the JSON Lines hold the stored values."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dvt_us.service.review import audit
from dvt_us.service.workspace.context import utc_now
from tests.service.workspace.harness import MOUNT, Review, Team, WorkspaceFiles, client_login, mounted_app, review_store

FORMULA = '=HYPERLINK("http://example.invalid")'


@pytest.fixture
def audited(tmp_path: Path) -> Iterator[Review]:
    """A fresh review store with the team, and an entry whose object and reason a spreadsheet would evaluate."""
    store = review_store(tmp_path / "store")
    team = Team.add(store)
    with store.write() as session:
        audit.append(session, "ann", "read.amend", FORMULA, {"reason": FORMULA}, now=utc_now())
    yield Review(store, team)
    store.database.close()


def test_the_audit_page_offers_both_exports_and_each_verifies(workspace_files: WorkspaceFiles,
                                                              audited: Review) -> None:
    with TestClient(mounted_app(workspace_files, audited.store)) as root:
        client_login(root, "root")
        page = root.get(f"{MOUNT}/audit").text
        assert f'href="{MOUNT}/audit/export.csv"' in page and f'href="{MOUNT}/audit/export.jsonl"' in page
        got_csv = root.get(f"{MOUNT}/audit/export.csv")
        assert got_csv.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(got_csv.text, newline="")))
        assert audit.verify_csv(rows).intact
        assert [cell for cells in rows for cell in cells if FORMULA in cell and "{" not in cell] == ["'" + FORMULA]
        got_jsonl = root.get(f"{MOUNT}/audit/export.jsonl")
    assert got_jsonl.status_code == 200 and got_jsonl.headers["content-type"] == "application/x-ndjson"
    assert 'filename="dvt-us-audit-trail.jsonl"' in got_jsonl.headers["content-disposition"]
    lines = got_jsonl.text.splitlines()
    assert audit.verify_jsonl(lines).intact
    documents = [json.loads(line) for line in lines]
    assert documents[-1]["action"] == "audit.export" and documents[-1]["details"]["format"] == "csv"
    amend = next(d for d in documents if d["action"] == "read.amend")
    assert amend["details"]["reason"] == FORMULA, "JSON Lines hold the value as stored, unescaped"
    after = audit.audit_entries(audited.store, audited.team.root, utc_now(), after_seq=len(lines))
    assert (after[0].action, dict(after[0].details)) == ("audit.export", {"format": "jsonl", "entries": len(lines)})


def test_a_reader_may_not_export(workspace_files: WorkspaceFiles, audited: Review) -> None:
    with TestClient(mounted_app(workspace_files, audited.store)) as ann:
        client_login(ann, "ann")
        assert ann.get(f"{MOUNT}/audit/export.jsonl").status_code == 403
        assert ann.get(f"{MOUNT}/audit/export.csv").status_code == 403
