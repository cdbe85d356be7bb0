"""The API's response models: what each JSON route answers, typed for the OpenAPI schema."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict

from dvt_us.service.db import Event, Job, JobState, ReportRecord, StudySummary
from dvt_us.service.http_api.report_files import REPORT_FILES, servable

STUDY_UID = r"^[0-9]+(\.[0-9]+)*$"
"""A DICOM UID (PS3.5 9.1): digits and dots, at most 64 characters."""
StudyUid = Annotated[str, PathParam(pattern=STUDY_UID, max_length=64)]
"""A ``{study_uid}`` path parameter."""

ComponentStatus = Mapping[str, str | int | float | bool | None]
"""What the service reports about its parts for ``/health`` (e.g. ``{"dicom_node": "running"}``)."""


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
        """The answer for ``report``, linking the files that :func:`.report_files.report_file` would serve."""
        href = f"/reports/{report.id}"
        files = {kind: f"{href}/{kind}" for kind, f in REPORT_FILES.items() if servable(report, f, data_dir)}
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
