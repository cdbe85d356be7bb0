"""The HTTP API over real HTTP on loopback: uvicorn (``HttpServer``, port 0) and httpx, a real SQLite database.

The database is filled through its public methods with one phantom study (two CFV compression cines)
analysed for real (its report folder holds report.json, report.pdf, report.html and sr.dcm), plus studies
whose jobs failed, wait in the queue, or recorded report folders that try to reach files outside them.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pydicom
import pytest
from fastapi.routing import APIRoute
from prometheus_client.parser import text_string_to_metric_families

from dvt_us.anatomy import Segment
from dvt_us.phantom.trial import plan_trial
from dvt_us.phantom.trial_writer import RenderOptions, write_trial
from dvt_us.service.app import Service
from dvt_us.service.config import DicomNodeConfig, HttpConfig, JobsConfig, ServiceConfig
from dvt_us.service.db import Database, JobState
from dvt_us.service.http_api import PROBLEM_JSON, create_app
from dvt_us.service.http_api.docs import DOCS_ASSETS, DOCS_SCHEMA_URL
from dvt_us.service.http_server import TOKEN_ENV, HttpServer, resolve_token
from dvt_us.service.instances import StoredInstance
from dvt_us.service.jobs import StudyWork, run_study

TOKEN = "test-token-0123456789abcdef"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MODELS = "vein-seg@0.1.0+compressibility@0.1.0"
SECRET = "SECRET-OUTSIDE-THE-REPORT-FOLDER"
FILES = {"json": ("report.json", "application/json"), "pdf": ("report.pdf", "application/pdf"),
         "sr": ("sr.dcm", "application/dicom"), "html": ("report.html", "text/html")}

API_ROUTES = [r for r in create_app(Database("sqlite://"), ServiceConfig(), token="x").routes
              if isinstance(r, APIRoute)]
ROUTES = sorted(r.path for r in API_ROUTES)
"""Every route of the app, the OpenAPI schema and the docs included."""
EXAMPLE_ID = {"{job_id}": "1", "{report_id}": "1", "{study_uid}": "1.2.3"}


def _url(route: str) -> str:
    for name, value in EXAMPLE_ID.items():
        route = route.replace(name, value)
    return route


@dataclass(frozen=True)
class Filled:
    """The filled database, the real report folder and the job ids by what happened to them."""

    db: Database
    data_dir: Path
    report_folder: Path
    done: int
    failed: int
    queued: int
    escaping_report: int
    outside_report: int


def _instance(path: Path, study: str, sop: str, at: datetime) -> StoredInstance:
    return StoredInstance(sop_instance_uid=sop, sop_class_uid="1.2.840.10008.5.1.4.1.1.3.1", study_instance_uid=study,
                          series_instance_uid=f"{study}.1", transfer_syntax_uid="1.2.840.10008.1.2.1", path=path,
                          size_bytes=path.stat().st_size if path.is_file() else 0, calling_ae_title="MODALITY",
                          received_at=at)


def _dataset_instance(path: Path, at: datetime) -> StoredInstance:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return StoredInstance(sop_instance_uid=ds.SOPInstanceUID, sop_class_uid=ds.SOPClassUID,
                          study_instance_uid=ds.StudyInstanceUID, series_instance_uid=ds.SeriesInstanceUID,
                          transfer_syntax_uid=ds.file_meta.TransferSyntaxUID, path=path,
                          size_bytes=path.stat().st_size, calling_ae_title="MODALITY", received_at=at)


def _run_job(db: Database, study: str, start: datetime, seconds: float, *,
             reports: list[tuple[str, str, Path]], result_dir: Path) -> int:
    job_id = db.enqueue(study, MODELS, start)
    assert job_id is not None
    claimed = db.claim("test-worker", start)
    assert claimed is not None and claimed.id == job_id
    db.finish(job_id, result_dir, reports, start + timedelta(seconds=seconds))
    return job_id


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    root = tmp_path_factory.mktemp("http-api")
    data_dir, results = root / "data", root / "data" / "results" / MODELS
    plan = plan_trial(1, seed=7, protocol="short", visits=1)  # one visit; its two CFV cines keep it quick
    plan = dataclasses.replace(plan, clips=tuple(c for c in plan.clips if c.segment is Segment.CFV))
    write_trial(plan, root / "trial", RenderOptions(shape=(120, 160), frames=6), jobs=1)
    files = sorted((root / "trial" / "dicom").rglob("*.dcm"))
    result = run_study(StudyWork("phantom", tuple(files), results, None, None))
    [(subject, visit, folder)] = result.reports
    db = Database(f"sqlite:///{root / 'dvt-us.db'}")
    db.upgrade()
    for i, path in enumerate(files):
        assert db.record_instance(_dataset_instance(path, T0 + timedelta(seconds=i)))
    study = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    done = _run_job(db, study, T0 + timedelta(minutes=1), 42.0, reports=[(subject, visit, folder)],
                    result_dir=results)

    # A job whose recorded folders try to reach out: symlinks to files outside, and a folder outside data_dir.
    (data_dir / "secret.txt").write_text(SECRET)
    escaping = results / "EVIL" / "V1"
    escaping.mkdir(parents=True)
    os.symlink(data_dir / "secret.txt", escaping / "report.json")
    os.symlink("/etc/passwd", escaping / "report.pdf")
    outside = root / "elsewhere" / "V2"
    outside.mkdir(parents=True)
    (outside / "report.json").write_text(SECRET)
    db.record_instance(_instance(root / "none.dcm", "1.2.3.2", "1.2.3.2.1.1", T0))
    _run_job(db, "1.2.3.2", T0 + timedelta(minutes=2), 100.0,
             reports=[("EVIL", "V1", escaping), ("EVIL", "V2", outside)], result_dir=results)
    escaping_report, outside_report = (r.id for r in db.reports() if r.subject == "EVIL")

    db.record_instance(_instance(root / "none.dcm", "1.2.3.3", "1.2.3.3.1.1", T0))
    db.record_instance(_instance(root / "none.dcm", "1.2.3.3", "1.2.3.3.1.2", T0))
    failed = db.enqueue("1.2.3.3", MODELS, T0 + timedelta(minutes=3))
    assert failed is not None and db.claim("test-worker", T0 + timedelta(minutes=3)) is not None
    assert db.fail(failed, "ValueError: no ultrasound", T0 + timedelta(minutes=4), retry=False) is JobState.FAILED
    db.record_instance(_instance(root / "none.dcm", "1.2.3.4", "1.2.3.4.1.1", T0))
    queued = db.enqueue("1.2.3.4", MODELS, T0 + timedelta(minutes=5))
    assert queued is not None
    try:
        yield Filled(db, data_dir, folder, done, failed, queued, escaping_report, outside_report)
    finally:
        db.close()


@pytest.fixture(scope="module")
def base_url(filled: Filled) -> Iterator[str]:
    app = create_app(filled.db, ServiceConfig(data_dir=filled.data_dir), token=TOKEN,
                     status=lambda: {"dicom_node": "running"})
    with HttpServer(app, "127.0.0.1", 0) as server:
        yield f"http://127.0.0.1:{server.port}"


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as c:
        yield c


def _assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail", "instance"}
    assert body["status"] == status and isinstance(body["title"], str) and body["detail"]
    assert body["instance"] == response.request.url.path
    return dict(body)


# --- auth -----------------------------------------------------------------------------------------------

def test_the_route_list_covers_the_api() -> None:
    assert {"/health", "/studies", "/studies/{study_uid}", "/jobs", "/jobs/{job_id}", "/reports",
            "/reports/{report_id}", "/reports/{report_id}/json", "/reports/{report_id}/pdf", "/reports/{report_id}/sr",
            "/reports/{report_id}/html", "/events", "/metrics", "/openapi.json", "/docs"} <= set(ROUTES)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                                     {"Authorization": "Bearer"}, {"Authorization": f"Bearer {TOKEN}x"}],
                         ids=["none", "wrong", "basic", "empty", "longer"])
@pytest.mark.parametrize("route", [*ROUTES, "/no/such/route", "/jobs/abc", "/jobs?state=bogus", "/reports/1/exe"])
def test_every_route_refuses_a_request_without_the_right_token(base_url: str, route: str,
                                                              headers: dict[str, str]) -> None:
    response = httpx.get(base_url + _url(route), headers=headers, timeout=30)
    body = _assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert body["type"] == "urn:dvt-us:problem:unauthorized"


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_answers_with_the_token(client: httpx.Client, route: str) -> None:
    assert client.get(_url(route)).status_code in (200, 404)


def test_a_wrong_method_is_refused_without_the_token_and_405_with_it(base_url: str, client: httpx.Client) -> None:
    _assert_problem(httpx.post(base_url + "/jobs", timeout=30), 401)
    assert _assert_problem(client.post("/jobs"), 405)["type"] == "about:blank"


# --- JSON routes ----------------------------------------------------------------------------------------

def test_health_reports_the_database_and_the_components(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok", "database": "reachable",
                                            "components": {"dicom_node": "running"}}


def test_studies_carry_instance_counts_and_job_states(client: httpx.Client, filled: Filled) -> None:
    studies = {s["study_instance_uid"]: s for s in client.get("/studies").json()}
    expected = {s.study_instance_uid: s.instance_count for s in filled.db.studies()}
    assert {uid: s["instance_count"] for uid, s in studies.items()} == expected
    states = {j.study_instance_uid: j.state.value for j in filled.db.jobs()}
    assert {uid: [j["state"] for j in s["jobs"]] for uid, s in studies.items()} == {u: [st] for u, st in states.items()}
    one = client.get("/studies/1.2.3.3").json()
    assert one["instance_count"] == 2 and one["jobs"][0]["state"] == "failed" and one["reports"] == []


def test_jobs_filter_by_state_parsed_once(client: httpx.Client, filled: Filled) -> None:
    assert [j["id"] for j in client.get("/jobs").json()] == [j.id for j in filled.db.jobs()]
    done = client.get("/jobs", params={"state": "DONE"}).json()
    assert [j["id"] for j in done] == [j.id for j in filled.db.jobs(JobState.DONE)] and len(done) == 2
    assert [j["id"] for j in client.get("/jobs?state=queued").json()] == [filled.queued]
    job = client.get(f"/jobs/{filled.failed}").json()
    assert job["state"] == "failed" and job["error"] == "ValueError: no ultrasound" and job["reports"] == []


def test_a_bad_job_state_is_422_naming_the_valid_states(client: httpx.Client) -> None:
    body = _assert_problem(client.get("/jobs", params={"state": "finished"}), 422)
    assert "'finished'" in str(body["detail"])
    assert all(state.value in str(body["detail"]) for state in JobState)
    assert body["errors"] and body["type"] == "urn:dvt-us:problem:invalid-request"


@pytest.mark.parametrize("path", ["/jobs/999", "/reports/999", "/reports/999/pdf", "/studies/9.9.9"])
def test_unknown_ids_are_404(client: httpx.Client, path: str) -> None:
    assert _assert_problem(client.get(path), 404)["type"] == "urn:dvt-us:problem:not-found"


@pytest.mark.parametrize("path", ["/jobs/abc", "/jobs/0", "/studies/not-a-uid", "/events?limit=0", "/events?after=-1"])
def test_bad_parameters_are_422(client: httpx.Client, path: str) -> None:
    _assert_problem(client.get(path), 422)


def test_a_report_lists_its_files(client: httpx.Client, filled: Filled) -> None:
    report = client.get(f"/reports/{filled.done}").json()  # the first job's report is report 1
    [record] = filled.db.reports(filled.done)
    assert report["id"] == record.id and report["job_id"] == filled.done
    assert (report["subject"], report["visit"], report["folder"]) == (record.subject, record.visit,
                                                                      str(filled.report_folder))
    assert report["files"] == {kind: f"/reports/{record.id}/{kind}" for kind in FILES}
    assert [r["id"] for r in client.get("/reports").json()] == [r.id for r in filled.db.reports()]


@pytest.mark.parametrize("kind", FILES)
def test_report_files_download_with_their_content_types(client: httpx.Client, filled: Filled, kind: str) -> None:
    name, media_type = FILES[kind]
    [record] = filled.db.reports(filled.done)
    response = client.get(f"/reports/{record.id}/{kind}")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.content == (filled.report_folder / name).read_bytes()


def test_events_page_through_the_log(client: httpx.Client, filled: Filled) -> None:
    first = client.get("/events", params={"limit": 3}).json()
    assert [e["id"] for e in first["events"]] == [e.id for e in filled.db.events(0, 3)]
    second = client.get("/events", params={"after": first["next_after"], "limit": 1000}).json()
    assert [e["id"] for e in first["events"] + second["events"]] == [e.id for e in filled.db.events(0, 1000)]
    assert second["events"][-1]["kind"] == "job.queued"
    assert client.get("/events", params={"after": second["next_after"]}).json() == {
        "events": [], "next_after": second["next_after"]}


# --- metrics and OpenAPI --------------------------------------------------------------------------------

def test_metrics_parse_and_match_the_database(client: httpx.Client, filled: Filled) -> None:
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(response.text) for s in family.samples}
    jobs = filled.db.jobs()
    assert samples[("dvt_us_instances_received_total", ())] == sum(s.instance_count for s in filled.db.studies())
    assert samples[("dvt_us_studies", ())] == len(filled.db.studies()) == 4
    assert samples[("dvt_us_reports", ())] == len(filled.db.reports()) == 3
    for state in JobState:
        assert samples[("dvt_us_jobs", (("state", state.value),))] == sum(j.state is state for j in jobs)
    done = (("state", "done"),)
    assert samples[("dvt_us_job_duration_seconds_count", done)] == 2
    assert samples[("dvt_us_job_duration_seconds_sum", done)] == 142.0
    assert samples[("dvt_us_job_duration_seconds_bucket", (("le", "60.0"), ("state", "done")))] == 1
    assert samples[("dvt_us_job_duration_seconds_bucket", (("le", "120.0"), ("state", "done")))] == 2
    assert samples[("dvt_us_job_duration_seconds_count", (("state", "failed"),))] == 1


def test_openapi_lists_the_routes_with_typed_models_and_bearer_auth(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == {r.path for r in API_ROUTES if r.include_in_schema}
    not_in_schema = {"/openapi.json", "/docs", DOCS_SCHEMA_URL, *(a.url for a in DOCS_ASSETS)}
    assert set(ROUTES) - set(spec["paths"]) == not_in_schema
    schemas = set(spec["components"]["schemas"])
    assert {"JobOut", "StudyOut", "StudyDetail", "ReportOut", "EventPage", "HealthOut"} <= schemas
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    job = spec["paths"]["/jobs/{job_id}"]["get"]
    assert job["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/JobOut"}
    assert PROBLEM_JSON in job["responses"]["404"]["content"]
    assert "application/pdf" in spec["paths"]["/reports/{report_id}/pdf"]["get"]["responses"]["200"]["content"]
    assert client.get("/docs").headers["content-type"].startswith("text/html")


# --- files stay inside the report folder ----------------------------------------------------------------

def _raw_get(port: int, target: str) -> tuple[int, bytes]:
    """GET ``target`` byte for byte (httpx would normalise dot segments); (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                     "Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


TRAVERSALS = [
    "/reports/../../etc/passwd", "/reports/1/../../../../etc/passwd", "/reports/1/json/../../../../etc/passwd",
    "/reports/%2e%2e/%2e%2e/etc/passwd", "/reports/..%2f..%2f..%2fetc%2fpasswd/json",
    "/reports/1/..%2f..%2f..%2f..%2fetc%2fpasswd", "/reports/1%2f..%2f..%2fsecret.txt/json",
    "/reports/%2e%2e%2f%2e%2e%2fsecret.txt", "/reports/1/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt",
    "/reports/1/..%252f..%252fsecret.txt", "/reports/1/json%00../../secret.txt",
    "/reports/1/json?file=../../secret.txt",
    "/reports/1/%5c..%5c..%5csecret.txt", "//etc/passwd", "/reports/1/json/",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_never_serves_a_file_outside_the_report_folder(base_url: str, filled: Filled, target: str) -> None:
    status, body = _raw_get(int(base_url.rsplit(":", 1)[1]), target)
    inside = {p.read_bytes() for p in filled.report_folder.iterdir() if p.is_file()}
    assert SECRET.encode() not in body and b"root:" not in body
    assert status != 200 or body in inside, (status, body[:200])


@pytest.mark.parametrize("kind", ["json", "pdf"])
def test_symlinks_and_folders_outside_the_data_folder_are_not_served(client: httpx.Client, filled: Filled,
                                                                     kind: str) -> None:
    for report in (filled.escaping_report, filled.outside_report):
        response = client.get(f"/reports/{report}/{kind}")
        _assert_problem(response, 404)
        assert SECRET not in response.text and "root:" not in response.text
    assert client.get(f"/reports/{filled.escaping_report}").json()["files"] == {}


# --- failures, the server and the token -----------------------------------------------------------------

def test_an_unexpected_error_is_a_500_problem_without_internals(filled: Filled) -> None:
    def broken() -> dict[str, str]:
        raise RuntimeError(f"internal detail {SECRET}")

    app = create_app(filled.db, ServiceConfig(data_dir=filled.data_dir), token=TOKEN, status=broken)
    with HttpServer(app, "127.0.0.1", 0) as server:
        response = httpx.get(f"http://127.0.0.1:{server.port}/health", headers={"Authorization": f"Bearer {TOKEN}"},
                             timeout=30)
    body = _assert_problem(response, 500)
    assert SECRET not in response.text and "RuntimeError" not in response.text
    assert body["type"] == "urn:dvt-us:problem:internal-error"


def test_an_unreachable_database_is_a_503_problem(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'missing' / 'no.db'}")  # its folder does not exist: cannot be opened
    with HttpServer(create_app(db, ServiceConfig(data_dir=tmp_path), token=TOKEN), "127.0.0.1", 0) as server:
        response = httpx.get(f"http://127.0.0.1:{server.port}/health", headers={"Authorization": f"Bearer {TOKEN}"},
                             timeout=30)
    body = _assert_problem(response, 503)
    assert str(tmp_path) not in response.text and body["type"] == "urn:dvt-us:problem:database-unavailable"


def test_a_busy_port_fails_start_and_stop_frees_the_port(filled: Filled) -> None:
    app = create_app(filled.db, ServiceConfig(data_dir=filled.data_dir), token=TOKEN)
    with HttpServer(app, "127.0.0.1", 0) as first, pytest.raises(OSError):
        HttpServer(app, "127.0.0.1", first.port).start()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{first.port}/health", timeout=30)


def test_resolve_token_prefers_config_then_file_then_environment(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert resolve_token(HttpConfig(token="from-config", token_file=token_file)) == "from-config"
    assert resolve_token(HttpConfig(token_file=token_file)) == "from-file"
    assert resolve_token(HttpConfig()) == "from-env"
    monkeypatch.delenv(TOKEN_ENV)
    with pytest.raises(ValueError, match=f"token_file.*{TOKEN_ENV}"):
        resolve_token(HttpConfig())
    token_file.write_text("  \n")
    with pytest.raises(ValueError, match="empty"):
        resolve_token(HttpConfig(token_file=token_file))
    with pytest.raises(ValueError, match="printable ASCII"):
        resolve_token(HttpConfig(token="caf\u00e9 au lait"))


def test_the_service_serves_health_while_it_runs(tmp_path: Path) -> None:
    config = ServiceConfig(data_dir=tmp_path / "data", dicom=DicomNodeConfig(port=0, min_free_disk_mb=0),
                           jobs=JobsConfig(workers=1, poll_s=0.2), http=HttpConfig(port=0, token=TOKEN))
    with Service(config) as service:
        url = f"http://127.0.0.1:{service.http_port}/health"
        _assert_problem(httpx.get(url, timeout=30), 401)
        health = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).json()
    assert health["components"] == {"dicom_node": "running", "job_loop": "running", "jobs_running": 0}
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=30)


def test_the_service_without_a_token_refuses_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    config = ServiceConfig(data_dir=tmp_path / "data", dicom=DicomNodeConfig(port=0, min_free_disk_mb=0),
                           http=HttpConfig(port=0))
    with pytest.raises(ValueError, match=TOKEN_ENV):
        Service(config).start()
    assert not (tmp_path / "data").exists(), "nothing was started"

