"""The workspace's routes over a real analysed phantom visit: media, clip JSON, cache headers, errors, auth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dvt_us.report.visit_folder import VisitFolder
from dvt_us.service.workspace import MediaLimits, WorkspaceSources, create_workspace_app
from dvt_us.service.workspace.tissue import tissue_frames
from tests.service.workspace.harness import MOUNT, Review, WorkspaceFiles, client_login, mounted_app, mounted_workspace


def _cine(files: WorkspaceFiles, report_id: int = 1) -> dict:
    return next(c for c in VisitFolder(files.reports[report_id]).clips if c["kind"] == "compression-cine")


def _decode(body: bytes, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(body, np.uint8), flags)
    assert image is not None
    return image


def test_clip_json_matches_the_report_and_the_instance(client: TestClient, workspace_files: WorkspaceFiles) -> None:
    entry = _cine(workspace_files)
    sop = entry["sop_instance_uid"]
    got = client.get(f"{MOUNT}/reports/1/clips/{sop}.json")
    assert got.status_code == 200 and got.headers["cache-control"] == "private, no-cache"
    info = got.json()
    assert info["frames"] == entry["frames"] == len(info["frame_times_s"])
    assert info["frame_times_s"] == pytest.approx(entry["frame_times_s"], abs=1e-4)
    times = entry["frame_times_s"]
    assert info["frame_time_ms"] == pytest.approx(1000 * (times[-1] - times[0]) / (len(times) - 1), abs=1e-2)
    assert info["area_mm2"] == entry["curves"]["area_mm2"] and info["area_source"] == "report"
    assert info["key_frames"] == entry["key_frames"]
    assert info["views"][0]["spacing_mm"] == pytest.approx(entry["spacing_mm"])
    assert info["frame_url"] == f"{MOUNT}/reports/1/clips/{sop}/frames/{{frame}}.jpg"
    assert info["overlay_url"] and info["doppler_url"] is None and info["has_masks"]


def test_area_curve_is_measured_from_the_masks_when_the_report_has_none(workspace_files: WorkspaceFiles,
                                                                          review: Review) -> None:
    folder = workspace_files.data_dir / "reports" / "no-curves" / "BASELINE"
    shutil.copytree(workspace_files.reports[1], folder)
    doc = json.loads((folder / "report.json").read_text())
    for clip in doc["clips"]:
        clip.pop("curves", None)
    (folder / "report.json").write_text(json.dumps(doc))
    files = WorkspaceFiles(workspace_files.data_dir, workspace_files.instances, {1: folder})
    entry = _cine(workspace_files)
    with TestClient(mounted_app(files, review.store)) as client:
        client_login(client, "ann")
        info = client.get(f"{MOUNT}/reports/1/clips/{entry['sop_instance_uid']}.json").json()
    assert info["area_source"] == "masks"
    assert info["area_mm2"] == pytest.approx(entry["curves"]["area_mm2"], abs=1e-2)


def test_frames_are_tissue_jpegs_and_the_overlay_adds_the_labels(client: TestClient,
                                                                 workspace_files: WorkspaceFiles) -> None:
    entry = _cine(workspace_files)
    sop = entry["sop_instance_uid"]
    info = client.get(f"{MOUNT}/reports/1/clips/{sop}.json").json()
    plain = client.get(f"{MOUNT}/reports/1/clips/{sop}/frames/3.jpg")
    assert plain.status_code == 200 and plain.headers["content-type"] == "image/jpeg"
    grey = _decode(plain.content)
    assert grey.shape == (info["rows"], info["cols"])  # one channel: B-mode grey
    media = mounted_workspace(client.app).state.media
    clip = media.clip(workspace_files.instances[sop])
    expected = next(tissue_frames(clip, [3])).bmode.astype(int)
    assert np.abs(grey.astype(int) - expected).mean() < 3
    over = _decode(client.get(f"{MOUNT}/reports/1/clips/{sop}/overlay/3.jpg").content, cv2.IMREAD_COLOR)
    labels = VisitFolder(workspace_files.reports[1]).masks(sop)[3]
    box = clip.views[0].box
    lumen = labels[box.row0 : box.row1, box.col0 : box.col1] == 1
    assert lumen.sum() > 50
    b, g, r = (over[..., k].astype(int) for k in range(3))
    chroma = np.maximum(np.abs(r - g), np.abs(b - g))
    assert chroma[lumen].mean() > 15 > chroma[~lumen].mean()


def test_colour_doppler_frame(client: TestClient, workspace_files: WorkspaceFiles) -> None:
    clips = VisitFolder(workspace_files.reports[1]).clips
    doppler = next(c for c in clips if c["kind"] == "colour-doppler")["sop_instance_uid"]
    info = client.get(f"{MOUNT}/reports/1/clips/{doppler}.json").json()
    assert info["doppler_url"] == f"{MOUNT}/reports/1/clips/{doppler}/doppler.jpg"
    image = _decode(client.get(info["doppler_url"]).content, cv2.IMREAD_COLOR)
    assert image.shape[:2] == (info["rows"], info["cols"])
    b, r = image[..., 0].astype(int), image[..., 2].astype(int)
    assert (np.abs(r - b) > 60).sum() > 100  # red or blue flow pixels
    cine = _cine(workspace_files)["sop_instance_uid"]
    refused = client.get(f"{MOUNT}/reports/1/clips/{cine}/doppler.jpg")
    assert refused.status_code == 404 and "not colour Doppler" in refused.json()["detail"]


def test_cache_headers_and_revalidation(client: TestClient, workspace_files: WorkspaceFiles) -> None:
    sop = _cine(workspace_files)["sop_instance_uid"]
    plain = client.get(f"{MOUNT}/reports/1/clips/{sop}/frames/0.jpg")
    assert plain.headers["cache-control"] == "private, max-age=31536000, immutable"
    over = client.get(f"{MOUNT}/reports/1/clips/{sop}/overlay/0.jpg")
    assert over.headers["cache-control"] == "private, no-cache"
    again = client.get(f"{MOUNT}/reports/1/clips/{sop}/overlay/0.jpg", headers={"If-None-Match": over.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert plain.headers["etag"] != over.headers["etag"]


def test_a_chunk_is_decoded_once_and_the_cache_stays_bounded(workspace_files: WorkspaceFiles, review: Review) -> None:
    entry = _cine(workspace_files)
    sop, frames = entry["sop_instance_uid"], entry["frames"]
    app = mounted_app(workspace_files, review.store, limits=MediaLimits(jpeg_cache_bytes=100_000, chunk_frames=4))
    media = mounted_workspace(app).state.media
    with TestClient(app) as client:
        client_login(client, "ann")
        first = client.get(f"{MOUNT}/reports/1/clips/{sop}/frames/1.jpg").content
        stats = media.stats()
        assert (stats.entries, stats.misses) == (min(4, frames), 1)  # frames 0-3 encoded together
        assert client.get(f"{MOUNT}/reports/1/clips/{sop}/frames/2.jpg").status_code == 200
        assert media.stats().hits == 1
        for i in range(frames):
            client.get(f"{MOUNT}/reports/1/clips/{sop}/overlay/{i}.jpg")
        stats = media.stats()
        assert 0 < stats.cost <= 100_000 and stats.evictions > 0
        assert client.get(f"{MOUNT}/reports/1/clips/{sop}/frames/1.jpg").content == first


@pytest.mark.parametrize(("path", "status", "detail"), [
    ("/reports/1/clips/1.2.3.json", 404, "has no clip 1.2.3"),
    ("/reports/1/clips/{sop}/frames/99.jpg", 404, "no frame 99"),
    ("/reports/1/clips/{sop}/frames/-1.jpg", 422, "index"),
    ("/reports/1/clips/not-a-uid.json", 422, "sop"),
])
def test_bad_requests_get_clear_problems(client: TestClient, workspace_files: WorkspaceFiles, path: str, status: int,
                                         detail: str) -> None:
    sop = _cine(workspace_files)["sop_instance_uid"]
    got = client.get(MOUNT + path.format(sop=sop))
    assert got.status_code == status
    assert got.headers["content-type"] == "application/problem+json"
    assert detail in got.json()["detail"]


@pytest.mark.parametrize(("path", "status", "detail"), [
    ("/reports/99/viewer", 404, "no report 99"), ("/reports/0/viewer", 422, "report_id"),
    ("/studies/999/review", 404, "no study 999"), ("/worklist?state=nonsense", 422, "unknown review state"),
])
def test_bad_page_requests_get_an_error_page(client: TestClient, path: str, status: int, detail: str) -> None:
    got = client.get(MOUNT + path)
    assert got.status_code == status and got.headers["content-type"].startswith("text/html")
    assert detail in got.text


def test_files_outside_the_data_folder_or_missing_are_not_served(workspace_files: WorkspaceFiles, review: Review,
                                                                 tmp_path: Path) -> None:
    sop = _cine(workspace_files)["sop_instance_uid"]
    outside = tmp_path / "elsewhere.dcm"
    shutil.copyfile(workspace_files.instances[sop], outside)
    resolvers = {"outside": {sop: outside}.get, "missing": {}.get}
    for name, resolve in resolvers.items():
        sources = WorkspaceSources(workspace_files.data_dir, resolve, workspace_files.reports.get)
        outer = FastAPI()
        outer.mount(MOUNT, create_workspace_app(sources, review.store))
        with TestClient(outer) as client:
            client_login(client, "ann")
            got = client.get(f"{MOUNT}/reports/1/clips/{sop}/frames/0.jpg")
        assert got.status_code == 404, name
        assert ("outside the data folder" if name == "outside" else "no stored instance") in got.json()["detail"]


def test_without_a_session_media_is_refused_pages_redirect_and_static_files_are_served(
        workspace_files: WorkspaceFiles, review: Review) -> None:
    sop = _cine(workspace_files)["sop_instance_uid"]
    with TestClient(mounted_app(workspace_files, review.store)) as client:
        for path in (f"/reports/1/clips/{sop}.json", f"/reports/1/clips/{sop}/frames/0.jpg",
                     f"/reports/1/clips/{sop}/overlay/0.jpg", "/api/reads/1"):
            got = client.get(MOUNT + path)
            assert got.status_code == 401 and "log in" in got.json()["detail"], path
            assert got.headers["content-type"] == "application/problem+json"
        for path in ("/worklist", "/studies/1/review", "/audit", "/agreement", "/reports/1/viewer"):
            got = client.get(MOUNT + path, follow_redirects=False)
            assert got.status_code == 303, path
            assert got.headers["location"] == f"{MOUNT}/login?next={MOUNT}{path}", path
        client.cookies.set("dvtus_session", "not-a-session")
        assert client.get(f"{MOUNT}/reports/1/clips/{sop}.json").status_code == 401
        assert client.get(f"{MOUNT}/static/clip_viewer.js").status_code == 200
