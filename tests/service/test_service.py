"""The whole service: dcmtk storescu → DICOM node → database → job → analysis → reports → C-STORE into Orthanc.

Real peers on loopback: storescu sends a phantom trial's studies, Orthanc is the PACS that receives the
SR, SEG and encapsulated PDF; both database backends; local worker processes and a Dask LocalCluster.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pydicom
import pytest
from sqlalchemy import select

from dvt_us.phantom.trial import plan_trial
from dvt_us.phantom.trial_writer import RenderOptions, write_trial
from dvt_us.service.app import Service
from dvt_us.service.config import DicomNodeConfig, HttpConfig, JobsConfig, RemoteAE, ServiceConfig
from dvt_us.service.db import JobState
from dvt_us.service.review.accounts import add_user
from dvt_us.service.review.models import ReviewStudyRow
from tests.orthanc import Orthanc, running_orthanc


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """The files of one phantom subject's BASELINE and D10 studies."""
    out = tmp_path_factory.mktemp("service-trial")
    write_trial(plan_trial(1, seed=44, protocol="short", visits=2), out, RenderOptions(shape=(160, 200), frames=8),
                jobs=2)
    return {visit: sorted((out / "dicom").glob(f"*/{visit}/*.dcm")) for visit in ("BASELINE", "D10")}


@pytest.fixture
def pacs(tmp_path: Path) -> Iterator[Orthanc]:
    with running_orthanc(tmp_path / "orthanc") as server:
        yield server


def _config(tmp_path: Path, database_url: str, pacs: Orthanc, scheduler: str | None = None) -> ServiceConfig:
    return ServiceConfig(
        data_dir=tmp_path / "data", database_url=database_url,
        dicom=DicomNodeConfig(port=0, min_free_disk_mb=0),
        jobs=JobsConfig(study_idle_s=1.0, poll_s=0.2, workers=1, scheduler=scheduler),
        http=HttpConfig(enabled=False),
        destinations=(RemoteAE(ae_title=pacs.aet, host="127.0.0.1", port=pacs.dicom_port),),
    )


def _send(port: int, files: list[Path]) -> None:
    done = subprocess.run(["storescu", "--required", "-xy", "-aet", "MODALITY", "-aec", "DVTUS", "127.0.0.1",
                           str(port), *map(str, files)], capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def _wait_for_jobs(service: Service, count: int, limit_s: float = 600) -> None:
    """Until ``count`` jobs are done (a bound, not a speed target: the suite must not hang)."""
    assert service.db is not None
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        jobs = service.db.jobs()
        if any(j.state is JobState.FAILED for j in jobs):
            pytest.fail(f"a job failed: {[j.error for j in jobs if j.error]}")
        if sum(j.state is JobState.DONE for j in jobs) >= count:
            return
        time.sleep(0.5)
    pytest.fail(f"jobs not done in {limit_s:.0f} s: {service.db.jobs()}")


def _study_uid(files: list[Path]) -> str:
    return str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)


def test_studies_sent_by_storescu_are_analysed_once_and_their_reports_reach_the_pacs(
        studies: dict[str, list[Path]], database_url: str, pacs: Orthanc, tmp_path: Path) -> None:
    with Service(_config(tmp_path, database_url, pacs)) as service:
        assert service.node is not None and service.db is not None and service.runner is not None
        _send(service.node.port, studies["BASELINE"])
        _wait_for_jobs(service, 1)
        _send(service.node.port, studies["D10"] + studies["BASELINE"][:2])  # a later visit, and two duplicates
        _wait_for_jobs(service, 2)
        time.sleep(2 * service.config.jobs.poll_s)  # a few more ticks: nothing is queued again
        jobs = service.db.jobs()
        results = service.runner.results_root
    assert sorted(j.study_instance_uid for j in jobs) == sorted(_study_uid(f) for f in studies.values())
    assert all(j.state is JobState.DONE and j.attempts == 1 for j in jobs)
    d10 = json.loads(next(results.glob("*/D10/report.json")).read_text())
    assert d10["change_since_baseline"]["baseline_visit"] == "BASELINE", "compared with the earlier job's baseline"
    for visit, files in studies.items():
        folder = next(results.glob(f"*/{visit}"))
        ours = {pydicom.dcmread(p).SOPInstanceUID for p in [folder / "sr.dcm", folder / "report-pdf.dcm",
                                                              *(folder / "seg").glob("*.dcm")]}
        in_pacs = {i["00080018"]["Value"][0] for i in pacs.qido(f"studies/{_study_uid(files)}/instances")}
        assert ours <= in_pacs, f"{visit}: results missing from the PACS"


