"""The clip viewer page as HTML: local links only, the leg diagram of the report, one player per clip."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from fastapi.testclient import TestClient

from dvt_us.report.human.leg_diagram import leg_diagram_svg
from dvt_us.report.visit_folder import VisitFolder
from dvt_us.service.workspace.viewer import SHORTCUTS, STATIC_DIR
from tests.service.workspace.harness import MOUNT, Review, WorkspaceFiles, client_login, mounted_app


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.players: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.links += [v or "" for k, v in attrs if k in ("src", "href", "action", "xlink:href", "poster")]
        if tag == "article" and "clip-player" in (found.get("class") or ""):
            self.players.append(found)


def _page(client: TestClient, report_id: int = 1) -> str:
    got = client.get(f"{MOUNT}/reports/{report_id}/viewer")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/html")
    assert got.headers["cache-control"] == "no-store"
    return got.text


def test_every_link_of_the_page_is_local(client: TestClient) -> None:
    for report_id in (1, 2):
        parser = _Links()
        parser.feed(_page(client, report_id))
        assert len(parser.links) >= 2
        for link in parser.links:
            assert link.startswith(MOUNT + "/") and not link.startswith("//"), link
            assert client.get(link).status_code == 200, link
    for asset in STATIC_DIR.iterdir():
        text = asset.read_text()
        assert not re.search(r"https?:|url\(\s*['\"]?//|@import", text), asset.name


def test_the_page_forbids_anything_from_outside(client: TestClient) -> None:
    policy = client.get(f"{MOUNT}/reports/1/viewer").headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "unsafe" not in policy


def test_one_player_per_analysed_clip_and_the_reports_leg_diagram(client: TestClient,
                                                                  workspace_files: WorkspaceFiles) -> None:
    visit = VisitFolder(workspace_files.reports[1])
    html = _page(client)
    parser = _Links()
    parser.feed(html)
    analysed = [c["sop_instance_uid"] for c in visit.clips if c["analysed"]]
    assert [p["data-sop"] for p in parser.players] == analysed
    assert str(leg_diagram_svg(visit.document["segments"])) in html
    data = json.loads(re.search(r'id="clip-viewer-data">(.*?)</script>', html, re.S).group(1))
    assert [c["sop_instance_uid"] for c in data["clips"]] == analysed
    cines = [c for c in data["clips"] if c["frames"] > 1]
    assert cines and all(len(c["frame_x"]) == c["frames"] for c in cines)
    assert all(c["frame_x"] == sorted(c["frame_x"]) for c in cines)
    for key, what in SHORTCUTS:
        assert f"<kbd>{key}</kbd></th><td>{what}</td>" in html.replace("&lt;", "<")


def test_key_frames_are_marked_on_the_area_plot(client: TestClient, workspace_files: WorkspaceFiles) -> None:
    html = _page(client)
    visit = VisitFolder(workspace_files.reports[1])
    for clip in visit.clips:
        for name, frame in (clip.get("key_frames") or {}).items():
            if clip["frames"] > 1:
                assert f'data-frame="{frame}" data-name="{name}"' in html


def test_a_clip_without_its_instance_is_listed_as_not_shown(workspace_files: WorkspaceFiles, review: Review) -> None:
    visit = VisitFolder(workspace_files.reports[1])
    missing = next(c["sop_instance_uid"] for c in visit.clips if c["kind"] == "compression-cine")
    instances = {k: v for k, v in workspace_files.instances.items() if k != missing}
    files = WorkspaceFiles(workspace_files.data_dir, instances, workspace_files.reports)
    with TestClient(mounted_app(files, review.store)) as client:
        client_login(client, "ann")
        html = _page(client)
    parser = _Links()
    parser.feed(html)
    assert missing not in [p["data-sop"] for p in parser.players] and len(parser.players) >= 1
    assert "1 clip not shown" in html and f"<code>{missing}</code>: no stored instance {missing}" in html
