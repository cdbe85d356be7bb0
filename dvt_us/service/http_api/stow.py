"""STOW-RS (PS3.18 10.5): ``POST /studies`` and ``POST /studies/{study}`` into the DICOM node's instance store.

Each part of the ``multipart/related; type="application/dicom"`` body is taken exactly as a C-STORE is:
checked for what association negotiation would check (SOP class, transfer syntax), then
:meth:`~dvt_us.service.instance_store.InstanceStore.put` (durable write, duplicates, quarantine with a
reason) and the node's ``on_stored`` hand-on (the database record). The body is spooled to one unnamed
temporary file in the data folder first (:mod:`.multipart_related`), so a request over the size limit
stores nothing, and parts are then taken one at a time, off the event loop. Failure and Warning Reasons
come from :mod:`.stow_status` only.
"""

from __future__ import annotations

import errno
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import pydicom
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydicom.dataset import Dataset
from starlette.concurrency import run_in_threadpool

from dvt_us.service.dicom_node import DOCUMENT_STORAGE, IMAGE_STORAGE, IMAGE_TRANSFER_SYNTAXES, NATIVE_TRANSFER_SYNTAXES
from dvt_us.service.dimse_status import hand_on
from dvt_us.service.http_api.multipart_related import BodyPart, PartSpool, related_boundary
from dvt_us.service.http_api.problems import LowDiskError, NotAcceptableError, PayloadTooLargeError
from dvt_us.service.http_api.schemas import StudyUid
from dvt_us.service.http_api.stow_status import (
    OUTCOME_WARNING,
    FailureReason,
    NotDicomPartError,
    StudyMismatchError,
    UnsupportedSopClassError,
    UnsupportedTransferSyntaxError,
    WarningReason,
    rule_for,
)
from dvt_us.service.instance_store import InstanceStore
from dvt_us.service.instances import StoredInstance

log = logging.getLogger(__name__)

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
STOW_SOURCE = "STOW-RS"
"""Recorded as the calling AE title of instances received by STOW-RS (in the database and the quarantine)."""
DEFAULT_MAX_STOW_BYTES = 4 * 1024**3
"""Default limit of one STOW-RS request body (4 GiB): a whole duplex visit with its cines fits."""
LOW_DISK_RETRY_AFTER_S = 300
"""``Retry-After`` (seconds) of the 503 answered when the data folder is below the free-disk watermark."""
ACCEPTED_TRANSFER_SYNTAXES: dict[str, tuple[str, ...]] = {
    **{sop_class: IMAGE_TRANSFER_SYNTAXES for sop_class in IMAGE_STORAGE},
    **{sop_class: NATIVE_TRANSFER_SYNTAXES for sop_class in DOCUMENT_STORAGE},
}
"""SOP class → transfer syntaxes accepted: the DICOM node's presentation contexts."""
_ACCEPTABLE = {DICOM_JSON, "application/json", "application/*", "*/*"}


@dataclass(frozen=True)
class Intake:
    """Where STOW-RS instances go: the DICOM node's store and hand-on, so that both take instances alike.

    Pass the node's own :class:`InstanceStore` (its lock serialises duplicates across the node and the API)
    and its ``on_stored``.
    """

    store: InstanceStore
    on_stored: Callable[[StoredInstance], None]


@dataclass(frozen=True)
class Envelope:
    """What a quick read of a part says about it, before the store's full check."""

    sop_class_uid: str | None
    """Media Storage SOP Class UID (File Meta), else the dataset's SOP Class UID."""
    sop_instance_uid: str | None
    study_instance_uid: str | None
    transfer_syntax_uid: str | None


@dataclass(frozen=True)
class PartResult:
    """What became of one part: stored (with a warning or not), or failed with a reason."""

    part: int
    sop_class_uid: str | None
    sop_instance_uid: str | None
    study_instance_uid: str | None
    failure: FailureReason | None = None
    warning: WarningReason | None = None


def _text(ds: Dataset, keyword: str) -> str | None:
    value = str(ds.get(keyword, "") or "").rstrip("\0 ")
    return value or None


def read_envelope(data: bytes) -> Envelope:
    """The UIDs of a Part 10 file, read up to its pixel data; all None when it cannot be read this far.

    A file that cannot be read is not refused here: :meth:`InstanceStore.put` refuses it with its reason.
    """
    try:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True,
                             specific_tags=["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID"])
    except Exception:  # the store's own parse reports what is wrong
        return Envelope(None, None, None, None)
    meta = ds.get("file_meta", Dataset())
    return Envelope(_text(meta, "MediaStorageSOPClassUID") or _text(ds, "SOPClassUID"), _text(ds, "SOPInstanceUID"),
                    _text(ds, "StudyInstanceUID"), _text(meta, "TransferSyntaxUID"))


