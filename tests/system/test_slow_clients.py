"""The front on the real ``make run`` stack: slow clients succeed, slow or idle ones starve no one.

Real sockets on loopback against ``imgsvc dev`` (nginx, gunicorn, a worker,
Redis). A strict stack has short timeouts so each cut-off is seen in
seconds; the default stack has the shipped settings.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest
import requests

from tests import factories
from tests.support import slow_clients, wait_until
from tests.support.slow_clients import SlowCrowd
from tests.support.stack import DevStack, dev_stack

pytestmark = pytest.mark.slow

STRICT = {
    "IMGSVC_FRONT_HEADER_TIMEOUT": "2",
    "IMGSVC_FRONT_IDLE_TIMEOUT": "2",
    "IMGSVC_FRONT_KEEPALIVE_TIMEOUT": "2",
    "IMGSVC_UPLOAD_DEADLINE": "4",
    "IMGSVC_FRONT_MAX_CONNECTIONS_PER_CLIENT": "3",
    "IMGSVC_MAX_CONTENT_LENGTH": "2000000",
}


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory):
    with dev_stack(tmp_path_factory.mktemp("strict"), STRICT) as stack:
        yield stack


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory):
    with dev_stack(tmp_path_factory.mktemp("default"), {}) as stack:
        yield stack


def paced_upload(stack: DevStack, data: bytes, seconds: float, steps: int):
    return slow_clients.paced_upload("127.0.0.1", stack.port, data, seconds, steps)


def multipart(data: bytes) -> tuple[bytes, str]:
    boundary = "test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def closed_within(
    sock: socket.socket, limit: float, send: bytes = b"", every: float = 0.3
) -> float:
    """Seconds until the server closes ``sock`` (sending ``send`` each ``every`` s meanwhile)."""
    started = time.monotonic()
    sock.settimeout(every)
    while time.monotonic() - started < limit:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            if send:
                try:
                    sock.sendall(send)
                except OSError:
                    return time.monotonic() - started
        except ConnectionResetError:
            return time.monotonic() - started
    raise AssertionError(f"the connection was still open after {limit} s")


def stored_images(stack: DevStack) -> set[str]:
    return {path.name for path in stack.images.iterdir()} if stack.images.exists() else set()


def refusal_count(stack: DevStack, reason: str) -> float:
    for line in requests.get(f"{stack.url}/metrics", timeout=5).text.splitlines():
        if line.startswith(f'imgsvc_front_refusals_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    raise AssertionError("no imgsvc_front_refusals_total in /metrics")


def test_a_silent_connection_is_closed_after_the_header_deadline(strict: DevStack):
    with socket.create_connection(("127.0.0.1", strict.port)) as sock:
        assert 1.5 < closed_within(sock, limit=15) < 10


def test_a_header_trickle_is_closed_at_the_header_deadline(strict: DevStack):
    before = refusal_count(strict, "timeout")
    with socket.create_connection(("127.0.0.1", strict.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        # A header line every 0.3 s: never idle, and still cut off at the deadline.
        assert 1.5 < closed_within(sock, limit=15, send=b"X-Slow: a\r\n") < 10
    wait_until(lambda: refusal_count(strict, "timeout") > before, timeout=10)


def test_an_idle_kept_alive_connection_is_closed(strict: DevStack):
    with socket.create_connection(("127.0.0.1", strict.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 200 and json.loads(response.read())["redis"] == "ok"
        assert 1.5 < closed_within(sock, limit=15) < 10


def test_an_upload_that_stops_sending_is_cut_off_and_nothing_is_stored(strict: DevStack):
    before_images, before = stored_images(strict), refusal_count(strict, "timeout")
    body, content_type = multipart(factories.jpeg())
    with socket.create_connection(("127.0.0.1", strict.port)) as sock:
        head = (
            f"POST /api/images HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body[: len(body) // 2])
        assert 1.5 < closed_within(sock, limit=15) < 10
    wait_until(lambda: refusal_count(strict, "timeout") > before, timeout=10)
    assert stored_images(strict) == before_images


def test_an_upload_past_the_deadline_is_408_and_nothing_is_stored(strict: DevStack):
    before = stored_images(strict)
    status, answer, seconds = paced_upload(strict, factories.jpeg(), seconds=6, steps=8)
    assert seconds > 4
    assert status == 408
    assert answer["error"]["code"] == "request_timeout"
    assert stored_images(strict) == before
    metrics = requests.get(f"{strict.url}/metrics", timeout=5).text
    assert 'imgsvc_uploads_total{outcome="request_timeout"}' in metrics


def test_a_body_over_the_limit_gets_the_apps_413(strict: DevStack):
    big = b"\xff" * 2_100_000
    api = requests.post(f"{strict.url}/api/images", files={"file": ("a.jpg", big)}, timeout=30)
    assert api.status_code == 413, (api.headers, api.text)
    assert api.json()["error"]["code"] == "file_too_large"
    page = requests.post(
        f"{strict.url}/",
        files={"file": ("a.jpg", big)},
        headers={"Accept": "text/html"},
        timeout=30,
    )
    assert page.status_code == 413
    assert "That file is too large" in page.text
    assert refusal_count(strict, "too_large") >= 2


def test_too_many_requests_in_progress_from_one_address_get_429(strict: DevStack):
    crowd = SlowCrowd(
        "127.0.0.1", strict.port, bodies=3, interval=0.3, sources=1, body_length=1_000_000
    )
    with crowd:
        # The crowd's three uploads come from 127.0.1.1: a fourth from there is refused,
        wait_until(lambda: crowd.open_now == 3, timeout=10)
        session = requests.Session()
        session.mount("http://", _SourceAdapter("127.0.1.1"))
        refused = session.get(f"{strict.url}/healthz", timeout=10)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_connections"
        assert refused.headers["Retry-After"] == "5"
        # while another address is served as usual.
        assert requests.get(f"{strict.url}/healthz", timeout=10).status_code == 200


class _SourceAdapter(requests.adapters.HTTPAdapter):
    """Connections from a given loopback address."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def test_a_minute_long_upload_succeeds_while_slow_clients_starve_no_one(default: DevStack):
    photo = factories.jpeg(1600, 1200)
    image_id = default.upload(photo)
    default.wait_done(image_id)
    variant = f"/images/{image_id}/xl"
    results: dict[str, tuple[int, dict, float]] = {}

    def slow(name: str, seconds: float, steps: int) -> None:
        results[name] = paced_upload(default, photo, seconds, steps)

    long_upload = threading.Thread(target=slow, args=("long", 65, 65))
    paced = [threading.Thread(target=slow, args=(f"paced-{n}", 15, 15)) for n in range(3)]
    crowd = SlowCrowd(
        "127.0.0.1", default.port, headers=50, bodies=10, readers=10, reader_path=variant
    )
    slowest: dict[str, float] = {"upload": 0.0, "variant": 0.0, "healthz": 0.0}
    with crowd:
        for thread in (long_upload, *paced):
            thread.start()
        rounds = 0
        while long_upload.is_alive() and rounds < 120:
            rounds += 1
            started = time.monotonic()
            default.upload(photo)
            slowest["upload"] = max(slowest["upload"], time.monotonic() - started)
            started = time.monotonic()
            fetched = requests.get(f"{default.url}{variant}", timeout=10)
            assert fetched.status_code == 200 and len(fetched.content) > 1000
            slowest["variant"] = max(slowest["variant"], time.monotonic() - started)
            started = time.monotonic()
            assert requests.get(f"{default.url}/healthz", timeout=10).status_code == 200
            slowest["healthz"] = max(slowest["healthz"], time.monotonic() - started)
            long_upload.join(timeout=2)  # a normal client's pace: a round every few seconds
        for thread in paced:
            thread.join(timeout=60)
        # Still there (tricklers cut off at the deadline come back a second later).
        wait_until(lambda: crowd.open_now >= 65, timeout=10, message=str(crowd.counts))
    long_upload.join(timeout=60)
    assert all(seconds < 1.0 for seconds in slowest.values()), slowest
    assert rounds >= 10
    # The header tricklers were cut off at the 10 s deadline and came back.
    assert crowd.counts.closed_by_server["headers"] >= 50
    status, answer, seconds = results["long"]
    assert (status, seconds > 60) == (202, True), (status, answer, seconds)
    default.wait_done(answer["id"])
    for n in range(3):
        assert results[f"paced-{n}"][0] == 202, results[f"paced-{n}"]
