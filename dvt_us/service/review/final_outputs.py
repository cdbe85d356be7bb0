"""The final visit folder of a study: the model's folder plus the final read, rendered again.

``<final_root>/<subject>/<visit>/`` gets the model folder's masks, key frames and source headers, the final
report.json (:func:`~dvt_us.service.review.final_report.final_document`) and, from
:func:`~dvt_us.report.visit_outputs.write_visit_outputs`, new HTML/PDF, encapsulated PDF, SR and SEG
instances. A folder written before from another version moves to ``<final_root>/_superseded/``. Send the
returned outputs to the PACS destinations only after this returns.

A final study stays final (a change is a new signed version of its final read, or a correcting adjudication:
:mod:`.reads`, :mod:`.adjudication`), but its final read can change while its folder is being written. So
writes of one study hold an exclusive lock (``<final_root>/.locks/study-<id>.lock``, flock), and each reads
the final read only once it holds the lock, so that two service processes sharing the folder cannot
interleave them; and a write whose final read was replaced meanwhile is superseded at once instead of being
recorded (the signature that replaced it queued the next write).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dvt_us.report.json_report import validate, write_report
from dvt_us.report.visit_folder import REPORT_FILE, VisitFolder
from dvt_us.report.visit_outputs import (
    HTML_FILE,
    PDF_DICOM_FILE,
    PDF_FILE,
    SEG_DIR,
    SR_FILE,
    VisitOutputs,
    write_visit_outputs,
)
from dvt_us.service.review import audit
from dvt_us.service.review.enum import Action, ReadSlot, ReviewState
from dvt_us.service.review.errors import ReviewConflictError
from dvt_us.service.review.final_report import final_document, how_final
from dvt_us.service.review.models import ReadRow, SignatureRow
from dvt_us.service.review.permissions import authorise
from dvt_us.service.review.read_content import ReadContent
from dvt_us.service.review.records import Signature, User
from dvt_us.service.review.store import ReviewStore, aware
from dvt_us.service.review.studies import latest_versions, study_row

SUPERSEDED_DIR = "_superseded"
LOCK_DIR = ".locks"


@contextmanager
def study_lock(final_root: Path, study_id: int) -> Iterator[None]:
    """Hold the study's exclusive final-folder lock (blocks while another thread or process holds it)."""
    locks = final_root / LOCK_DIR
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"study-{study_id}.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class FinalOutputs:
    """What :func:`write_final_outputs` wrote, and from which read content."""

    folder: Path
    report_json: Path
    outputs: VisitOutputs
    content_sha256: str
    """sha256 of the final read's canonical content (its signature covers the same)."""
    report_sha256: str
    """sha256 of the final report.json file."""


@dataclass(frozen=True)
class _FinalRead:
    folder: Path
    subject: str
    visit: str
    content: ReadContent
    content_sha256: str
    review: dict[str, Any]


def _final_read(store: ReviewStore, study_id: int) -> _FinalRead:
    with store.read() as session:
        study = study_row(session, study_id)
        if study.state is not ReviewState.FINAL or study.final_slot is None:
            raise ReviewConflictError(f"study {study_id} is {study.state.value}, not final: no final outputs")
        signed: dict[ReadSlot, ReadRow] = latest_versions(session, study_id, signed_only=True)
        final = signed[study.final_slot]
        sigs = {row.read_id: Signature.from_row(row) for row in session.scalars(
            select(SignatureRow).where(SignatureRow.read_id.in_([r.id for r in signed.values()])))}
        review = {
            "how": how_final(study.final_slot, store.rules.double_read),
            "final_read": {"slot": study.final_slot.value, "version": final.version, "read_id": final.id,
                           "content_sha256": final.content_sha256},
            "signatures": [{"slot": slot.value, "version": row.version, **sigs[row.id].manifest()}
                           for slot, row in sorted(signed.items(), key=lambda item: list(ReadSlot).index(item[0]))],
            "verifying_organization": store.config.verifying_organization,
            "rules": {"double_read": store.rules.double_read, "must_agree": sorted(store.rules.must_agree),
                      "residual_diameter_tolerance_mm": store.rules.residual_diameter_tolerance_mm},
        }
        return _FinalRead(Path(study.folder), study.subject, study.visit, ReadContent.from_json(final.content),
                          final.content_sha256, review)