def test_the_same_jobs_run_on_a_dask_cluster(studies: dict[str, list[Path]], pacs: Orthanc, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster:
        config = _config(tmp_path, f"sqlite:///{tmp_path / 'dvt-us.db'}", pacs, scheduler=cluster.scheduler_address)
        with Service(config) as service:
            assert service.node is not None and service.db is not None
            _send(service.node.port, studies["BASELINE"])
            _wait_for_jobs(service, 1)
            [job] = service.db.jobs()
    assert job.state is JobState.DONE and job.study_instance_uid == _study_uid(studies["BASELINE"])
    assert job.result_dir is not None and next(job.result_dir.glob("*/BASELINE/report.json"))


def test_an_instance_arriving_after_its_study_was_analysed_runs_the_study_again(
        studies: dict[str, list[Path]], pacs: Orthanc, tmp_path: Path) -> None:
    first, late = studies["BASELINE"][:-1], studies["BASELINE"][-1]
    late_uid = str(pydicom.dcmread(late, stop_before_pixels=True).SOPInstanceUID)
    with Service(_config(tmp_path, f"sqlite:///{tmp_path / 'dvt-us.db'}", pacs)) as service:
        assert service.node is not None and service.db is not None and service.runner is not None
        _send(service.node.port, first)
        _wait_for_jobs(service, 1)
        report = next(service.runner.results_root.glob("*/BASELINE/report.json"))
        assert late_uid not in report.read_text()
        _send(service.node.port, [late])
        deadline = time.monotonic() + 600  # a bound so that the suite cannot hang, not a speed target
        while time.monotonic() < deadline and not (
                any(e.kind == "job.requeued" for e in service.db.events(limit=1000))
                and service.db.jobs()[0].state is JobState.DONE):
            time.sleep(0.5)
        [job] = service.db.jobs()
        events = [e.kind for e in service.db.events(limit=1000) if e.job_id == job.id]
        reports = service.db.reports(job.id)
    assert job.state is JobState.DONE, job
    assert events.count("job.done") == 2 and events.count("job.requeued") == 1, events
    assert late_uid in report.read_text(), "the second run analysed the late instance too"
    assert [(r.subject, r.visit) for r in reports] == [(reports[0].subject, "BASELINE")]


def test_a_study_sent_by_stow_rs_is_analysed_like_one_sent_by_c_store(
        studies: dict[str, list[Path]], pacs: Orthanc, tmp_path: Path) -> None:
    import httpx

    from tests.service.test_stow import multipart
    from tests.service.workspace.harness import PASSWORD, client_login

    config = _config(tmp_path, f"sqlite:///{tmp_path / 'dvt-us.db'}", pacs).model_copy(
        update={"http": HttpConfig(port=0, token="stow-token")})
    content_type, body = multipart([(p.read_bytes(), None) for p in studies["BASELINE"]])
    with Service(config) as service:
        assert service.db is not None
        answer = httpx.post(f"http://127.0.0.1:{service.http_port}/studies", content=body, timeout=120,
                            headers={"Content-Type": content_type, "Accept": "application/dicom+json",
                                     "Authorization": "Bearer stow-token"})
        assert answer.status_code == 200, answer.text
        _wait_for_jobs(service, 1)
        [job] = service.db.jobs()
        [report] = service.db.reports(job.id)
        assert service.review is not None
        deadline = time.monotonic() + 120  # registered after the results are sent; a bound, not a speed target
        on_worklist: list[tuple[int | None, str]] = []
        while not on_worklist and time.monotonic() < deadline:
            with service.review.read() as session:
                on_worklist = [(row.report_id, row.state.value) for row in session.scalars(select(ReviewStudyRow))]
            time.sleep(0.2)
        add_user(service.review, None, "ann", "Dr Ann Reader", "reader", password=PASSWORD, now=datetime.now(UTC))
        with httpx.Client(base_url=f"http://127.0.0.1:{service.http_port}", timeout=60) as browser:
            client_login(browser, "ann")  # no bearer token: the workspace has its own session login
            worklist = browser.get("/workspace/worklist").text
    assert job.study_instance_uid == _study_uid(studies["BASELINE"]) and job.state is JobState.DONE
    assert job.result_dir is not None and next(job.result_dir.glob("*/BASELINE/report.json"))
    assert on_worklist == [(report.id, "awaiting_read_1")], "the report waits for its first read"
    assert report.subject in worklist and "awaiting" in worklist.lower()
