"""A ``multipart/related`` request body (RFC 2387) read part by part into one unnamed temporary file.

The body is streamed through python-multipart's :class:`~python_multipart.multipart.MultipartParser`; part
bytes go straight to the spool file and only their offsets stay in memory, so a large study costs disk,
not memory, and is held once. Read a part back with :meth:`PartSpool.read` (one part in memory at a time).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Self

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from dvt_us.service.http_api.problems import BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MULTIPART_RELATED = "multipart/related"


@dataclass(frozen=True)
class BodyPart:
    """Where one part of the body lies in the spool file, and its own Content-Type."""

    number: int
    """1-based position of the part in the body."""
    content_type: str | None
    """The part's Content-Type header as sent, or None when it has none."""
    offset: int
    size_bytes: int

    @property
    def media_type(self) -> str | None:
        """The Content-Type without parameters, lower case."""
        return None if self.content_type is None else parse_options_header(self.content_type)[0].decode().lower()


def related_boundary(content_type: str | None, root_type: str) -> bytes:
    """The boundary of a ``multipart/related; type="<root_type>"`` Content-Type.

    Raises UnsupportedMediaTypeError for another media type or ``type`` parameter, quoting what was sent,
    and BadRequestError when the boundary is missing.
    """
    media_type, params = parse_options_header(content_type or "")
    sent = content_type or "(none)"
    if media_type.decode("latin-1").lower() != MULTIPART_RELATED:
        raise UnsupportedMediaTypeError(f'Content-Type {sent!r}: send {MULTIPART_RELATED}; type="{root_type}"')
    part_type = params.get(b"type", b"").decode("latin-1").strip().lower()
    if part_type != root_type:
        raise UnsupportedMediaTypeError(f'Content-Type {sent!r}: only type="{root_type}" parts are taken')
    boundary = params.get(b"boundary", b"")
    if not boundary:
        raise BadRequestError(f"Content-Type {sent!r} has no boundary")
    return boundary


class PartSpool:
    """The parts of one request body in one unnamed temporary file in ``folder``; a context manager."""

    def __init__(self, folder: Path) -> None:
        self._file = tempfile.TemporaryFile(dir=folder, prefix=".stow-")  # noqa: SIM115 (closed by close())
        self.parts: list[BodyPart] = []

    def read(self, part: BodyPart) -> bytes:
        """The bytes of ``part``."""
        self._file.seek(part.offset)
        return self._file.read(part.size_bytes)

    async def fill(self, chunks: AsyncIterator[bytes], boundary: bytes, max_bytes: int) -> None:
        """Parse the body from ``chunks`` into the spool.

        Raises PayloadTooLargeError as soon as more than ``max_bytes`` arrived, and BadRequestError when
        the body is not a complete multipart body with at least one part.
        """
        reader = _PartReader(self._file, self.parts)
        try:
            parser = MultipartParser(boundary, reader.callbacks())
            received = 0
            async for chunk in chunks:
                received += len(chunk)
                if received > max_bytes:
                    raise PayloadTooLargeError(f"the request body is over the limit of {max_bytes} bytes")
                parser.write(chunk)
        except FormParserError as exc:
            raise BadRequestError(f"the multipart body cannot be parsed: {exc}") from exc
        if not reader.ended:
            raise BadRequestError("the multipart body ends before its closing boundary")
        if not self.parts:
            raise BadRequestError("the multipart body has no parts")

    def close(self) -> None:
        """Delete the spool file."""
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class _PartReader:
    """python-multipart's callbacks: part bytes to the spool file, headers of the current part collected."""

    def __init__(self, file: IO[bytes], parts: list[BodyPart]) -> None:
        self._file = file
        self._parts = parts
        self._offset = 0
        self._field = b""
        self._value = b""
        self._headers: dict[str, str] = {}
        self.ended = False

    def callbacks(self) -> MultipartCallbacks:
        return {"on_part_begin": self._begin, "on_header_field": self._on_field, "on_header_value": self._on_value,
                "on_header_end": self._header_end, "on_part_data": self._data, "on_part_end": self._end,
                "on_end": self._on_end}

    def _begin(self) -> None:
        self._offset = self._file.tell()
        self._headers = {}

    def _on_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").strip().lower()] = self._value.decode("latin-1").strip()
        self._field = self._value = b""

    def _data(self, data: bytes, start: int, end: int) -> None:
        self._file.write(data[start:end])

    def _end(self) -> None:
        parts = self._parts
        parts.append(BodyPart(len(parts) + 1, self._headers.get("content-type"), self._offset,
                              self._file.tell() - self._offset))

    def _on_end(self) -> None:
        self.ended = True
