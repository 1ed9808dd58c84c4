"""One webhook request: a POST through the SSRF-safe fetcher's rules.

The same rules as :mod:`imgsvc.fetch`: the URL checked as far as it alone
shows, the host resolved and every address checked (:class:`imgsvc.netguard.Guard`,
with ``FETCH_ALLOWLIST``), the checked address itself connected to, one
deadline over the whole exchange. Redirects are not followed (a receiver that
moved answers 3xx, which is a failure), and at most :data:`MAX_ANSWER_BYTES`
of the answer's body are read.
"""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass
from urllib.parse import quote

from imgsvc.errors import (
    DestinationNotAllowed,
    FetchFailed,
    FetchTimeout,
    InvalidUrl,
    WebhookFailed,
    WebhookTimeout,
)
from imgsvc.fetch import Deadline, connect
from imgsvc.netguard import Guard, url_port

MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "imgsvc-webhooks/1.0"
# A receiver may be briefly unable to take the request: tried again later.
RETRYABLE_STATUSES = {408, 425, 429}


@dataclass(frozen=True)
class Answer:
    """The receiver's answer: its status code."""

    status: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.status >= 500 or self.status in RETRYABLE_STATUSES


def post(url: str, body: bytes, headers: dict[str, str], guard: Guard, timeout: float) -> Answer:
    """POST ``body`` (JSON) with ``headers`` to ``url`` once; the receiver's answer.

    Raises ``InvalidUrl`` or ``DestinationNotAllowed`` for a destination the
    guard refuses (never worth retrying), ``WebhookTimeout`` past ``timeout``
    seconds, and ``WebhookFailed`` (retryable) when the name does not resolve
    or the connection fails. Any answer, 2xx or not, is returned.
    """
    deadline = Deadline(timeout, "receiver")
    try:
        return _post(url, body, headers, guard, deadline)
    except (InvalidUrl, DestinationNotAllowed):
        raise
    except FetchTimeout as exc:
        raise WebhookTimeout(exc.message) from exc
    except FetchFailed as exc:  # a name that does not resolve may resolve later
        raise WebhookFailed(exc.message, retryable=True) from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if deadline.expired:
            raise WebhookTimeout(f"The receiver took longer than {timeout:g} s.") from exc
        raise WebhookFailed(f"The connection failed: {exc}", retryable=True) from exc
    finally:
        deadline.cancel()


def _post(
    url: str, body: bytes, headers: dict[str, str], guard: Guard, deadline: Deadline
) -> Answer:
    parts = guard.check_literal(url)
    host, port = parts.hostname or "", url_port(parts)
    addresses = guard.resolve(host, port, timeout=deadline.remaining())
    conn = connect(parts.scheme.lower(), host, port, str(addresses[0]), deadline)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        target = re.sub(r"[^\x21-\x7e]+", lambda m: quote(m.group(), safe=""), target)
        conn.putrequest("POST", target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", parts.netloc.rpartition("@")[2])
        conn.putheader("User-Agent", USER_AGENT)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        conn.putheader("Connection", "close")
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        response.read(MAX_ANSWER_BYTES)  # what the receiver says is not used, only bounded
        deadline.remaining()
        return Answer(response.status)
    finally:
        conn.close()
