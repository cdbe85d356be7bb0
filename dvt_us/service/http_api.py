"""The HTTP API: health, studies, jobs, reports (and their files), the event log and Prometheus metrics.

:func:`create_app` builds a FastAPI application over a :class:`~dvt_us.service.db.Database`. Every route,
the OpenAPI schema and the docs included, needs ``Authorization: Bearer <token>``. Every error, ours or the
framework's, becomes an RFC 9457 ``application/problem+json`` answer in one place (:func:`_problem`).
Report files are served only from the folder recorded for the report, by names fixed here; no part of a
request reaches the file system. The handlers are thin: they read the database and shape the answer.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from pydantic import BaseModel, BeforeValidator, ConfigDict
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from dvt_us.report.visit_folder import REPORT_FILE
from dvt_us.report.visit_outputs import HTML_FILE, PDF_FILE, SR_FILE
from dvt_us.service.config import ServiceConfig
from dvt_us.service.db import Database, Event, Job, JobState, ReportRecord, StudySummary, UnknownStudyError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
STUDY_UID = r"^[0-9]+(\.[0-9]+)*$"
"""A DICOM UID (PS3.5 9.1): digits and dots, at most 64 characters."""
DURATION_BUCKETS_S = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
"""Upper bounds (seconds) of the ``dvt_us_job_duration_seconds`` histogram buckets."""

BEARER = HTTPBearer(auto_error=False, description="the service's API token (http.token, token_file or env)")
"""Declares the scheme in the OpenAPI schema; the token is checked by :func:`_token_refusal`."""

ComponentStatus = Mapping[str, str | int | float | bool | None]
"""What the service reports about its parts for ``/health`` (e.g. ``{"dicom_node": "running"}``)."""


# --- errors and their one mapping to problem+json --------------------------------------------------------

class NotFoundError(LookupError):
    """No job or report with this id, or the report has no such file."""


class UnauthorizedError(Exception):
    """No bearer token, or not the right one (``invalid``: a token was sent)."""

    def __init__(self, detail: str, *, invalid: bool) -> None:
        super().__init__(detail)
        self.invalid = invalid


@dataclass(frozen=True)
class ProblemKind:
    """How one exception type is answered: status, a ``type`` slug, and a fixed detail where str(exc) may leak."""

    status: HTTPStatus
    slug: str
    public_detail: str | None = None


PROBLEMS: dict[type[Exception], ProblemKind] = {
    UnauthorizedError: ProblemKind(HTTPStatus.UNAUTHORIZED, "unauthorized"),
    NotFoundError: ProblemKind(HTTPStatus.NOT_FOUND, "not-found"),
    UnknownStudyError: ProblemKind(HTTPStatus.NOT_FOUND, "not-found"),
    RequestValidationError: ProblemKind(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid-request"),
    OperationalError: ProblemKind(HTTPStatus.SERVICE_UNAVAILABLE, "database-unavailable",
                                  "the database did not answer; see the service log"),
}
"""Our exception types (and the framework's validation error) → their answers; anything else is a 500."""
INTERNAL = ProblemKind(HTTPStatus.INTERNAL_SERVER_ERROR, "internal-error", "an unexpected error; see the service log")


class Problem(BaseModel):
    """An RFC 9457 problem detail (``application/problem+json``)."""

    type: str
    """``urn:dvt-us:problem:<slug>``, or ``about:blank`` for a plain HTTP status (unknown route, bad method)."""
    title: str
    status: int
    detail: str
    instance: str
    """The request path."""
    errors: list[dict[str, Any]] | None = None
    """422 only: each invalid parameter, as ``{"loc": [...], "msg": ...}``."""


def _token_refusal(header: str | None, expected: bytes) -> UnauthorizedError | None:
    """Why ``header`` (the Authorization header) does not authorise a request, or None when it does."""
    scheme, _, sent = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not sent.strip():
        return UnauthorizedError("send Authorization: Bearer <token>", invalid=False)
    if not hmac.compare_digest(sent.strip().encode(), expected):
        return UnauthorizedError("the bearer token is not valid", invalid=True)
    return None


def _problem(request: Request, exc: Exception, token: bytes) -> JSONResponse:
    """The one mapping from an exception to its problem+json answer."""
    errors = None
    headers: dict[str, str] = {}
    if isinstance(exc, StarletteHTTPException):
        refusal = _token_refusal(request.headers.get("authorization"), token)
        if refusal is not None:  # no route matched (404/405): an unauthorised caller learns nothing of the routes
            exc = refusal
        else:
            status = HTTPStatus(exc.status_code)
            body = Problem(type="about:blank", title=status.phrase, status=status, detail=str(exc.detail),
                           instance=request.url.path)
            return JSONResponse(body.model_dump(exclude_none=True), status, exc.headers, media_type=PROBLEM_JSON)
    kind = next((PROBLEMS[t] for t in type(exc).__mro__ if t in PROBLEMS), INTERNAL)
    if kind.public_detail is not None and kind is not INTERNAL:  # Starlette re-raises a 500 for the server to log
        log.error("%s %s: %s", request.method, request.url.path, kind.public_detail, exc_info=exc)
    if isinstance(exc, RequestValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    else:
        detail = kind.public_detail or str(exc)
    if isinstance(exc, UnauthorizedError):
        headers["WWW-Authenticate"] = 'Bearer realm="dvt-us"' + (', error="invalid_token"' if exc.invalid else "")
    body = Problem(type=f"urn:dvt-us:problem:{kind.slug}", title=kind.status.phrase, status=kind.status,
                   detail=detail, instance=request.url.path, errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), kind.status, headers, media_type=PROBLEM_JSON)


# --- response models ------------------------------------------------------------------------------------

class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class HealthOut(_Out):
    """The service answers and its database is reachable."""

    status: Literal["ok"] = "ok"
    database: Literal["reachable"] = "reachable"
    components: dict[str, str | int | float | bool | None]
    """What the service says of its parts (DICOM node, job loop); empty for a bare API."""


class JobBrief(_Out):
    """One job of a study."""

    id: int
    models_key: str
    state: JobState
    href: str


class StudyOut(_Out):
    """One study: when its instances arrived, how many, and its jobs (one per model version)."""

    study_instance_uid: str
    first_received_at: datetime
    last_received_at: datetime
    instance_count: int
    jobs: list[JobBrief]
    href: str

    @classmethod
    def of(cls, study: StudySummary, jobs: Sequence[Job]) -> StudyOut:
        """The answer for ``study`` with its ``jobs``."""
        briefs = [JobBrief(**vars(j), href=f"/jobs/{j.id}") for j in jobs]
        return cls(**vars(study), jobs=briefs, href=f"/studies/{study.study_instance_uid}")


class ReportOut(_Out):
    """One visit report folder written by a finished job, and links to its files that exist."""

    id: int
    job_id: int
    subject: str
    visit: str
    folder: str
    created_at: datetime
    href: str
    files: dict[str, str]
    """``json``, ``pdf``, ``sr``, ``html`` → the route that serves it (only those present)."""

    @classmethod
    def of(cls, report: ReportRecord, data_dir: Path) -> ReportOut:
        """The answer for ``report``, linking the files that :func:`report_file` would serve."""
        href = f"/reports/{report.id}"
        files = {kind: f"{href}/{kind}" for kind, f in REPORT_FILES.items() if _servable(report, f, data_dir)}
        return cls(**{**vars(report), "folder": str(report.folder)}, href=href, files=files)


class StudyDetail(StudyOut):
    """One study with the reports of its finished jobs."""

    reports: list[ReportOut]


class JobOut(_Out):
    """One job as it stands; all times UTC."""

    id: int
    study_instance_uid: str
    models_key: str
    state: JobState
    attempts: int
    worker: str | None
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    error: str | None
    """The last failure, kept when the job was retried."""
    href: str
    study: str
    reports: list[str]

    @classmethod
    def of(cls, job: Job, reports: Sequence[ReportRecord]) -> JobOut:
        """The answer for ``job`` and the reports it wrote."""
        return cls(**vars(job), href=f"/jobs/{job.id}", study=f"/studies/{job.study_instance_uid}",
                   reports=[f"/reports/{r.id}" for r in reports])


class EventOut(_Out):
    """One entry of the event log."""

    id: int
    at: datetime
    kind: str
    study_instance_uid: str | None
    job_id: int | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> EventOut:
        """The answer for ``event``."""
        return cls(**{**vars(event), "detail": dict(event.detail)})


class EventPage(_Out):
    """Events after ``after``, oldest first; ask again with ``after=next_after`` for the next page."""

    events: list[EventOut]
    next_after: int


# --- report files and metrics ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportFile:
    """A file of a visit folder that the API serves: its fixed name and media type."""

    name: str
    media_type: str
    disposition: Literal["inline", "attachment"] = "inline"


REPORT_FILES: dict[str, ReportFile] = {
    "json": ReportFile(REPORT_FILE, "application/json"),
    "pdf": ReportFile(PDF_FILE, "application/pdf"),
    "sr": ReportFile(SR_FILE, "application/dicom", "attachment"),
    "html": ReportFile(HTML_FILE, "text/html; charset=utf-8"),
}
"""``/reports/{id}/<kind>`` → the file served; the only names that reach the file system."""


def _servable(report: ReportRecord, file: ReportFile, data_dir: Path) -> Path | None:
    folder = report.folder.resolve()
    path = (folder / file.name).resolve()
    inside = folder.is_relative_to(data_dir.resolve()) and path.parent == folder
    return path if inside and path.is_file() else None


def report_file(report: ReportRecord, file: ReportFile, data_dir: Path) -> Path:
    """The file of ``report``: a regular file directly in its recorded folder (symlinks resolved), in ``data_dir``.

    Raises NotFoundError otherwise: the file is missing, or it or the folder resolves to somewhere else.
    """
    path = _servable(report, file, data_dir)
    if path is None:
        if (report.folder / file.name).exists():
            log.warning("report %d: %s resolves outside its folder or the data folder; not served", report.id,
                        report.folder / file.name)
        raise NotFoundError(f"report {report.id} has no {file.name}")
    return path


class DatabaseCollector:
    """Prometheus metrics read from the database at each scrape (so every service process reports the same).

    ``dvt_us_instances_received_total`` (instances recorded), ``dvt_us_studies``, ``dvt_us_jobs{state}``,
    ``dvt_us_reports`` and ``dvt_us_job_duration_seconds{state}`` (a histogram of finished and failed jobs,
    last attempt's start to finish).
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def collect(self) -> Iterator[Metric]:
        """The metrics as they stand now."""
        studies, jobs = self._db.studies(), self._db.jobs()
        yield CounterMetricFamily("dvt_us_instances_received", "DICOM instances recorded (duplicates not counted)",
                                  value=sum(s.instance_count for s in studies))
        yield GaugeMetricFamily("dvt_us_studies", "Studies with at least one instance", value=len(studies))
        by_state = GaugeMetricFamily("dvt_us_jobs", "Jobs by state", labels=["state"])
        for state in JobState:
            by_state.add_metric([state.value], sum(j.state is state for j in jobs))
        yield by_state
        yield GaugeMetricFamily("dvt_us_reports", "Visit reports recorded", value=len(self._db.reports()))
        durations = HistogramMetricFamily("dvt_us_job_duration_seconds", "Job run time, last attempt",
                                          labels=["state"])
        for state in (JobState.DONE, JobState.FAILED):
            seconds = [(j.finished_at - j.started_at).total_seconds() for j in jobs
                       if j.state is state and j.started_at is not None and j.finished_at is not None]
            buckets = [(str(b), sum(s <= b for s in seconds)) for b in DURATION_BUCKETS_S]
            durations.add_metric([state.value], [*buckets, ("+Inf", len(seconds))], sum(seconds))
        yield durations


# --- the application ------------------------------------------------------------------------------------

def _state(value: object) -> object:
    return JobState.parse(value) if isinstance(value, str) else value


StateQuery = Annotated[JobState | None, BeforeValidator(_state), Query(description="only jobs in this state")]
JobId = Annotated[int, PathParam(ge=1)]
ReportId = Annotated[int, PathParam(ge=1)]
StudyUid = Annotated[str, PathParam(pattern=STUDY_UID, max_length=64)]


def _find_report(db: Database, report_id: int) -> ReportRecord:
    found = next((r for r in db.reports() if r.id == report_id), None)
    if found is None:
        raise NotFoundError(f"no report {report_id}")
    return found


def _study(db: Database, study_uid: str) -> StudySummary:
    found = next((s for s in db.studies() if s.study_instance_uid == study_uid), None)
    if found is None:
        raise UnknownStudyError(f"no study {study_uid}")
    return found


def create_app(db: Database, config: ServiceConfig, *, token: str,
               status: Callable[[], ComponentStatus] | None = None) -> FastAPI:
    """The HTTP API over ``db``.

    Parameters
    ----------
    db
        The service database (migrated); the API only reads it.
    config
        The service configuration; report files are served only from inside ``config.data_dir``.
    token
        The bearer token every request must carry (:func:`~dvt_us.service.http_server.resolve_token`).
    status
        Called by ``/health`` for the state of the service's other parts; it must be quick and not block.
    """
    if not token:
        raise ValueError("the API token is empty")
    expected = token.encode()

    def require_token(request: Request,
                      _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]) -> None:
        refusal = _token_refusal(request.headers.get("authorization"), expected)
        if refusal is not None:
            raise refusal

    problem_responses: dict[int | str, dict[str, Any]] = {
        code: {"content": {PROBLEM_JSON: {"schema": Problem.model_json_schema()}},
               "description": HTTPStatus(code).phrase}
        for code in (401, 404, 422, 500, 503)}
    app = FastAPI(title="dvt-us", summary="Duplex-ultrasound DVT analysis service", docs_url=None, redoc_url=None,
                  openapi_url=None, dependencies=[Depends(require_token)], responses=problem_responses)

    async def answer(request: Request, exc: Exception) -> Response:
        return _problem(request, exc, expected)

    for exc_type in (*PROBLEMS, StarletteHTTPException, Exception):
        app.add_exception_handler(exc_type, answer)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="dvt-us API")

    @app.get("/health", tags=["service"])
    def health() -> HealthOut:
        """The database answers (503 otherwise), and the state of the DICOM node and the job loop."""
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return HealthOut(components=dict(status()) if status is not None else {})

    @app.get("/studies", tags=["studies"])
    def studies() -> list[StudyOut]:
        """Every study, most recently received first, with its instance count and jobs."""
        jobs = db.jobs()
        return [StudyOut.of(s, [j for j in jobs if j.study_instance_uid == s.study_instance_uid])
                for s in db.studies()]

    @app.get("/studies/{study_uid}", tags=["studies"])
    def study(study_uid: StudyUid) -> StudyDetail:
        """One study, its jobs and their reports."""
        found = _study(db, study_uid)
        jobs = [j for j in db.jobs() if j.study_instance_uid == study_uid]
        job_ids = {j.id for j in jobs}
        reports = [ReportOut.of(r, config.data_dir) for r in db.reports() if r.job_id in job_ids]
        return StudyDetail(**StudyOut.of(found, jobs).model_dump(), reports=reports)

    @app.get("/jobs", tags=["jobs"])
    def jobs(state: StateQuery = None) -> list[JobOut]:
        """Every job (in ``state``, if given), oldest first."""
        reports = db.reports()
        return [JobOut.of(j, [r for r in reports if r.job_id == j.id]) for j in db.jobs(state)]

    @app.get("/jobs/{job_id}", tags=["jobs"])
    def job(job_id: JobId) -> JobOut:
        """One job."""
        found = db.job(job_id)
        if found is None:
            raise NotFoundError(f"no job {job_id}")
        return JobOut.of(found, db.reports(job_id))

    @app.get("/reports", tags=["reports"])
    def reports() -> list[ReportOut]:
        """Every visit report, in the order recorded."""
        return [ReportOut.of(r, config.data_dir) for r in db.reports()]

    @app.get("/reports/{report_id}", tags=["reports"])
    def report(report_id: ReportId) -> ReportOut:
        """One visit report: subject, visit, folder, and links to its files."""
        return ReportOut.of(_find_report(db, report_id), config.data_dir)

    for kind, file in REPORT_FILES.items():
        _add_file_route(app, db, config.data_dir, kind, file)

    @app.get("/events", tags=["service"])
    def events(after: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> EventPage:
        """Up to ``limit`` events with an id above ``after``, oldest first."""
        found = [EventOut.of(e) for e in db.events(after, limit)]
        return EventPage(events=found, next_after=found[-1].id if found else after)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(db))

    @app.get("/metrics", tags=["service"], response_class=Response,
             responses={200: {"content": {CONTENT_TYPE_PLAIN_0_0_4: {}}, "description": "Prometheus text format"}})
    def metrics() -> Response:
        """Prometheus metrics, read from the database now (see :class:`DatabaseCollector`)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return app


def _download_name(report: ReportRecord, name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{report.subject}_{report.visit}_{name}")


def _add_file_route(app: FastAPI, db: Database, data_dir: Path, kind: str, file: ReportFile) -> None:
    """``GET /reports/{report_id}/<kind>``: the report's ``file`` from its recorded folder."""

    def serve(report_id: ReportId) -> FileResponse:
        found = _find_report(db, report_id)
        return FileResponse(report_file(found, file, data_dir), media_type=file.media_type,
                            filename=_download_name(found, file.name), content_disposition_type=file.disposition)

    app.add_api_route(f"/reports/{{report_id}}/{kind}", serve, methods=["GET"], tags=["reports"],
                      response_class=FileResponse, name=f"report_{kind}", summary=f"The report's {file.name}",
                      responses={200: {"content": {file.media_type.split(";")[0]: {}}, "description": file.name}})
