"""Where instances come from: files, folders (recursive) and zip archives, opened one at a time.

A :class:`Source` names one candidate file. Zip members are opened lazily; a stored member is read
in place, a deflated one is spooled (in memory up to a limit, then to a temporary file) so that
pixel data can be read frame by frame with random access.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

_SPOOL_IN_MEMORY_BYTES = 32 * 1024 * 1024
_SKIP_NAMES = {"DICOMDIR", ".DS_Store", "Thumbs.db"}


@dataclass(frozen=True, order=True)
class Source:
    """One file to read: a path on disk, or a member of a zip archive at ``path``.

    ``ignored`` says why a file is left out on purpose (DICOMDIR, hidden files); ``unreadable`` why a
    folder or archive could not be listed. Ingestion reports both instead of reading the source.
    """

    path: Path
    member: str | None = None
    ignored: str | None = field(default=None, compare=False)
    unreadable: str | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        """How the file is named to users: ``path`` or ``archive.zip!member``."""
        return f"{self.path}!{self.member}" if self.member else str(self.path)

    @property
    def size_bytes(self) -> int:
        """Size of the (uncompressed) file."""
        if self.member is None:
            return self.path.stat().st_size
        with zipfile.ZipFile(self.path) as archive:
            return archive.getinfo(self.member).file_size


@contextlib.contextmanager
def open_source(source: Source) -> Iterator[BinaryIO]:
    """Open a source for seekable binary reading."""
    if source.member is None:
        with open(source.path, "rb") as fh:
            yield fh
        return
    with zipfile.ZipFile(source.path) as archive:
        info = archive.getinfo(source.member)
        if info.compress_type == zipfile.ZIP_STORED:
            with archive.open(info) as member:
                yield member  # type: ignore[misc]
            return
        with (
            archive.open(info) as member,
            tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES) as spool,
        ):
            shutil.copyfileobj(member, spool, 1024 * 1024)
            spool.seek(0)
            yield spool  # type: ignore[misc]


def _is_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip" and zipfile.is_zipfile(path)


def _zip_members(path: Path) -> Iterator[Source]:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = sorted(archive.infolist(), key=lambda i: i.filename)
    except (zipfile.BadZipFile, OSError) as exc:
        yield Source(path, unreadable=f"zip archive cannot be read: {exc}")
        return
    if not any(not i.is_dir() for i in infos):
        yield Source(path, ignored="empty zip archive")
    for info in infos:
        name = Path(info.filename).name
        if info.is_dir():
            continue
        if name in _SKIP_NAMES or name.startswith("._"):
            yield Source(path, info.filename, ignored=f"{name}: not an instance (index or resource file)")
        else:
            yield Source(path, info.filename)


def _files(root: Path) -> Iterator[Source]:
    try:
        files = sorted(p for p in root.rglob("*") if p.is_file())
    except OSError as exc:
        yield Source(root, unreadable=f"folder cannot be listed: {exc}")
        return
    for path in files:
        if path.name in _SKIP_NAMES or path.name.startswith("."):
            yield Source(path, ignored=f"{path.name}: hidden, index or resource file")
        elif _is_zip(path):
            yield from _zip_members(path)
        else:
            yield Source(path)


def find_sources(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Source]:
    """Every candidate file under ``paths``: files as given, folders recursively, zips member by member.

    Order is deterministic (sorted by path). Hidden files, ``DICOMDIR`` and macOS resource forks come
    back marked ``ignored``; a folder or archive that cannot be listed comes back marked ``unreadable``.
    A path that does not exist raises :class:`FileNotFoundError` before anything is read.
    """
    roots = [Path(p) for p in paths]
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    for root in roots:
        if root.is_dir():
            yield from _files(root)
        elif _is_zip(root):
            yield from _zip_members(root)
        else:
            yield Source(root)
