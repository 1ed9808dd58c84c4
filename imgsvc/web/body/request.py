"""The request class: an upload's body read in large steps and parsed at memory speed.

Werkzeug's defaults suit small forms: its multipart parser reads the body in
64 KiB steps through a Python decoder, and a file part over 500 KiB is spooled
to a temporary file on disk, which the upload then reads back to copy it into
storage. Here a body of known length (Flask has already refused one over
``MAX_CONTENT_LENGTH``) is read into memory in 1 MiB steps and split by
:mod:`imgsvc.web.body.multipart`; the file part stays in memory, and storage writes
it from that buffer. One request holds at most ``MAX_CONTENT_LENGTH`` bytes.
The body arrives whole and at memory speed: the front (nginx) has buffered it
before gunicorn sees the request.
"""

from __future__ import annotations

import io
from typing import IO, Any

from flask import Request
from werkzeug.formparser import FormDataParser

from imgsvc.web.body.multipart import Unparsed, parse_form_data, read_body


class _BufferedFormDataParser(FormDataParser):
    """Werkzeug's form parser; multipart bodies of known length are parsed in memory."""

    def _parse_multipart(
        self,
        stream: IO[bytes],
        mimetype: str,
        content_length: int | None,
        options: dict[str, str],
    ) -> tuple[IO[bytes], Any, Any]:
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        if content_length is None:  # chunked: Werkzeug streams it, within the byte limit
            return super()._parse_multipart(stream, mimetype, content_length, options)
        body = read_body(stream, content_length)
        try:
            form, files = parse_form_data(
                body,
                boundary,
                max_form_memory_size=self.max_form_memory_size,
                max_form_parts=self.max_form_parts,
            )
        except Unparsed:  # Werkzeug's parser, over the bytes already read
            _, form, files = super()._parse_multipart(
                io.BytesIO(body), mimetype, len(body), options
            )
        return stream, self.cls(form), self.cls(files)


class ImgsvcRequest(Request):
    """Flask's request, with uploads read in large steps and held in memory once."""

    form_data_parser_class = _BufferedFormDataParser

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        # Bounded: Flask refuses a body over MAX_CONTENT_LENGTH as it reads it.
        return io.BytesIO()
