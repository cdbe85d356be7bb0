"""Report files served by fixed names from the folder recorded for the report; no part of a request reaches a path."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from dvt_us.report.visit_folder import REPORT_FILE
from dvt_us.report.visit_outputs import HTML_FILE, PDF_FILE, SR_FILE
from dvt_us.service.db import Database, ReportRecord
from dvt_us.service.http_api.problems import NotFoundError

log = logging.getLogger(__name__)

ReportId = Annotated[int, PathParam(ge=1)]


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


def servable(report: ReportRecord, file: ReportFile, data_dir: Path) -> Path | None:
    """The path of ``file`` of ``report`` if :func:`report_file` would serve it, else None."""
    folder = report.folder.resolve()
    path = (folder / file.name).resolve()
    inside = folder.is_relative_to(data_dir.resolve()) and path.parent == folder
    return path if inside and path.is_file() else None


def report_file(report: ReportRecord, file: ReportFile, data_dir: Path) -> Path:
    """The file of ``report``: a regular file directly in its recorded folder (symlinks resolved), in ``data_dir``.

    Raises NotFoundError otherwise: the file is missing, or it or the folder resolves to somewhere else.
    """
    path = servable(report, file, data_dir)
    if path is None:
        if (report.folder / file.name).exists():
            log.warning("report %d: %s resolves outside its folder or the data folder; not served", report.id,
                        report.folder / file.name)
        raise NotFoundError(f"report {report.id} has no {file.name}")
    return path


def find_report(db: Database, report_id: int) -> ReportRecord:
    """The report with ``report_id``; NotFoundError when there is none."""
    found = next((r for r in db.reports() if r.id == report_id), None)
    if found is None:
        raise NotFoundError(f"no report {report_id}")
    return found


def _download_name(report: ReportRecord, name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{report.subject}_{report.visit}_{name}")


def add_file_route(app: FastAPI, db: Database, data_dir: Path, kind: str, file: ReportFile) -> None:
    """``GET /reports/{report_id}/<kind>``: the report's ``file`` from its recorded folder."""

    def serve(report_id: ReportId) -> FileResponse:
        found = find_report(db, report_id)
        return FileResponse(report_file(found, file, data_dir), media_type=file.media_type,
                            filename=_download_name(found, file.name), content_disposition_type=file.disposition)

    app.add_api_route(f"/reports/{{report_id}}/{kind}", serve, methods=["GET"], tags=["reports"],
                      response_class=FileResponse, name=f"report_{kind}", summary=f"The report's {file.name}",
                      responses={200: {"content": {file.media_type.split(";")[0]: {}}, "description": file.name}})
