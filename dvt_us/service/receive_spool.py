"""Where pynetdicom writes a C-STORE's dataset while it arrives: a spool folder in the data folder.

With pynetdicom's ``STORE_RECV_CHUNKED_DATASET`` each P-DATA fragment is appended to a temporary Part 10 file
as it arrives, instead of to a growing buffer that is then copied several times; the C-STORE handler gets
the file (``event.dataset_path``) and :meth:`~dvt_us.service.instance_store.InstanceStore.put_spooled`
stores it. For a 75 MiB cine that saves about four user-space copies and the memory they take.

The spooled file starts with the File Meta Information the node stores: pynetdicom's, plus the calling AE as
Source Application Entity Title (:func:`spooled_file_meta`). The store then links the spooled file into
place instead of copying it, so every received byte is written once; and the file starts going to disk while
it arrives (:class:`SpooledFile`), so the fsync before the answer has little left to write.

pynetdicom 3.0 creates that file with ``tempfile.NamedTemporaryFile`` in the system temporary folder. So that
it lands on the data folder's file system (where the free-disk watermark is checked, and where it can be
linked into the store), :func:`enable` has it created in ``spool_dir`` instead; when that folder is gone (a
node in the same process was stopped and its folder removed), in the system temporary folder. pynetdicom
deletes the file's spool name after the handler returns; an association aborted mid-transfer leaves its file, which
:func:`sweep` removes once nothing has written to it for a while.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import pynetdicom.dimse_messages
from pydicom.dataset import FileMetaDataset
from pynetdicom import _config
from pynetdicom.association import Association
from pynetdicom.dsutils import create_file_meta

LOGGER = logging.getLogger(__name__)

SPOOL_SUFFIX = ".dcm"
"""pynetdicom's suffix for a spooled dataset."""

_lock = threading.Lock()
_spool_dirs: list[Path] = []
"""The folder of the node enabled last (one per process in service; tests start several)."""


WRITEBACK_BYTES = 4 << 20
"""A dataset is handed to the disk in pieces of this size while it arrives, so that the fsync before the
answer has only the last piece left to write."""

_SYNC_FILE_RANGE_WRITE = 2


def _writeback_starter() -> Callable[[int, int, int], bool]:
    """``start(fd, offset, count)``: queue the write-back of those bytes and return at once (Linux).

    Returns False where it could not be queued (no ``sync_file_range`` in the C library, or it failed); the
    fsync then writes those bytes itself, and reports any error.
    """
    try:
        sync_file_range = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return lambda _fd, _offset, _count: False
    sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    sync_file_range.restype = ctypes.c_int
    return lambda fd, offset, count: sync_file_range(fd, offset, count, _SYNC_FILE_RANGE_WRITE) == 0


start_writeback = _writeback_starter()


class SpooledFile:
    """pynetdicom's spool file, whose received bytes start going to disk every :data:`WRITEBACK_BYTES`.

    Linux ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` queues the write-back of what has arrived without waiting
    for it (only for a congested device queue); durability still comes only from the store's fsync before the
    answer, which then has little left to write when the file is linked into place (receiving uncompressed
    cines, 10-20 % more MiB/s here). Everything but ``write`` is the wrapped file's (pynetdicom uses ``name``,
    ``file``, ``close`` and its truth value).
    """

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._size = 0
        self._queued = 0  # bytes whose write-back has been started

    def write(self, data: bytes) -> int:
        """Write ``data``; start the write-back of the bytes so far once enough have arrived."""
        written = self._file.write(data)
        self._size += written
        if self._size - self._queued >= WRITEBACK_BYTES:
            self._file.flush()
            start_writeback(self._file.fileno(), self._queued, self._size - self._queued)
            self._queued = self._size
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def _spooled_file(*args: Any, **kwargs: Any) -> SpooledFile:
    """``NamedTemporaryFile`` in the spool folder (pynetdicom passes ``delete``, ``mode`` and ``suffix``)."""
    folder = _spool_dirs[-1] if _spool_dirs else None
    if folder is not None and folder.is_dir():
        kwargs.setdefault("dir", folder)
    return SpooledFile(tempfile.NamedTemporaryFile(*args, **kwargs))  # pynetdicom closes it


def calling_ae_title(assoc: Association) -> str:
    """The calling AE title of an association the node accepted, without padding."""
    return str(assoc.requestor.ae_title).strip()


def spooled_file_meta(**kwargs: Any) -> FileMetaDataset:
    """The File Meta of a spooled C-STORE dataset: pynetdicom's, plus the calling AE (Source Application Entity Title).

    pynetdicom calls this (``create_file_meta``) on the association's reader thread, which knows its
    association; elsewhere the File Meta stays pynetdicom's, and the store copies the dataset instead of
    linking the file.
    """
    meta = create_file_meta(**kwargs)
    assoc = getattr(threading.current_thread(), "assoc", None)
    if isinstance(assoc, Association):
        meta.SourceApplicationEntityTitle = calling_ae_title(assoc)
    return meta


def enable(spool_dir: Path) -> None:
    """Receive C-STORE datasets into files in ``spool_dir``.

    Process-wide, as pynetdicom's setting is: any other Storage SCP in the process gets its datasets as files
    too (``event.dataset_path``; ``event.encoded_dataset()`` is then empty), with the calling AE in the
    file's File Meta.
    """
    spool_dir.mkdir(parents=True, exist_ok=True)
    with _lock:
        _spool_dirs[:] = [spool_dir]
        _config.STORE_RECV_CHUNKED_DATASET = True
        pynetdicom.dimse_messages.NamedTemporaryFile = _spooled_file  # type: ignore[attr-defined,assignment]
        pynetdicom.dimse_messages.create_file_meta = spooled_file_meta  # type: ignore[attr-defined]


def remove_idle(paths: Iterable[Path], idle_s: float) -> int:
    """Delete the files among ``paths`` that nothing has written to for ``idle_s`` seconds; how many.

    A file that disappears meanwhile (its writer deleted or renamed it) is passed over.
    """
    removed = 0
    cutoff = time.time() - idle_s
    for path in paths:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def sweep(spool_dir: Path, idle_s: float) -> int:
    """Delete spooled files nothing has written to for ``idle_s`` seconds (aborted transfers); how many."""
    removed = remove_idle(spool_dir.glob(f"*{SPOOL_SUFFIX}"), idle_s)
    if removed:
        LOGGER.info("removed %d spooled dataset(s) of aborted transfers from %s", removed, spool_dir)
    return removed
