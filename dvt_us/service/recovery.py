"""Crash recovery at start-up: instances on disk but not in the database, and jobs of a process that died.

An acknowledged C-STORE is on disk (:mod:`dvt_us.service.instance_store`) before ``on_stored`` records it in
the database, so a ``kill -9`` between the two leaves an instance the database never learns of.
:func:`reconcile_instances` finds such files and records them. A job claimed by a process that died stays
``running`` until its heartbeat is older than ``jobs.stale_after_s``; :func:`recover_jobs` queues again, at
once, the running jobs of this host's worker processes that no longer exist.

Both run at start-up, after ``Database.upgrade()`` and before the job loop and the DICOM node start
(``docs/recovery.md``).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError
from sqlalchemy import select, update

from dvt_us.ingest.problems import ProblemCode
from dvt_us.service.db import Database, EventKind, JobState
from dvt_us.service.db.engine import READ_ONLY
from dvt_us.service.db.models import InstanceRow, JobRow
from dvt_us.service.instance_store import InstanceStore, InvalidInstanceError, is_safe_uid
from dvt_us.service.instances import StoredInstance
from dvt_us.service.receive_spool import remove_idle

log = logging.getLogger(__name__)

RECOVERED_CALLING_AE_TITLE = "UNKNOWN"
"""Calling AE title recorded for a recovered instance whose File Meta has no Source Application Entity Title.

