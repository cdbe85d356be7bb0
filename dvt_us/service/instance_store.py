"""The durable instance store behind the DICOM node: every acknowledged instance is a fsync'ed file.

Layout under ``root``::

    instances/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm
    quarantine/<UTC time>-<uuid>.dcm   (+ .json: reason, calling AE, size, time, sha256)
    spool/                             C-STORE datasets while they arrive (not acknowledged yet)

A file is written to a temporary name in its destination folder, flushed and fsync'ed, renamed into place
with :func:`os.replace`, and the folder is fsync'ed (folders created on the way are fsync'ed in their
parents too). A received dataset whose spooled file already holds what is to be stored gets that temporary
name by a hard link instead of a copy. Only then does :meth:`InstanceStore.put` return, so a caller that
acknowledges afterwards acknowledges what is on disk.

Only cheap checks happen here (the file parses, its UIDs are present and valid, its SOP Class is the one
expected); whether an instance can be analysed is decided later by :func:`dvt_us.ingest.read_clip`, off the
association thread.
"""

from __future__ import annotations

import dataclasses
import enum
import errno
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.uid import DeflatedExplicitVRLittleEndian
from pydicom.valuerep import VR as VR_

from dvt_us.ingest.problems import ProblemCode
from dvt_us.service.instances import StoredInstance

LOGGER = logging.getLogger(__name__)

MAX_UID_CHARS = 64
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_REQUIRED_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
_OUT_OF_SPACE = {errno.ENOSPC, errno.EDQUOT}
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}
"""Why a hard link may be refused where a copy would work (another file system, a file system without links)."""
UNDEFINED_LENGTH = 0xFFFFFFFF


