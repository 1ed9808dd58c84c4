"""End to end over HTTP: gunicorn + `python worker.py` + redis-server (+ moto for S3)."""

from __future__ import annotations

import fcntl
import io
import json
import os
import socket
import struct
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests import factories
from tests.support import wait_until
from tests.support.stack import LiveStack

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(env: dict[str, str], tmp_path: Path) -> Iterator[LiveStack]:
    """gunicorn + ``worker.py`` on this test's Redis and storage (file or S3)."""
    live = LiveStack(tmp_path, {**env, "IMGSVC_MAX_CONTENT_LENGTH": str(8 * 1024 * 1024)})
    live.start()
    try:
        yield live
    finally:
        live.stop()


def test_upload_rotated_12mp_photo_and_fetch_every_variant(stack: LiveStack):
    data = factories.jpeg(4000, 3000, orientation=6, gps=True, quality=80)

    response = requests.post(
        f"{stack.url}/api/images", files={"file": ("IMG_0001.JPG", data, "image/jpeg")}, timeout=30
    )

    assert response.status_code == 202
    assert response.headers["Location"] == f"/api/images/{response.json()['id']}"
    image_id = response.json()["id"]
    body = stack.wait_final(image_id)
    assert body["status"] == "done", body
    expected = {
        "thumb": (200, 200),
        "xs": (320, 427),
        "sm": (640, 853),
        "md": (1024, 1365),
        "lg": (1600, 2133),
        "xl": (2048, 2731),
    }
    for name, size in expected.items():
        url = f"{stack.url}{body['variants'][name]['url']}"  # the versioned, immutable URL
        variant = requests.get(url, timeout=10)
        assert variant.status_code == 200
        assert variant.headers["Content-Type"] == "image/jpeg"
        assert variant.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        image = Image.open(io.BytesIO(variant.content))
        assert image.size == size, name
        assert not image.getexif(), f"{name} kept EXIF"
        assert "exif" not in image.info and "icc_profile" not in image.info
        etag = variant.headers["ETag"]
        again = requests.get(url, headers={"If-None-Match": etag}, timeout=10)
        assert again.status_code == 304
        assert again.content == b""
    assert body["variants"]["xl"]["width"] == 2048


@pytest.mark.parametrize("pieces", [1, 7])
def test_an_upload_sent_in_pieces_is_stored_byte_for_byte(stack: LiveStack, pieces: int):
    """In one send with its headers, or in pieces with pauses: the body is
    read in steps (imgsvc.web.body.request) and stored as it was sent."""
    data = factories.jpeg(1200, 900, quality=95)
    boundary = "imgsvc-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    host, port = stack.url.removeprefix("http://").split(":")
    head = (
        f"POST /api/images HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    request = head + body
    step = -(-len(request) // pieces)
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        for start in range(0, len(request), step):
            conn.sendall(request[start : start + step])
            if pieces > 1:
                # Let the server read what it has (a slow client), without a sleep:
                # poll until the kernel's send queue is drained.
                wait_until(lambda: _unsent(conn) == 0, timeout=10, interval=0.005, message="stuck")
        answer = b"".join(iter(lambda: conn.recv(65536), b""))
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 202 "), answer[:300]
    image_id = json.loads(rest.partition(b"\r\n\r\n")[2])["id"]
    original = requests.get(f"{stack.url}/images/{image_id}/original", timeout=10)
    assert original.content == data
    assert stack.wait_final(image_id)["status"] == "done"


def _unsent(conn: socket.socket) -> int:
    """Bytes still in the socket's send queue (Linux SIOCOUTQ)."""
    return struct.unpack("i", fcntl.ioctl(conn.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


def test_byte_limit_is_413_over_real_http(stack: LiveStack):
    big = os.urandom(9 * 1024 * 1024)
    response = requests.post(
        f"{stack.url}/api/images", files={"file": ("big.jpg", big, "image/jpeg")}, timeout=30
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"


def test_form_upload_in_a_browser_session(stack: LiveStack):
    session = requests.Session()
    page = session.get(f"{stack.url}/", timeout=10).text
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]

    refused = requests.post(
        f"{stack.url}/",
        files={"file": ("a.png", factories.png_alpha(), "image/png")},
        timeout=10,
        allow_redirects=False,
    )
    assert refused.status_code == 403

    response = session.post(
        f"{stack.url}/",
        data={"csrf_token": token},
        files={"file": ("a.png", factories.png_alpha(), "image/png")},
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 303
    image_id = response.headers["Location"].rsplit("/", 1)[1]
    assert stack.wait_final(image_id)["status"] == "done"
    assert (
        session.get(f"{stack.url}/images/{image_id}/sm", timeout=10).headers["Content-Type"]
        == "image/webp"
    )