def _check(part: BodyPart, envelope: Envelope, study_uid: str | None) -> None:
    """Refuse what a C-STORE association would not accept, and an instance of another study than the target."""
    if part.media_type not in (None, DICOM):
        raise NotDicomPartError(f"part {part.number} is {part.content_type!r}, not {DICOM}")
    sop_class, syntax = envelope.sop_class_uid, envelope.transfer_syntax_uid
    if sop_class is not None and sop_class not in ACCEPTED_TRANSFER_SYNTAXES:
        raise UnsupportedSopClassError(f"SOP class {sop_class} is not accepted")
    if sop_class is not None and syntax is not None and syntax not in ACCEPTED_TRANSFER_SYNTAXES[sop_class]:
        raise UnsupportedTransferSyntaxError(f"transfer syntax {syntax} is not accepted for {sop_class}")
    study = envelope.study_instance_uid
    if study_uid is not None and study is not None and study != study_uid:
        raise StudyMismatchError(f"StudyInstanceUID {study} is not the study posted to ({study_uid})")


def take_part(intake: Intake, part: BodyPart, data: bytes, study_uid: str | None) -> PartResult:
    """Take one part as a C-STORE is taken; never raises (every exception becomes a Failure Reason)."""
    envelope = read_envelope(data)
    try:
        _check(part, envelope, study_uid)
        receipt = intake.store.put(data, STOW_SOURCE, expected_sop_class_uid=envelope.sop_class_uid)
        hand_on(intake.on_stored, receipt.instance)
    except Exception as exc:  # the one place a STOW-RS part's failure becomes a reason (stow_status.RULES)
        return _refuse(intake, exc, part, data, envelope)
    instance = receipt.instance
    log.info("STOW-RS part %d: %s %s (%s, %d bytes)", part.number, instance.sop_instance_uid, receipt.outcome.value,
             instance.transfer_syntax_uid, instance.size_bytes)
    return PartResult(part.number, instance.sop_class_uid, instance.sop_instance_uid, instance.study_instance_uid,
                      warning=OUTCOME_WARNING[receipt.outcome])


def _refuse(intake: Intake, exc: Exception, part: BodyPart, data: bytes, envelope: Envelope) -> PartResult:
    rule = rule_for(exc)
    quarantined = intake.store.quarantine_or_log(data, str(exc), STOW_SOURCE) if rule.quarantine and data else ""
    unexpected = rule.exception is Exception
    log.log(logging.ERROR if unexpected else logging.WARNING, "STOW-RS part %d (%s): 0x%04X %s: %s%s", part.number,
            envelope.sop_instance_uid, rule.reason, rule.reason.name, exc, quarantined, exc_info=unexpected)
    return PartResult(part.number, envelope.sop_class_uid, envelope.sop_instance_uid, envelope.study_instance_uid,
                      failure=rule.reason)


def _take_all(intake: Intake, spool: PartSpool, study_uid: str | None) -> list[PartResult]:
    return [take_part(intake, part, spool.read(part), study_uid) for part in spool.parts]


def _reference(result: PartResult) -> Dataset:
    """The item of the Failed or Referenced SOP Sequence for ``result``."""
    item = Dataset()
    item.ReferencedSOPClassUID = result.sop_class_uid or ""
    item.ReferencedSOPInstanceUID = result.sop_instance_uid or ""
    if result.failure is not None:
        item.FailureReason = int(result.failure)
    else:
        item.RetrieveURL = None  # type 2: dvt-us has no per-instance retrieval
        if result.warning is not None:
            item.WarningReason = int(result.warning)
    return item


def store_response(results: Sequence[PartResult], study_url: Callable[[str], str],
                   study_uid: str | None) -> tuple[HTTPStatus, dict[str, Any]]:
    """The HTTP status and the Store Instances Response (PS3.18 Annex I) as DICOM JSON.

    200 all stored without warnings, 202 some stored and some failed or warned, 409 none stored. The
    Retrieve URL (0008,1190) is ``study_url`` of the study posted to, or of the one study stored (empty
    when the request held several).
    """
    stored = [r for r in results if r.failure is None]
    failed = [r for r in results if r.failure is not None]
    studies = {r.study_instance_uid or "" for r in stored} if study_uid is None else {study_uid}
    ds = Dataset()
    ds.RetrieveURL = study_url(next(iter(studies))) if len(studies) == 1 and "" not in studies else None
    if failed:
        ds.FailedSOPSequence = [_reference(r) for r in failed]
    if stored:
        ds.ReferencedSOPSequence = [_reference(r) for r in stored]
    if not stored:
        status = HTTPStatus.CONFLICT
    elif failed or any(r.warning is not None for r in stored):
        status = HTTPStatus.ACCEPTED
    else:
        status = HTTPStatus.OK
    return status, ds.to_json_dict()


