"""Parsing a whole ``multipart/form-data`` body that is already in memory.

An upload is one large file part. Werkzeug's streaming parser handles it in
64-256 KiB steps, copying each step through its decoder's buffer in Python:
most of an upload's cost (see docs/performance.md). When the body
has a known length (so it is bounded by ``MAX_CONTENT_LENGTH``), it is read in
1 MiB steps and split here with ``bytes.find``, which runs at memory speed.
Anything this parser does not expect raises ``Unparsed``; the caller then
hands the same bytes to Werkzeug's parser, so odd but valid bodies still work.
"""

from __future__ import annotations

import io
from typing import IO, TYPE_CHECKING, cast

from werkzeug.datastructures import FileStorage, Headers, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

READ_STEP = 1024 * 1024


class Unparsed(ValueError):
    """The body is not in the plain shape this parser handles (Werkzeug will try)."""


class PartFile(io.RawIOBase):
    """A file part, read where it lies in the body: no copy of its bytes.

    ``getbuffer`` (as ``io.BytesIO`` has) lets storage write it in one go.
    """

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        target = memoryview(buffer).cast("B")
        start = self._position
        count = max(0, min(len(target), len(self._view) - start))
        target[:count] = self._view[start : start + count]
        self._position = start + count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}
        self._position = max(0, base[whence] + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def getbuffer(self) -> memoryview:
        """The part's bytes (all of them, as ``io.BytesIO.getbuffer``)."""
        return self._view


def read_body(stream: IO[bytes], length: int) -> bytes:
    """Read up to ``length`` bytes in large steps (fewer if the client stops)."""
    chunks = []
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(READ_STEP, remaining))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def parse_form_data(
    body: bytes | bytearray,
    boundary: bytes,
    *,
    max_form_memory_size: int | None = None,
    max_form_parts: int | None = None,
) -> tuple[MultiDict, MultiDict]:
    """Split ``body`` into (form fields, files) as Werkzeug's parser would.

    Field values are decoded as UTF-8 (invalid bytes replaced); files become
    ``FileStorage`` objects over their bytes in ``body`` (``PartFile``). Raises ``Unparsed`` for
    a body of another shape, and ``RequestEntityTooLarge`` past the limits on
    the number of parts and the size of non-file fields (Flask's
    ``MAX_FORM_PARTS`` and ``MAX_FORM_MEMORY_SIZE``).
    """
    delimiter = b"--" + boundary
    start = body.find(delimiter)
    if not boundary or start < 0:
        raise Unparsed("no boundary in the body")
    form: list[tuple[str, str]] = []
    files: list[tuple[str, FileStorage]] = []
    position = start + len(delimiter)
    parts = 0
    while not body.startswith(b"--", position):
        if not body.startswith(b"\r\n", position):
            raise Unparsed("a boundary is not followed by CRLF")
        parts += 1
        if max_form_parts is not None and parts > max_form_parts:
            raise RequestEntityTooLarge()
        headers_end = body.find(b"\r\n\r\n", position + 2)
        if headers_end < 0:
            raise Unparsed("a part has no end of headers")
        headers = _headers(body[position + 2 : headers_end])
        data_start = headers_end + 4
        data_end = body.find(b"\r\n" + delimiter, data_start)
        if data_end < 0:
            raise Unparsed("the last part is not closed")
        name, filename = _disposition(headers)
        if filename is not None:
            # Read in place: the body outlives the request's files.
            stream = PartFile(memoryview(body)[data_start:data_end])
            # A raw binary file, which typeshed's io classes do not declare as IO[bytes].
            file = cast("IO[bytes]", stream)
            files.append((name, FileStorage(file, filename, name, headers=headers)))
        else:
            if max_form_memory_size is not None and data_end - data_start > max_form_memory_size:
                raise RequestEntityTooLarge()
            form.append((name, body[data_start:data_end].decode("utf-8", "replace")))
        position = data_end + 2 + len(delimiter)
    return MultiDict(form), MultiDict(files)


def _headers(block: bytes) -> Headers:
    headers = Headers()
    if not block:
        return headers
    for line in block.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon or line[:1] in (b" ", b"\t"):  # folded headers: leave to Werkzeug
            raise Unparsed("a part header is not a plain name: value line")
        headers.add(name.decode("latin-1").strip(), value.decode("utf-8", "replace").strip())
    return headers


def _disposition(headers: Headers) -> tuple[str, str | None]:
    kind, options = parse_options_header(headers.get("Content-Disposition"))
    if kind != "form-data" or "name" not in options:
        raise Unparsed("a part is not a named form-data part")
    if headers.get("Content-Transfer-Encoding"):
        raise Unparsed("a part has a transfer encoding")
    return options["name"], options.get("filename")
