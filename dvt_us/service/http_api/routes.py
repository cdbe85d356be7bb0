"""The application: :func:`create_app` wires the read routes, the docs, STOW-RS and the mounted sub-applications."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from pydantic import BeforeValidator
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount
from starlette.types import ASGIApp

from dvt_us.service.config import ServiceConfig
from dvt_us.service.db import Database, JobState, StudySummary, UnknownStudyError
from dvt_us.service.http_api.docs import OPENAPI_URL, add_docs_routes
from dvt_us.service.http_api.metrics import DatabaseCollector
from dvt_us.service.http_api.problems import PROBLEM_JSON, PROBLEMS, NotFoundError, Problem, problem, token_refusal
from dvt_us.service.http_api.report_files import REPORT_FILES, ReportId, add_file_route, find_report
from dvt_us.service.http_api.schemas import (
    ComponentStatus,
    EventOut,
    EventPage,
    HealthOut,
    JobOut,
    ReportOut,
    StudyDetail,
    StudyOut,
    StudyUid,
)
from dvt_us.service.http_api.stow import DEFAULT_MAX_STOW_BYTES, Intake, add_stow_routes

BEARER = HTTPBearer(auto_error=False, description="the service's API token (http.token, token_file or env)")
"""Declares the scheme in the OpenAPI schema; the token is checked by :func:`.problems.token_refusal`."""
MOUNT_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)+")


def _state(value: object) -> object:
    return JobState.parse(value) if isinstance(value, str) else value


StateQuery = Annotated[JobState | None, BeforeValidator(_state), Query(description="only jobs in this state")]
JobId = Annotated[int, PathParam(ge=1)]


def _study(db: Database, study_uid: str) -> StudySummary:
    found = next((s for s in db.studies() if s.study_instance_uid == study_uid), None)
    if found is None:
        raise UnknownStudyError(f"no study {study_uid}")
    return found


def create_app(db: Database, config: ServiceConfig, *, token: str,
               status: Callable[[], ComponentStatus] | None = None, intake: Intake | None = None,
               max_stow_bytes: int = DEFAULT_MAX_STOW_BYTES, mounts: Mapping[str, ASGIApp] | None = None) -> FastAPI:
    """The HTTP API over ``db``.

    Parameters
    ----------
    db
        The service database (migrated); the read routes only read it.
    config
        The service configuration; report files are served only from inside ``config.data_dir``, and STOW-RS
        is refused below ``config.dicom.min_free_disk_mb`` of free disk, like a new association.
    token
        The bearer token every API request must carry (:func:`~dvt_us.service.http_server.resolve_token`).
    status
        Called by ``/health`` for the state of the service's other parts; it must be quick and not block.
    intake
        Where STOW-RS instances go (the DICOM node's store and ``on_stored``); None: no STOW-RS routes.
    max_stow_bytes
        The largest STOW-RS request body taken, in bytes; a larger one is answered 413 and nothing is stored.
    mounts
        Sub-applications mounted at their prefix (e.g. ``{"/workspace": app}``), **not** behind the bearer
        token: each does its own authentication. A prefix is ``/name`` (or ``/a/b``) and may not shadow a
        route of the API; ValueError otherwise.
    """
    if not token:
        raise ValueError("the API token is empty")
    if max_stow_bytes < 1:
        raise ValueError(f"max_stow_bytes must be positive, got {max_stow_bytes}")
    expected = token.encode()

    def require_token(request: Request,
                      _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]) -> None:
        refusal = token_refusal(request.headers.get("authorization"), expected)
        if refusal is not None:
            raise refusal

    problem_responses: dict[int | str, dict[str, Any]] = {
        code: {"content": {PROBLEM_JSON: {"schema": Problem.model_json_schema()}},
               "description": HTTPStatus(code).phrase}
        for code in (401, 404, 422, 500, 503)}
    app = FastAPI(title="dvt-us", summary="Duplex-ultrasound DVT analysis service", docs_url=None, redoc_url=None,
                  openapi_url=None, dependencies=[Depends(require_token)], responses=problem_responses)

    async def answer(request: Request, exc: Exception) -> Response:
        return problem(request, exc, expected)

    for exc_type in (*PROBLEMS, StarletteHTTPException, Exception):
        app.add_exception_handler(exc_type, answer)

    @app.get(OPENAPI_URL, include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    add_docs_routes(app, "dvt-us API")
    _add_read_routes(app, db, config, status)
    if intake is not None:
        add_stow_routes(app, intake, min_free_disk_mb=float(config.dicom.min_free_disk_mb), max_bytes=max_stow_bytes)
    for prefix, sub_app in (mounts or {}).items():
        _check_mount(app, prefix)
        app.router.routes.append(Mount(prefix, app=sub_app))
    return app


def _check_mount(app: FastAPI, prefix: str) -> None:
    if MOUNT_PREFIX.fullmatch(prefix) is None:
        raise ValueError(f"mount prefix {prefix!r}: write it as /name or /a/b (no trailing slash)")
    taken = {route.path.split("/")[1] for route in app.routes if hasattr(route, "path")}
    if prefix.split("/")[1] in taken:
        raise ValueError(f"mount prefix {prefix!r} would shadow API routes under /{prefix.split('/')[1]}; "
                         f"taken: {', '.join(sorted(taken))}")


def _add_read_routes(app: FastAPI, db: Database, config: ServiceConfig,
                     status: Callable[[], ComponentStatus] | None) -> None:
    """Health, studies, jobs, reports (and their files), events and metrics; they only read the database."""

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
        return ReportOut.of(find_report(db, report_id), config.data_dir)

    for kind, file in REPORT_FILES.items():
        add_file_route(app, db, config.data_dir, kind, file)

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
        """Prometheus metrics, read from the database now (see :class:`.metrics.DatabaseCollector`)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)