def _check_accept(header: str | None) -> None:
    if header is None or not header.strip():
        return
    ranges = {item.split(";")[0].strip().lower() for item in header.split(",")}
    if not ranges & _ACCEPTABLE:
        raise NotAcceptableError(f"Accept {header!r}: STOW-RS answers {DICOM_JSON} only")


def _check_free_disk(store: InstanceStore, min_free_disk_mb: float) -> None:
    try:
        free_disk_mb = store.free_disk_mb()
    except OSError:
        log.exception("free disk of %s cannot be read; counted as none", store.root)
        free_disk_mb = 0.0
    if free_disk_mb < min_free_disk_mb:
        log.warning("STOW-RS refused: %.0f MiB free in %s, below %s MiB", free_disk_mb, store.root, min_free_disk_mb)
        raise LowDiskError(f"the data folder has less than {min_free_disk_mb} MiB free; try again later",
                           retry_after_s=LOW_DISK_RETRY_AFTER_S)


def _declared_length(request: Request, max_bytes: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLargeError(f"Content-Length {declared} is over the limit of {max_bytes} bytes")


STOW_OPENAPI: dict[str, Any] = {"requestBody": {"required": True, "content": {
    f'multipart/related; type="{DICOM}"': {"schema": {"type": "string", "format": "binary"}}},
    "description": "one DICOM Part 10 file per part"}}
STOW_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {DICOM_JSON: {}}, "description": "every instance stored"},
    202: {"content": {DICOM_JSON: {}}, "description": "some stored; the others failed or were stored with warnings"},
    409: {"content": {DICOM_JSON: {}}, "description": "none stored; FailedSOPSequence says why"},
    **{code: {"description": HTTPStatus(code).phrase} for code in (400, 406, 413, 415)},
}


def add_stow_routes(app: FastAPI, intake: Intake, *, min_free_disk_mb: float, max_bytes: int) -> None:
    """``POST /studies`` and ``POST /studies/{study_uid}`` (STOW-RS) into ``intake``.

    Refused before the body is read: an Accept without ``application/dicom+json`` (406), another Content-Type
    (415), a Content-Length over ``max_bytes`` (413), free disk below ``min_free_disk_mb`` (503 with
    Retry-After). A body that grows over ``max_bytes`` is refused (413) with nothing stored.
    """

    async def store(request: Request, study_uid: str | None) -> JSONResponse:
        _check_accept(request.headers.get("accept"))
        boundary = related_boundary(request.headers.get("content-type"), DICOM)
        _declared_length(request, max_bytes)
        _check_free_disk(intake.store, min_free_disk_mb)
        with PartSpool(intake.store.root) as spool:
            try:
                await spool.fill(request.stream(), boundary, max_bytes)
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                raise LowDiskError("the data folder filled up while the request arrived; try again later",
                                   retry_after_s=LOW_DISK_RETRY_AFTER_S) from exc
            results = await run_in_threadpool(_take_all, intake, spool, study_uid)
        base = str(request.base_url).rstrip("/")
        status, body = store_response(results, lambda uid: f"{base}/studies/{uid}", study_uid)
        log.info("STOW-RS %s: %d parts, %d failed: HTTP %d", request.url.path, len(results),
                 sum(r.failure is not None for r in results), status)
        return JSONResponse(body, status, media_type=DICOM_JSON)

    async def store_instances(request: Request) -> JSONResponse:
        """Store the instances of the body (STOW-RS); the response says which were stored and why others were not."""
        return await store(request, None)

    async def store_study_instances(request: Request, study_uid: StudyUid) -> JSONResponse:
        """Store the instances of the body in one study; an instance of another study fails (0xC409)."""
        return await store(request, study_uid)

    for path, handler in (("/studies", store_instances), ("/studies/{study_uid}", store_study_instances)):
        app.add_api_route(path, handler, methods=["POST"], tags=["studies"], response_class=JSONResponse,
                          openapi_extra=STOW_OPENAPI, responses=STOW_RESPONSES, name=handler.__name__)
