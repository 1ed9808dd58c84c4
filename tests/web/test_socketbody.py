"""Bodies read from gunicorn's socket: exact bytes, the connection left consistent.

gunicorn's own reader objects over a real socket pair; the end-to-end upload
through gunicorn is in ``tests/test_e2e.py``.
"""

from __future__ import annotations

import io
import os
import socket
import threading
from collections.abc import Iterator

import pytest
from gunicorn.http.body import Body, ChunkedReader, LengthReader
from gunicorn.http.unreader import SocketUnreader

from imgsvc.web.socketbody import read_socket_body

BODY = os.urandom(3 * 1024 * 1024 + 17)
NEXT_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    server, client = socket.socketpair()
    server.settimeout(10)
    yield server, client
    server.close()
    client.close()


def gunicorn_environ(server: socket.socket, length: int, held: bytes) -> dict:
    """What gunicorn hands the app: its socket, and a body whose reader holds
    ``held``, the bytes received with the headers."""
    unreader = SocketUnreader(server)
    unreader.buf.write(held)
    return {"gunicorn.socket": server, "wsgi.input": Body(LengthReader(unreader, length))}


def send_later(client: socket.socket, *pieces: bytes, close: bool = False) -> threading.Thread:
    def send() -> None:
        for piece in pieces:
            client.sendall(piece)
        if close:
            client.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def test_the_body_is_read_whole_and_a_pipelined_request_is_left_to_gunicorn(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = pair
    environ = gunicorn_environ(server, len(BODY), BODY[:5000])
    sender = send_later(client, BODY[5000:2_000_000], BODY[2_000_000:] + NEXT_REQUEST)
    body = read_socket_body(environ, len(BODY))
    sender.join()
    assert body == BODY
    reader = environ["wsgi.input"].reader
    assert reader.length == 0  # gunicorn sees the body consumed
    assert environ["wsgi.input"].read() == b""
    assert reader.unreader.read(len(NEXT_REQUEST)) == NEXT_REQUEST
    assert not environ["wsgi.input"].failed


def test_bytes_received_with_the_headers_may_reach_past_the_body(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, _client = pair
    small = BODY[:1000]
    environ = gunicorn_environ(server, len(small), small + NEXT_REQUEST)
    assert read_socket_body(environ, len(small)) == small
    assert environ["wsgi.input"].reader.unreader.buf.getvalue() == NEXT_REQUEST


def test_a_client_that_stops_early_gives_a_short_body_and_no_reuse(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = pair
    environ = gunicorn_environ(server, len(BODY), b"")
    sender = send_later(client, BODY[:100_000], close=True)
    body = read_socket_body(environ, len(BODY))
    sender.join()
    assert body == BODY[:100_000]
    assert environ["wsgi.input"].failed


def test_a_stalled_client_times_out_as_gunicorn_would(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = pair
    server.settimeout(0.2)
    environ = gunicorn_environ(server, len(BODY), b"")
    client.sendall(BODY[:1000])
    with pytest.raises(TimeoutError):
        read_socket_body(environ, len(BODY))
    assert environ["wsgi.input"].failed


def test_other_servers_and_bodies_are_left_to_wsgi_input(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = pair
    assert read_socket_body({"wsgi.input": io.BytesIO(BODY)}, len(BODY)) is None
    chunked = {
        "gunicorn.socket": server,
        "wsgi.input": Body(ChunkedReader({}, SocketUnreader(server))),
    }
    assert read_socket_body(chunked, len(BODY)) is None
    # Partly read already: where the rest starts is the reader's business.
    environ = gunicorn_environ(server, len(BODY), BODY[:5000])
    assert environ["wsgi.input"].read(10) == BODY[:10]
    assert read_socket_body(environ, len(BODY) - 10) is None
    # A length that is not the body's.
    assert read_socket_body(gunicorn_environ(server, len(BODY), b""), 10) is None