def _baseline_segments(document: dict[str, Any], model_folder: Path, final_root: Path) -> list[Any] | None:
    change = document.get("change_since_baseline")
    if change is None:
        return None
    subject, baseline = str(document["subject"]), str(change["baseline_visit"])
    for candidate in (final_root / subject / baseline / REPORT_FILE, model_folder.parent / baseline / REPORT_FILE):
        if candidate.is_file():
            loaded = json.loads(candidate.read_text())
            validate(loaded)
            segments: list[Any] = loaded["segments"]
            return segments
    return None


def _moved(outputs: VisitOutputs, old: Path, new: Path) -> VisitOutputs:
    def move(p: Path) -> Path:
        return new / p.relative_to(old)

    return VisitOutputs(html=move(outputs.html), pdf=move(outputs.pdf),
                        pdf_dicom=None if outputs.pdf_dicom is None else move(outputs.pdf_dicom),
                        sr=None if outputs.sr is None else move(outputs.sr), segs=tuple(move(p) for p in outputs.segs),
                        skipped=outputs.skipped)


def write_final_outputs(store: ReviewStore, actor: User | None, study_id: int, final_root: Path,
                        now: datetime) -> FinalOutputs:
    """Write (or write again) the final visit folder of a final study and record it; its paths.

    ``actor``: an adjudicator or admin, or ``None`` for the service itself (right after a signature made the
    study final). ReviewConflictError when the study is not final.
    """
    at = aware(now)
    if actor is not None:
        authorise(actor, Action.FINAL_WRITE)
    root = final_root.resolve()
    with study_lock(root, study_id):
        return _write_final_outputs(store, actor, study_id, root, at)


def _superseded_path(root: Path, subject: str, visit: str, at: datetime) -> Path:
    stamp = at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = root / SUPERSEDED_DIR / subject / visit / stamp
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _write_final_outputs(store: ReviewStore, actor: User | None, study_id: int, root: Path,
                         at: datetime) -> FinalOutputs:
    final = _final_read(store, study_id)
    model = VisitFolder.open(final.folder)
    document = final_document(model.document, final.content, final.review,
                              _baseline_segments(model.document, final.folder, root))
    destination = root / final.subject / final.visit
    staging = destination.parent / f".{final.visit}.{uuid.uuid4().hex}.tmp"
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(final.folder, staging, ignore=shutil.ignore_patterns(HTML_FILE, PDF_FILE, PDF_DICOM_FILE,
                                                                          SR_FILE, SEG_DIR, REPORT_FILE))
    try:
        write_report(document, staging / REPORT_FILE)
        outputs = write_visit_outputs(VisitFolder.open(staging))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if destination.exists():
        destination.rename(_superseded_path(root, final.subject, final.visit, at))
    staging.rename(destination)
    outputs = _moved(outputs, staging, destination)
    report_json = destination / REPORT_FILE
    report_sha = hashlib.sha256(report_json.read_bytes()).hexdigest()
    with store.write() as session:
        row = study_row(session, study_id, for_update=True)
        newest = latest_versions(session, study_id, signed_only=True).get(row.final_slot) \
            if row.final_slot is not None else None
        if row.state is not ReviewState.FINAL or newest is None or newest.content_sha256 != final.content_sha256:
            # A signature changed the study while this was written; that signature queued its own write.
            destination.rename(_superseded_path(root, final.subject, final.visit, at))
            raise ReviewConflictError(f"study {study_id} changed while its final outputs were written "
                                      f"(now {row.state.value}): they were superseded at once, not sent")
        row.final_folder, row.final_content_sha256, row.updated_at = str(destination), final.content_sha256, at
        written = [outputs.html, outputs.pdf, *(p for p in (outputs.pdf_dicom, outputs.sr) if p), *outputs.segs]
        audit.append(session, audit.SYSTEM_ACTOR if actor is None else actor.username, "final.write",
                     f"study:{study_id}", {"folder": str(destination), "report_sha256": report_sha,
                                           "content_sha256": final.content_sha256,
                                           "final_read": final.review["final_read"],
                                           "files": [str(p.relative_to(destination)) for p in written],
                                           "skipped": list(outputs.skipped)}, now=at)
    return FinalOutputs(destination, report_json, outputs, final.content_sha256, report_sha)

