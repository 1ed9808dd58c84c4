"""Polling with a deadline, and waiting for images to finish: one definition each."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import requests

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; ``TimeoutError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} (waited {timeout:.0f} s)")
        time.sleep(interval)


def wait_until(
    check: Callable[[], T], timeout: float = 30, interval: float = 0.05, message: str = ""
) -> T:
    """:func:`wait_for` for tests: ``AssertionError`` after ``timeout`` s."""
    try:
        return wait_for(check, timeout, message or "condition not met", interval=interval)
    except TimeoutError as exc:
        raise AssertionError(str(exc)) from None


def wait_until_answers(url: str, proc: subprocess.Popen, timeout: float, what: str) -> None:
    """Poll ``url`` until it answers (any status under 500); ``RuntimeError`` if
    ``proc`` exits first, ``TimeoutError`` after ``timeout`` s."""

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited at start")
        try:
            return requests.get(url, timeout=2).status_code < 500
        except requests.ConnectionError:
            return False

    wait_for(answers, timeout, f"{what} did not start")


def wait_final(
    url: str,
    image_id: str,
    timeout: float = 90,
    *,
    failed_ok: bool = True,
    alive: Callable[[], None] | None = None,
) -> dict:
    """Poll ``GET url/api/images/<id>`` until the image is ``done`` (or ``failed``,
    unless ``failed_ok`` is false: then a failure is an ``AssertionError``); its body.
    ``alive`` is called before each poll and raises when waiting is pointless (the
    worker died); the timeout's message carries the image's last answer."""
    last: list[dict] = []

    def final() -> dict | None:
        if alive is not None:
            alive()
        body = requests.get(f"{url}/api/images/{image_id}", timeout=10).json()
        last[:] = [body]
        assert failed_ok or body["status"] != "failed", body
        return body if body["status"] in ("done", "failed") else None

    try:
        return wait_for(final, timeout, f"image {image_id} not processed", interval=0.1)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; its last answer: {last[:1]}") from None


def wait_all_final(url: str, ids: list[str], timeout: float) -> tuple[dict[str, dict], int]:
    """Poll ``GET /api/images/<id>`` until each is done or failed; (bodies, 5xx count).
    Returns what finished at ``timeout`` rather than failing."""
    final: dict[str, dict] = {}
    server_errors = 0
    session = requests.Session()
    deadline = time.monotonic() + timeout

    def poll(image_id: str) -> tuple[str, int, dict | None]:
        response = session.get(f"{url}/api/images/{image_id}", timeout=30)
        body = response.json() if response.status_code == 200 else None
        return image_id, response.status_code, body

    with ThreadPoolExecutor(4) as pool:
        while len(final) < len(ids) and time.monotonic() < deadline:
            pending = [image_id for image_id in ids if image_id not in final]
            for image_id, status, body in pool.map(poll, pending):
                server_errors += status >= 500
                if body is not None and body["status"] in ("done", "failed"):
                    final[image_id] = body
            if len(final) < len(ids):
                time.sleep(0.2)
    return final, server_errors