class InvalidInstanceError(Exception):
    """Received data that is not a storable instance; it is quarantined, never stored.

    Parameters
    ----------
    code
        Why, as one of the ingest problem codes (``not-dicom``, ``unreadable``, ``missing-uid``,
        ``bad-attribute``).
    message
        Why, naming the attribute and quoting the bad value.
    """

    def __init__(self, code: ProblemCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message


class SopClassMismatchError(InvalidInstanceError):
    """The dataset's SOP Class UID is not the one it was sent (or expected) as."""

    def __init__(self, message: str) -> None:
        super().__init__(ProblemCode.BAD_ATTRIBUTE, message)


class StorageFullError(OSError):
    """The data folder ran out of space (or quota) while writing; nothing was stored."""


class StoreOutcome(enum.Enum):
    """What :meth:`InstanceStore.put` did with an instance."""

    STORED = "stored"
    """A new instance, now on disk."""
    DUPLICATE = "duplicate"
    """Already stored with the same encoded dataset: nothing written, the first file kept."""
    CONFLICTING_DUPLICATE = "conflicting-duplicate"
    """Already stored with a different encoded dataset: the first file kept, this copy quarantined."""


@dataclass(frozen=True)
class InstanceHeader:
    """The identifying UIDs of a Part 10 file, checked, and where its dataset starts."""

    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    dataset_offset: int
    """Byte offset of the dataset after the preamble and File Meta Information."""


@dataclass(frozen=True)
class StoreReceipt:
    """The stored instance, what happened to it, and where a conflicting copy went."""

    instance: StoredInstance
    outcome: StoreOutcome
    quarantined: Path | None = None
    """The quarantined copy of a :attr:`StoreOutcome.CONFLICTING_DUPLICATE`; ``None`` otherwise."""


@dataclass(frozen=True)
class _Incoming:
    """A received copy, for comparing it with a stored one: its dataset, streamed, and (to quarantine) the whole."""

    open: Callable[[], BinaryIO]
    """A new binary reader of the Part 10 data."""
    dataset_offset: int
    whole: Callable[[], bytes]
    """The Part 10 file as it would be stored (only a conflicting copy is read whole, to quarantine it)."""


COMPARE_CHUNK = 1 << 20


def _same_bytes(first: BinaryIO, second: BinaryIO) -> bool:
    """Whether two readers hold the same bytes from where they stand to their ends, read a MiB at a time."""
    while True:
        a, b = first.read(COMPARE_CHUNK), second.read(COMPARE_CHUNK)
        if a != b:
            return False
        if not a:
            return True


def is_safe_uid(value: str) -> bool:
    """Whether ``value`` is a UID that can name a file: digits and single dots, at most 64 characters."""
    return len(value) <= MAX_UID_CHARS and _UID.fullmatch(value) is not None


def _uid(ds: Dataset, keyword: str) -> str:
    value = str(ds.get(keyword, "") or "").rstrip("\0 ")
    if not value:
        raise InvalidInstanceError(ProblemCode.MISSING_UID, f"no {keyword}")
    if not is_safe_uid(value):
        raise InvalidInstanceError(ProblemCode.BAD_ATTRIBUTE,
                                   f"{keyword} {value[:80]!r} is not a UID (digits and dots, at most {MAX_UID_CHARS})")
    return value


DEFER_BYTES = 64 * 1024
"""Values longer than this (pixel data, mostly) are not read by :func:`inspect`; their extent is checked."""


def _is_sequence(raw: RawDataElement) -> bool:
    """Whether ``raw`` holds a sequence (its VR, or under implicit VR the data dictionary's, says SQ)."""
    if raw.VR is not None:
        return bool(raw.VR == VR_.SQ)
    try:
        return bool(dictionary_VR(raw.tag) == VR_.SQ)
    except KeyError:  # a private or unknown tag under implicit VR: its bytes, not items
        return False


def _decode_all(ds: Dataset, size: int | None) -> None:
    """Decode every element of ``ds``, sequences included, except long non-sequence values; check every extent.

    ``size``: of the file the dataset was read from, which a deferred value must lie in; None where the
    offsets are of another stream (a deflated dataset is inflated in memory).
    """
    for tag in list(ds.keys()):
        raw: DataElement | RawDataElement = ds.get_item(tag, keep_deferred=True)  # typed as DataElement only
        if isinstance(raw, RawDataElement):
            if size is not None and raw.length != UNDEFINED_LENGTH and raw.value_tell + raw.length > size:
                raise ValueError(f"{raw.tag} is {raw.length} bytes from offset {raw.value_tell}, past the end of "
                                 f"the {size}-byte file (truncated?)")
            if raw.value is None and raw.length and not _is_sequence(raw):
                continue  # deferred: not read (an undefined-length one was scanned up to its delimiter)
        element = ds[tag]
        if element.VR == VR_.SQ:
            for item in element.value:
                _decode_all(item, size)


def _inspect(fp: BinaryIO, size: int) -> InstanceHeader:
    try:
        ds = pydicom.dcmread(fp, force=False, defer_size=DEFER_BYTES)
        deflated = ds.file_meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian
        _decode_all(ds, None if deflated else size)
        fp.seek(0)
        read_preamble(fp, force=False)
        _read_file_meta_info(fp)
        offset = fp.tell()
    except InvalidDicomError as exc:
        raise InvalidInstanceError(ProblemCode.NOT_DICOM, f"not a DICOM Part 10 file: {exc}") from exc
    except Exception as exc:  # any parser failure becomes a quoted reason
        raise InvalidInstanceError(ProblemCode.UNREADABLE, f"{type(exc).__name__}: {exc}") from exc
    uids = {keyword: _uid(ds, keyword) for keyword in _REQUIRED_UIDS}
    meta = ds.file_meta
    transfer_syntax = str(meta.get("TransferSyntaxUID", "") or "").rstrip("\0 ")
    if not is_safe_uid(transfer_syntax):
        raise InvalidInstanceError(ProblemCode.BAD_ATTRIBUTE, f"TransferSyntaxUID {transfer_syntax[:80]!r}")
    media_instance = str(meta.get("MediaStorageSOPInstanceUID", "") or "").rstrip("\0 ")
    if media_instance and media_instance != uids["SOPInstanceUID"]:
        raise InvalidInstanceError(ProblemCode.BAD_ATTRIBUTE,
                                   f"SOPInstanceUID {uids['SOPInstanceUID']} differs from the one it was sent as "
                                   f"({media_instance})")
    return InstanceHeader(
        sop_class_uid=uids["SOPClassUID"], sop_instance_uid=uids["SOPInstanceUID"],
        study_instance_uid=uids["StudyInstanceUID"], series_instance_uid=uids["SeriesInstanceUID"],
        transfer_syntax_uid=transfer_syntax, dataset_offset=offset,
    )


def inspect(data: bytes) -> InstanceHeader:
    """Parse a Part 10 file and check what the store needs; raise :class:`InvalidInstanceError` if it cannot.

    Every element (sequences included) is decoded once, so a garbled value is found here rather than by a
    worker later. Pixel data is neither decoded nor copied: a long value is skipped, its extent checked.
    """
    return _inspect(io.BytesIO(data), len(data))


def inspect_file(path: Path) -> InstanceHeader:
    """:func:`inspect` of a Part 10 file on disk, reading its elements but not its long values."""
    with path.open("rb") as fp:
        return _inspect(fp, os.fstat(fp.fileno()).st_size)


def _fsync_path(path: Path, flags: int = 0) -> None:
    """Flush a file (or, with ``O_DIRECTORY``, a folder) to disk by name (fsync)."""
    fd = os.open(path, os.O_RDONLY | flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    _fsync_path(path, getattr(os, "O_DIRECTORY", 0))


def _makedirs_durably(path: Path) -> None:
    """Create ``path`` and its missing parents; fsync each parent that gained an entry."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        _fsync_dir(folder.parent)


def _raise_if_full(exc: OSError) -> None:
    if exc.errno in _OUT_OF_SPACE:
        raise StorageFullError(exc.errno, f"data folder full: {exc.strerror}") from exc


def _write_temporary(folder: Path, data: bytes | Callable[[BinaryIO], None]) -> Path:
    """A new hidden file in ``folder`` holding ``data`` (or what ``data(file)`` writes), flushed and fsync'ed."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=".incoming-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, bytes):
                fh.write(data)
            else:
                data(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        Path(name).unlink(missing_ok=True)
        _raise_if_full(exc)
        raise
    return Path(name)


def _linked_temporary(folder: Path, source: Path) -> Path | None:
    """A new hidden name in ``folder`` for the file ``source`` (a hard link), fsync'ed; None where no link can be made.

    ``source`` must lie on the same file system as ``folder`` and be complete (the writer has flushed it).
    """
    name = folder / f".incoming-{uuid.uuid4().hex}.part"
    try:
        os.link(source, name)
    except OSError as exc:
        if exc.errno in _NO_LINK:
            return None
        _raise_if_full(exc)
        raise
    try:
        _fsync_path(name)
    except OSError as exc:
        name.unlink(missing_ok=True)
        _raise_if_full(exc)
        raise
    return name


def _starts_with(path: Path, head: bytes) -> bool:
    with path.open("rb") as fh:
        return fh.read(len(head)) == head


def _copy_range(source: BinaryIO, target: BinaryIO, offset: int, count: int) -> None:
    """``count`` bytes of ``source`` from ``offset`` appended to ``target``, copied by the kernel where it can."""
    target.flush()
    position, left = offset, count
    try:
        if not hasattr(os, "copy_file_range"):  # not Linux
            raise OSError(errno.ENOSYS, "no copy_file_range here")
        while left:
            copied = os.copy_file_range(source.fileno(), target.fileno(), left, position)
            if copied == 0:
                raise OSError(errno.EIO, f"{source.name}: ended {left} bytes early")
            position, left = position + copied, left - copied
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
        source.seek(position)
        shutil.copyfileobj(source, target, length=1 << 20)  # another file system: copy through user space


def _head_and_tail(head: bytes, source: Path, offset: int) -> Callable[[BinaryIO], None]:
    """A writer of ``head`` followed by ``source`` from ``offset`` to its end (for :func:`_write_temporary`)."""

    def write(target: BinaryIO) -> None:
        target.write(head)
        with source.open("rb") as src:
            _copy_range(src, target, offset, os.fstat(src.fileno()).st_size - offset)

    return write


def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably (temporary file, fsync, rename, fsync folder)."""
    try:
        _makedirs_durably(path.parent)
        temporary = _write_temporary(path.parent, data)
        os.replace(temporary, path)
        _fsync_dir(path.parent)
    except StorageFullError:
        raise
    except OSError as exc:
        _raise_if_full(exc)
        raise


def _read_all(data: bytes | BinaryIO) -> bytes:
    return data if isinstance(data, bytes) else data.read()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class InstanceStore:
    """Received instances on disk, one file per SOP Instance UID, and a quarantine for what was refused.

    Parameters
    ----------
    root
        The data folder; ``instances/`` and ``quarantine/`` are created in it.

    Notes
    -----
    Safe to use from many association threads at once: the check for an existing SOP Instance UID and the
    rename into place happen under one lock, so two copies of one instance arriving together leave exactly
    one file. One process per data folder.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.instances_dir = self.root / "instances"
        self.quarantine_dir = self.root / "quarantine"
        self.spool_dir = self.root / "spool"
        """Datasets being received (:mod:`dvt_us.service.receive_spool`); nothing here is acknowledged."""
        _makedirs_durably(self.instances_dir)
        _makedirs_durably(self.quarantine_dir)
        self._lock = threading.Lock()

    def path_for(self, header: InstanceHeader) -> Path:
        """Where an instance lives: ``instances/<Study>/<Series>/<SOPInstance>.dcm``.

        The UIDs were checked by :func:`inspect`; the resolved path is checked again to lie in ``instances/``.
        """
        path = (self.instances_dir / header.study_instance_uid / header.series_instance_uid
                / f"{header.sop_instance_uid}.dcm")
        if not path.resolve().is_relative_to(self.instances_dir):
            raise InvalidInstanceError(ProblemCode.BAD_ATTRIBUTE, f"UIDs lead outside the store: {path}")
        return path

    def store(self, data: bytes | BinaryIO, calling_ae_title: str) -> StoredInstance:
        """Store a Part 10 file durably; see :meth:`put`, of which this returns the instance only."""
        return self.put(data, calling_ae_title).instance

    def put(self, data: bytes | BinaryIO, calling_ae_title: str, *,
            expected_sop_class_uid: str | None = None) -> StoreReceipt:
        """Check and store one Part 10 file; return once it is on disk.

        Parameters
        ----------
        data
            The whole Part 10 file (preamble, File Meta Information, dataset), as bytes or a binary file.
        calling_ae_title
            Who sent it (recorded in the returned instance and in the quarantine).
        expected_sop_class_uid
            The SOP Class the instance was sent as (the presentation context's abstract syntax), if any.

        Returns
        -------
        StoreReceipt
            The instance and the outcome. A second copy of a stored SOP Instance UID writes nothing and
            comes back ``duplicate=True`` with the first file's path; if its encoded dataset differs from
            the first (content or transfer syntax), the first is kept, the copy is quarantined and logged,
            and the outcome is :attr:`StoreOutcome.CONFLICTING_DUPLICATE`.

        Raises
        ------
        InvalidInstanceError
            Not parseable, a required UID missing or not a UID (``../`` included), or the SOP Class is not
            the expected one (:class:`SopClassMismatchError`). Nothing is written; the caller quarantines.
        StorageFullError
            The disk filled up while writing; nothing is stored.
        """
        raw = _read_all(data)
        header = inspect(raw)
        self._check_sop_class(header, expected_sop_class_uid)
        path = self.path_for(header)
        incoming = _Incoming(lambda: io.BytesIO(raw), header.dataset_offset, lambda: raw)
        if path.exists():
            return self._duplicate(incoming, header, path, calling_ae_title)
        temporary = self._temporary(path, lambda folder: _write_temporary(folder, raw))
        return self._commit(temporary, header, path, len(raw), calling_ae_title=calling_ae_title, incoming=incoming)

    def put_spooled(self, spooled: Path, file_meta: bytes, calling_ae_title: str, *,
                    expected_sop_class_uid: str | None = None) -> StoreReceipt:
        """:meth:`put` for a received instance spooled to a Part 10 file: the DICOM node's way, for big cines.

        The stored file is ``file_meta`` (preamble, ``DICM`` and the encoded File Meta Information, which replace
        the spooled file's) followed by the spooled file's dataset. When the spooled file already begins with
        ``file_meta`` (as the node spools), it is linked into place and nothing is copied; else the dataset
        is copied by the kernel. Either way the pixel data is neither read into memory nor copied in Python,
        and ``spooled`` is left where it is.
        """
        header = inspect_file(spooled)
        self._check_sop_class(header, expected_sop_class_uid)
        path = self.path_for(header)
        stored = dataclasses.replace(header, dataset_offset=len(file_meta))

        def whole() -> bytes:
            return file_meta + spooled.read_bytes()[header.dataset_offset:]

        incoming = _Incoming(lambda: spooled.open("rb"), header.dataset_offset, whole)
        if path.exists():
            return self._duplicate(incoming, stored, path, calling_ae_title)
        adopt = header.dataset_offset == len(file_meta) and _starts_with(spooled, file_meta)

        def write(folder: Path) -> Path:
            linked = _linked_temporary(folder, spooled) if adopt else None
            return linked or _write_temporary(folder, _head_and_tail(file_meta, spooled, header.dataset_offset))

        temporary = self._temporary(path, write)
        size = temporary.stat().st_size
        return self._commit(temporary, stored, path, size, calling_ae_title=calling_ae_title, incoming=incoming)

    @staticmethod
    def _check_sop_class(header: InstanceHeader, expected_sop_class_uid: str | None) -> None:
        if expected_sop_class_uid is not None and header.sop_class_uid != expected_sop_class_uid:
            raise SopClassMismatchError(f"SOPClassUID {header.sop_class_uid} but sent as {expected_sop_class_uid}")

    @staticmethod
    def _temporary(path: Path, write: Callable[[Path], Path]) -> Path:
        """The instance written, fsync'ed, to a hidden temporary file in its destination folder."""
        try:
            _makedirs_durably(path.parent)
            return write(path.parent)
        except OSError as exc:
            _raise_if_full(exc)
            raise

    def _commit(self, temporary: Path, header: InstanceHeader, path: Path, size: int, *, calling_ae_title: str,
                incoming: _Incoming) -> StoreReceipt:
        """Rename the temporary file into place (unless another association stored it first), fsync the folder."""
        with self._lock:
            if path.exists():  # another association stored it while this one was writing
                temporary.unlink()
                return self._duplicate(incoming, header, path, calling_ae_title)
            try:
                os.replace(temporary, path)
            except OSError:
                temporary.unlink(missing_ok=True)
                raise
        _fsync_dir(path.parent)
        instance = self._instance(header, path, size, calling_ae_title)
        LOGGER.info("stored %s (%s) from %s: %d bytes", header.sop_instance_uid, header.sop_class_uid,
                    calling_ae_title, size)
        return StoreReceipt(instance, StoreOutcome.STORED)

    def _instance(self, header: InstanceHeader, path: Path, size: int, calling_ae_title: str,
                  *, duplicate: bool = False) -> StoredInstance:
        return StoredInstance(
            sop_instance_uid=header.sop_instance_uid, sop_class_uid=header.sop_class_uid,
            study_instance_uid=header.study_instance_uid, series_instance_uid=header.series_instance_uid,
            transfer_syntax_uid=header.transfer_syntax_uid, path=path, size_bytes=size,
            calling_ae_title=calling_ae_title, received_at=_utc_now(), duplicate=duplicate,
        )

    def _duplicate(self, incoming: _Incoming, header: InstanceHeader, path: Path,
                   calling_ae_title: str) -> StoreReceipt:
        """A second copy of a stored instance: identical (nothing written) or conflicting (quarantined)."""
        first_header = inspect_file(path)
        instance = self._instance(first_header, path, path.stat().st_size, calling_ae_title, duplicate=True)
        with path.open("rb") as first, incoming.open() as second:
            first.seek(first_header.dataset_offset)
            second.seek(incoming.dataset_offset)
            same = _same_bytes(first, second)
        if same and first_header.transfer_syntax_uid == header.transfer_syntax_uid:
            LOGGER.info("duplicate %s from %s: identical, first copy kept", header.sop_instance_uid,
                        calling_ae_title)
            return StoreReceipt(instance, StoreOutcome.DUPLICATE)
        reason = (f"conflicting-duplicate: SOP Instance UID {header.sop_instance_uid} is already stored at {path} "
                  "with a different encoded dataset; the first copy is kept")
        copy = self.quarantine(incoming.whole(), reason, calling_ae_title)
        LOGGER.warning("duplicate %s from %s differs from the stored copy: first kept, this one quarantined as %s",
                       header.sop_instance_uid, calling_ae_title, copy.name)
        return StoreReceipt(instance, StoreOutcome.CONFLICTING_DUPLICATE, quarantined=copy)

    def quarantine(self, data: bytes, reason: str, calling_ae_title: str) -> Path:
        """Keep refused data, durably, with why: ``quarantine/<UTC time>-<uuid>.dcm`` and a ``.json`` beside it.

        The JSON holds ``reason``, ``calling_ae_title``, ``size_bytes``, ``received_at`` (ISO 8601 UTC) and
        ``sha256``. Returns the path of the ``.dcm``.
        """
        now = _utc_now()
        stem = f"{now:%Y%m%dT%H%M%S.%fZ}-{uuid.uuid4().hex}"
        path = self.quarantine_dir / f"{stem}.dcm"
        write_durably(path, data)
        record = {"reason": reason, "calling_ae_title": calling_ae_title, "size_bytes": len(data),
                  "received_at": now.isoformat(), "sha256": hashlib.sha256(data).hexdigest()}
        write_durably(path.with_suffix(".json"), (json.dumps(record, indent=2) + "\n").encode())
        LOGGER.warning("quarantined %d bytes from %s as %s: %s", len(data), calling_ae_title, path.name, reason)
        return path

    def quarantine_or_log(self, data: bytes, reason: str, calling_ae_title: str) -> str:
        """:meth:`quarantine` for a refusal: ``"; quarantined as NAME"``, or ``""`` (logged) if it cannot be kept."""
        try:
            return f"; quarantined as {self.quarantine(data, reason, calling_ae_title).name}"
        except OSError:
            LOGGER.exception("could not quarantine %d bytes from %s (%s)", len(data), calling_ae_title, reason)
            return ""

    def free_disk_mb(self) -> float:
        """Free space of the file system holding the data folder, in MiB (available to this user)."""
        return shutil.disk_usage(self.root).free / (1024 * 1024)
