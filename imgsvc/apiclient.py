"""The HTTP side of ``imgsvc upload``: requests to the public API with bounded retries.

Only the standard library (urllib), so the client runs wherever imgsvc is
installed. :meth:`Api.call` retries ``429``, ``503`` and ``409`` answers after
their ``Retry-After`` (at most ``MAX_RETRY_AFTER`` seconds each) and a lost
connection after an exponential backoff, ``retries`` times; then it returns
the last answer, or raises the last ``OSError``. A body is sent in blocks,
each reported, so a progress bar can count bytes as they leave.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

RETRY_STATUSES = frozenset({409, 429, 503})
MAX_RETRY_AFTER = 60.0
_BLOCK = 64 * 1024


@dataclass
class Answer:
    status: int
    headers: Any
    body: dict[str, Any]


class CountingBody:
    """A request body read in blocks, reporting each block sent."""

    def __init__(self, parts: list[bytes], sent: Callable[[int], None]) -> None:
        self.parts, self.sent, self.index, self.offset = parts, sent, 0, 0

    def read(self, size: int = _BLOCK) -> bytes:
        while self.index < len(self.parts):
            part = self.parts[self.index]
            if self.offset < len(part):
                block = part[self.offset : self.offset + min(size, _BLOCK)]
                self.offset += len(block)
                self.sent(len(block))
                return block
            self.index, self.offset = self.index + 1, 0
        return b""


class Api:
    """The service's public HTTP API at ``url``, with bounded retries."""

    def __init__(
        self,
        url: str,
        key: str | None,
        retries: int,
        timeout: float,
        log: Callable[[str], None],
    ) -> None:
        self.base, self.key, self.retries, self.timeout = url.rstrip("/"), key, retries, timeout
        self.log = log

    def _once(self, method: str, path: str, body: Any, headers: dict[str, str]) -> Answer:
        request = urllib.request.Request(self.base + path, body, headers, method=method)
        if self.key:
            request.add_header("Authorization", f"Bearer {self.key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Answer(response.status, response.headers, _json(response))
        except urllib.error.HTTPError as error:
            with error:
                return Answer(error.code, error.headers, _json(error))

    def call(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: Callable[[], Any] | None = None,
        rewind: Callable[[], None] | None = None,
    ) -> Answer:
        """Send a request; retry 429/503/409 after ``Retry-After`` and lost connections.

        ``body`` makes a fresh body per attempt; ``rewind`` undoes an attempt's
        progress. Raises ``OSError`` when the connection fails on every attempt.
        """
        attempt = 0
        while True:
            try:
                answer = self._once(method, path, body() if body else None, headers or {})
            except OSError as exc:  # refused, reset, timed out: the request may not have arrived
                if attempt >= self.retries:
                    raise
                delay = min(2.0**attempt * 0.5, MAX_RETRY_AFTER)
                self.log(f"{method} {path}: {exc}; retrying in {delay:.1f} s")
            else:
                if answer.status not in RETRY_STATUSES or attempt >= self.retries:
                    return answer
                delay = _retry_after(answer, attempt)
                code = (answer.body.get("error") or {}).get("code", answer.status)
                self.log(f"{method} {path}: {answer.status} {code}; retrying in {delay:.1f} s")
            if rewind:
                rewind()
            attempt += 1
            time.sleep(delay)  # the server asked for it (Retry-After), or a backoff


def _json(response: IO[bytes]) -> dict[str, Any]:
    try:
        found = json.loads(response.read() or b"{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _retry_after(answer: Answer, attempt: int) -> float:
    try:
        seconds = float(answer.headers.get("Retry-After", ""))
    except ValueError:
        seconds = 2.0**attempt * 0.5
    return max(0.0, min(seconds, MAX_RETRY_AFTER))