The node writes the calling AE into (0002,0016) of every file it stores, so this appears only for files put
into ``instances/`` by other means.
"""

RECONCILED_EVENT = "instances.reconciled"
"""Event written when :func:`reconcile_instances` recorded or quarantined something."""
STALE_TEMPORARY_S = 3600.0
"""A hidden ``.incoming-*.part`` file nothing has written to for this long is a leftover, not a write in
progress (a store renames its temporary file within moments of its last write), and is deleted."""


@dataclass(frozen=True)
class _Candidate:
    """A file ``instances/<study>/<series>/<sop>.dcm`` and the SOP Instance UID its name gives."""

    path: Path
    sop_instance_uid: str


def _subfolders(folder: Path) -> Iterator[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        yield from (e for e in entries if not e.name.startswith(".") and e.is_dir(follow_symlinks=False))


def _candidates(instances_dir: Path) -> tuple[list[_Candidate], list[Path]]:
    """Every ``.dcm`` three levels down, and the hidden files passed (``.incoming-*.part`` temporaries).

    Names only: no file is opened or stat'ed here (``DirEntry`` types come from the directory listing).
    """
    found: list[_Candidate] = []
    hidden: list[Path] = []
    for study in _subfolders(instances_dir):
        for series in _subfolders(Path(study.path)):
            with os.scandir(series.path) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        hidden.append(Path(entry.path))
                    elif entry.name.endswith(".dcm") and entry.is_file(follow_symlinks=False):
                        found.append(_Candidate(Path(entry.path), entry.name.removesuffix(".dcm")))
                    else:
                        log.warning("reconcile: %s is not an instance file; left alone", entry.path)
    return found, hidden


def _known_sop_instance_uids(db: Database) -> set[str]:
    """Every SOP Instance UID in the ``instances`` table: one read-only query."""
    with db.engine.execution_options(**{READ_ONLY: True}).connect() as connection:
        return set(connection.scalars(select(InstanceRow.sop_instance_uid)))


def _header_uid(ds: pydicom.Dataset, keyword: str, expected: str | None = None) -> str:
    value = str(ds.get(keyword, "") or "").rstrip("\0 ")
    if not value:
        raise InvalidInstanceError(ProblemCode.MISSING_UID, f"no {keyword}")
    if not is_safe_uid(value):
        raise InvalidInstanceError(ProblemCode.BAD_ATTRIBUTE, f"{keyword} {value[:80]!r} is not a UID")
    if expected is not None and value != expected:
        raise InvalidInstanceError(ProblemCode.BAD_ATTRIBUTE,
                                   f"{keyword} {value} but the file is stored as {expected}")
    return value


def read_stored_instance(candidate_path: Path, instances_dir: Path, now: datetime) -> StoredInstance:
    """The :class:`StoredInstance` of a file in the store, from its header only (pixel data is not read).

    Parameters
    ----------
    candidate_path
        ``<instances_dir>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``.
    instances_dir
        The store's ``instances/`` folder.
    now
        Recorded as ``received_at`` (timezone-aware): the recovery time, so the study's idle clock restarts
        and senders have ``jobs.study_idle_s`` to send again what was not acknowledged.

    Raises
    ------
    InvalidInstanceError
        Not a Part 10 file, a UID missing or not a UID, or UIDs that differ from the ones the path names.
    OSError
        The file cannot be read.
    """
    relative = candidate_path.relative_to(instances_dir)
    study, series, name = relative.parts
    try:
        ds = pydicom.dcmread(candidate_path, stop_before_pixels=True)
    except InvalidDicomError as exc:
        raise InvalidInstanceError(ProblemCode.NOT_DICOM, f"not a DICOM Part 10 file: {exc}") from exc
    except OSError:
        raise
    except Exception as exc:  # any parser failure becomes a quoted reason (as in instance_store.inspect)
        raise InvalidInstanceError(ProblemCode.UNREADABLE, f"{type(exc).__name__}: {exc}") from exc
    meta = ds.file_meta
    calling_ae = str(meta.get("SourceApplicationEntityTitle", "") or "").strip() or RECOVERED_CALLING_AE_TITLE
    return StoredInstance(
        sop_instance_uid=_header_uid(ds, "SOPInstanceUID", name.removesuffix(".dcm")),
        sop_class_uid=_header_uid(ds, "SOPClassUID"),
        study_instance_uid=_header_uid(ds, "StudyInstanceUID", study),
        series_instance_uid=_header_uid(ds, "SeriesInstanceUID", series),
        transfer_syntax_uid=_header_uid(meta, "TransferSyntaxUID"),
        path=candidate_path, size_bytes=candidate_path.stat().st_size, calling_ae_title=calling_ae[:16],
        received_at=now,
    )


def _quarantine(store: InstanceStore, path: Path, reason: str) -> bool:
    """Move a damaged file from ``instances/`` into the quarantine; False (file left in place) if unreadable."""
    try:
        data = path.read_bytes()
        store.quarantine(data, f"{reason} (found in the instance store at {path} by start-up reconciliation)",
                         RECOVERED_CALLING_AE_TITLE)
        path.unlink()
    except OSError as exc:
        log.error("reconcile: %s is damaged (%s) and could not be quarantined: %s; left in place", path, reason, exc)
        return False
    return True


def _warn_if_already_queued(db: Database, study_uids: set[str]) -> None:
    """A study that gained instances after a job was queued for it: say that it is analysed again.

    The job loop queues a finished job again once its study has been idle (``Database.requeue_grown``); a
    job still queued or running reads the study's instances when it is (re)claimed.
    """
    if not study_uids:
        return
    query = select(JobRow.study_instance_uid, JobRow.id).where(JobRow.study_instance_uid.in_(sorted(study_uids)))
    with db.engine.execution_options(**{READ_ONLY: True}).connect() as connection:
        for study_uid, job_id in connection.execute(query):
            log.warning("reconcile: study %s gained instances recovered from disk after job %d was queued for it; "
                        "the study is analysed again once idle", study_uid, job_id)


def reconcile_instances(store: InstanceStore, db: Database, now: datetime,
                        stale_after_s: float = STALE_TEMPORARY_S) -> int:
    """Record every instance file of the store that the database does not know; how many were recorded.

    Parameters
    ----------
    store
        The instance store; its ``instances/`` folder is scanned. Hidden ``.incoming-*.part`` files are
        writes that were never acknowledged: passed over, and deleted once nothing has written to them for
        ``stale_after_s`` seconds (a younger one may be a write in progress).
    db
        The migrated database.
    now
        When this runs (timezone-aware UTC); recorded as the recovered instances' ``received_at``.

    Returns
    -------
    int
        Instances recorded now (``Database.record_instance`` returned True).

    Notes
    -----
    Fast for many files: the folder is listed by name (``os.scandir``, no stat), the known SOP Instance UIDs
    are read in one query, and only the files whose name is not among them are opened, header only
    (``stop_before_pixels``). A file that is not a readable instance, or whose UIDs differ from the ones its
    path names, is moved to the quarantine (``quarantine/*.dcm`` + ``.json`` with the reason) so that it is
    neither analysed nor met again at the next start; one that cannot even be read is logged and left.
    Run it before the DICOM node starts (one process per data folder); run concurrently with a node it is
    still correct, as ``record_instance`` ignores an instance recorded meanwhile.
    """
    candidates, hidden = _candidates(store.instances_dir)
    known = _known_sop_instance_uids(db)
    missing = [c for c in candidates if c.sop_instance_uid not in known]
    added, quarantined, unreadable = 0, 0, 0
    studies: set[str] = set()
    for candidate in missing:
        try:
            instance = read_stored_instance(candidate.path, store.instances_dir, now)
        except InvalidInstanceError as exc:
            if _quarantine(store, candidate.path, str(exc)):
                quarantined += 1
            else:
                unreadable += 1
            continue
        except OSError as exc:
            log.error("reconcile: cannot read %s: %s; left in place", candidate.path, exc)
            unreadable += 1
            continue
        if db.record_instance(instance):
            added += 1
            studies.add(instance.study_instance_uid)
    if hidden:
        # None was acknowledged (a C-STORE is answered after the rename), and one linked from the spool would
        # otherwise keep a received dataset on disk for good.
        temporaries = (p for p in hidden if p.name.startswith(".incoming-") and p.name.endswith(".part"))
        removed = remove_idle(temporaries, stale_after_s)
        log.info("reconcile: %d hidden temporary file(s) in %s passed over (writes never acknowledged), %d of "
                 "them stale and deleted", len(hidden), store.instances_dir, removed)
    if added or quarantined or unreadable:
        log.warning("reconcile: %d instance(s) on disk were not in the database and are recorded now "
                    "(%d studies); %d damaged file(s) quarantined, %d unreadable", added, len(studies),
                    quarantined, unreadable)
        db.add_event(RECONCILED_EVENT, {"added": added, "studies": len(studies), "quarantined": quarantined,
                                        "unreadable": unreadable, "scanned": len(candidates)}, now)
    _warn_if_already_queued(db, studies)
    return added


def host_worker_prefix() -> str:
    """``"<hostname>:"``: how the names of this host's workers begin."""
    return f"{socket.gethostname()}:"


def worker_name() -> str:
    """The worker name of the calling process, ``"<hostname>:<pid>"`` (as ``Service.start`` names its runner)."""
    return f"{host_worker_prefix()}{os.getpid()}"


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _is_dead_worker(worker: str, prefix: str) -> bool:
    """Whether ``worker`` names a process of this host (``<prefix><pid>``) that is gone, or is this process."""
    pid = worker.removeprefix(prefix)
    if not pid.isdigit():
        return False
    return int(pid) == os.getpid() or not _process_exists(int(pid))


def recover_jobs(db: Database, worker_prefix: str, now: datetime) -> list[int]:
    """Queue again, now, the running jobs of this host's worker processes that no longer exist.

    Parameters
    ----------
    db
        The migrated database.
    worker_prefix
        How this host's worker names begin (:func:`host_worker_prefix`, ``"<hostname>:"``); a worker name is
        ``<prefix><pid>``.
    now
        When this runs (timezone-aware UTC).

    Returns
    -------
    list of int
        The ids queued again. A job that has used all its attempts (``Database.max_attempts``) is failed
        instead, as :meth:`Database.requeue_stale` does; it is not in the list.

    Notes
    -----
    A running job is taken back when its worker's process id does not exist on this host, or is this
    process's own id (a predecessor with the same pid, e.g. pid 1 in a restarted container: this process
    has claimed nothing yet). So call it at start-up, before this process's job runner claims anything.
    Jobs of live processes (another ``dvt-us serve`` or ``dvt-us reprocess`` on this host) and of other
    hosts are left to the heartbeat check (``Database.requeue_stale`` after ``jobs.stale_after_s``).
    The process check assumes that the hostname names one process-id namespace, which holds for a host
    and for containers with their own hostname.
    """
    prefix_match = JobRow.worker.startswith(worker_prefix, autoescape=True)
    error = "worker lost: its process was gone when the service started again"
    taken: list[tuple[int, str, JobState]] = []
    with db.sessions() as session, session.begin():
        running = session.execute(select(JobRow.id, JobRow.worker, JobRow.attempts, JobRow.study_instance_uid)
                                  .where(JobRow.state == JobState.RUNNING, prefix_match)).all()
        for job_id, worker, attempts, study_uid in running:
            if worker is None or not _is_dead_worker(worker, worker_prefix):
                continue
            state = JobState.QUEUED if attempts < db.max_attempts else JobState.FAILED
            values = ({"worker": None, "started_at": None, "heartbeat_at": None} if state is JobState.QUEUED
                      else {"finished_at": now})
            changed = session.execute(update(JobRow).where(JobRow.id == job_id, JobRow.state == JobState.RUNNING,
                                                           JobRow.worker == worker)
                                      .values(state=state, error=error, **values).returning(JobRow.id)).first()
            if changed is not None:
                taken.append((job_id, study_uid, state))
    for job_id, study_uid, state in taken:  # after the commit: the event log has its own ordered transaction
        kind = EventKind.JOB_REQUEUED if state is JobState.QUEUED else EventKind.JOB_FAILED
        db.add_event(kind, {"error": error, "recovered_at_start_up": True}, now, study_uid=study_uid, job_id=job_id)
        log.warning("job %d (study %s) was running in a process that is gone: %s", job_id, study_uid,
                    "queued again" if state is JobState.QUEUED else "failed (no attempts left)")
    return [job_id for job_id, _study, state in taken if state is JobState.QUEUED]
