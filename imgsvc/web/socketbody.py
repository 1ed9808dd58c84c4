"""An upload's body read from gunicorn's socket straight into one buffer.

Through ``wsgi.input`` a body passes gunicorn's reader and Werkzeug's stream:
each received piece is copied four or five times (the reader's buffer, its
slices, the body's buffer, the stream's ``readinto``) before it is joined.
For a 4 MB photo that was ~7 ms of a ~24 ms upload. gunicorn puts the
connection's socket in the environ (``gunicorn.socket``); when the body is a
plain one of known length that nothing has read yet, this takes what gunicorn
has already received beyond the headers, then ``recv_into`` one buffer of the
body's size, and tells gunicorn's reader the body is consumed, so the
connection stays consistent (a pipelined request behind it is kept).

Anything else (another server, a chunked body, a reader of another shape,
a body partly read) returns None, and the caller reads ``wsgi.input``.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Mapping
from typing import Any


def read_socket_body(environ: Mapping[str, Any], length: int) -> bytearray | None:
    """The request body of ``length`` bytes (fewer if the client stops early),
    read from gunicorn's socket; None where that is not possible.

    Errors of the socket (a timeout, a reset) are raised as they are, and
    gunicorn is told not to reuse the connection.
    """
    sock = environ.get("gunicorn.socket")
    body = environ.get("wsgi.input")
    reader = getattr(body, "reader", None)
    unreader = getattr(reader, "unreader", None)
    if (
        not isinstance(sock, socket.socket)
        or type(reader).__name__ != "LengthReader"
        or getattr(reader, "length", None) != length
        or not _empty(getattr(body, "buf", None))
        or not isinstance(getattr(unreader, "buf", None), io.BytesIO)
    ):
        return None
    held = unreader.buf.getvalue()
    unreader.buf = io.BytesIO()
    unreader.buf.write(held[length:])  # a pipelined request's start: gunicorn's again
    buffer = bytearray(length)
    view = memoryview(buffer)
    filled = min(len(held), length)
    view[:filled] = held[:filled]
    try:
        while filled < length:
            received = sock.recv_into(view[filled:])
            if not received:
                break  # the client stopped: the parser finds the body cut short
            filled += received
    except OSError:
        body.failed = True
        raise
    finally:
        view.release()
    reader.length = 0
    if filled < length:
        body.failed = True  # where the next request would start is unknown
        del buffer[filled:]
    return buffer


def _empty(buffer: object) -> bool:
    return isinstance(buffer, io.BytesIO) and not buffer.getvalue()
