"""The SSRF-safe HTTP fetcher: the word-count job's pages, uploads from a URL.

Per hop: parse the URL (http/https only; an international host name in its
IDNA form), resolve the host and check every address
(:mod:`imgsvc.netguard`), connect to the checked address itself (no second
lookup, so DNS rebinding cannot swap it), send the request with the real
``Host`` (and TLS SNI/certificate name), then follow at most
``max_redirects`` redirects, re-checking each. The body is capped after
decompression, and one overall deadline covers everything, the name lookups
and decoding included, enforced by shutting the socket down so even a
1-byte-per-second trickle stops on time.

A page's bytes become text as browsers decode them (:mod:`imgsvc.charsets`).
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass
from urllib.parse import quote, urljoin

from imgsvc.charsets import charset_of, decode
from imgsvc.errors import (
    FetchFailed,
    FetchTimeout,
    FetchTooLarge,
    ImgsvcError,
    UnsupportedContentType,
)
from imgsvc.netguard import Guard, url_port

__all__ = [  # decode and charset_of are re-exported for the code that imported them here
    "IMAGES",
    "PAGES",
    "Deadline",
    "FetchLimits",
    "Fetched",
    "Page",
    "Wanted",
    "charset_of",
    "connect",
    "decode",
    "fetch_file",
    "fetch_page",
]

TEXT_TYPES = ("text/html", "text/plain", "application/xhtml+xml")
_REDIRECTS = {301, 302, 303, 307, 308}


@dataclass(frozen=True)
class FetchLimits:
    """How much, how long and how far a fetch may go."""

    max_bytes: int = 2 * 1024 * 1024
    timeout: float = 10.0
    max_redirects: int = 5
    user_agent: str = "imgsvc-wordcount/1.0"


@dataclass(frozen=True)
class Wanted:
    """Which answers a fetch takes: their content types (``image/*`` takes every
    image type), the ``Accept`` header sent, and what errors call them."""

    types: tuple[str, ...]
    accept: str
    noun: str
    description: str

    def takes(self, content_type: str) -> bool:
        return any(
            content_type == kind or (kind.endswith("/*") and content_type.startswith(kind[:-1]))
            for kind in self.types
        )


PAGES = Wanted(TEXT_TYPES, "text/html, text/plain;q=0.9", "page", "HTML or text")
IMAGES = Wanted(("image/*",), "image/*", "image", "an image")


@dataclass(frozen=True)
class Fetched:
    """A fetched body, within the limits, of a content type the fetch wanted."""

    url: str
    content_type: str  # the bare media type, lower case
    header: str  # the whole Content-Type header (its charset, for pages)
    body: bytes


@dataclass(frozen=True)
class Page:
    """A fetched text page."""

    url: str
    content_type: str
    text: str


class Deadline:
    """One clock for a whole exchange; closes the live socket when it runs out.

    :meth:`remaining` raises ``FetchTimeout`` once it has; call :meth:`cancel`
    at the end (the outbound webhooks share it, :mod:`imgsvc.webhooks.transport`).
    """

    def __init__(self, seconds: float, noun: str = "page") -> None:
        self.noun = noun
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._sock: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise FetchTimeout(f"The {self.noun} took longer than {self.seconds:g} s.")
        return left

    def watch(self, sock: socket.socket | None) -> None:
        self._sock = sock

    def _expire(self) -> None:
        self.expired = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def fetch_page(url: str, guard: Guard, limits: FetchLimits | None = None) -> Page:
    """Fetch ``url`` as text within ``limits``, refusing destinations ``guard`` forbids.

    Raises ``InvalidUrl``, ``DestinationNotAllowed``, ``FetchFailed``,
    ``FetchTooLarge``, ``FetchTimeout`` or ``UnsupportedContentType``, and
    nothing else: a malformed answer (broken compression or chunking) is a
    ``FetchFailed`` that is not retried, a failed connection one that is.
    """
    fetched = fetch_file(url, guard, limits, PAGES)
    return Page(
        url=fetched.url,
        content_type=fetched.content_type,
        text=decode(fetched.body, fetched.header),
    )


def fetch_file(
    url: str, guard: Guard, limits: FetchLimits | None = None, wanted: Wanted = PAGES
) -> Fetched:
    """Fetch ``url``'s body, of a content type ``wanted`` takes, within ``limits``.

    The same rules and the same errors as :func:`fetch_page` (an answer of
    another type is ``UnsupportedContentType``); the body is not decoded.
    """
    limits = limits or FetchLimits()
    deadline = Deadline(limits.timeout, wanted.noun)
    late = f"The {wanted.noun} took longer than {limits.timeout:g} s."
    try:
        for _hop in range(limits.max_redirects + 1):
            result = _fetch_once(url, guard, limits, deadline, wanted)
            if isinstance(result, Fetched):
                return result
            url = result
        raise FetchFailed(f"More than {limits.max_redirects} redirects.")
    except ImgsvcError:
        if deadline.expired:
            raise FetchTimeout(late) from None
        raise
    except (OSError, http.client.HTTPException) as exc:
        if deadline.expired:
            raise FetchTimeout(late) from exc
        raise FetchFailed(f"The connection failed: {exc}", retryable=True) from exc
    except (ValueError, zlib.error) as exc:  # http.client's chunk sizes, zlib's streams
        if deadline.expired:
            raise FetchTimeout(late) from exc
        raise FetchFailed(f"The {wanted.noun}'s answer is malformed: {exc}") from exc
    finally:
        deadline.cancel()


def _fetch_once(
    url: str, guard: Guard, limits: FetchLimits, deadline: Deadline, wanted: Wanted
) -> Fetched | str:
    """One request: the body, or the next URL when the answer is a redirect."""
    parts = guard.check_literal(url)  # the host in its ASCII form from here on
    host, port = parts.hostname or "", url_port(parts)
    addresses = guard.resolve(host, port, timeout=deadline.remaining())
    conn = connect(parts.scheme.lower(), host, port, str(addresses[0]), deadline)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.putrequest("GET", _ascii(path), skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", parts.netloc.rpartition("@")[2])
        conn.putheader("User-Agent", limits.user_agent)
        conn.putheader("Accept", wanted.accept)
        conn.putheader("Accept-Encoding", "gzip, deflate")
        conn.putheader("Connection", "close")
        conn.endheaders()
        response = conn.getresponse()
        if response.status in _REDIRECTS:
            location = (response.getheader("Location") or "").strip()
            if not location:
                raise FetchFailed(f"A {response.status} redirect without a Location.")
            return urljoin(url, _header_text(location))
        if response.status >= 400:
            raise FetchFailed(
                f"The {wanted.noun} answered {response.status} {response.reason}.",
                retryable=response.status >= 500,
            )
        header = response.getheader("Content-Type") or ""
        content_type = header.split(";")[0].strip().lower()
        if not wanted.takes(content_type):
            raise UnsupportedContentType(
                f"{content_type or 'No content type'} is not {wanted.description}."
            )
        body = _read_body(response, limits, deadline)
        deadline.remaining()
        return Fetched(url=url, content_type=content_type, header=header, body=body)
    finally:
        conn.close()


def _ascii(path: str) -> str:
    """The request target with anything but printable ASCII percent-encoded (as UTF-8)."""
    return re.sub(r"[^\x21-\x7e]+", lambda m: quote(m.group(), safe=""), path)


def _header_text(value: str) -> str:
    """A header value as sent: http.client reads it as Latin-1, servers send UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def connect(
    scheme: str, host: str, port: int, address: str, deadline: Deadline
) -> http.client.HTTPConnection:
    """A connection to ``address`` itself (already checked by the guard: no second
    lookup), speaking TLS for ``host`` when ``scheme`` is https, watched by ``deadline``."""
    sock = socket.create_connection((address, port), timeout=deadline.remaining())
    deadline.watch(sock)
    if scheme == "https":
        context = ssl.create_default_context()
        sock = context.wrap_socket(sock, server_hostname=host)
        deadline.watch(sock)
    conn = http.client.HTTPConnection(host, port, timeout=deadline.remaining())
    conn.sock = sock  # already connected to the checked address: no second lookup
    return conn


def _read_body(
    response: http.client.HTTPResponse, limits: FetchLimits, deadline: Deadline
) -> bytes:
    declared = response.getheader("Content-Length")
    encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
    if (
        declared
        and declared.isascii()
        and declared.isdigit()
        and encoding == "identity"
        and int(declared) > limits.max_bytes
    ):
        raise FetchTooLarge(
            f"The {deadline.noun} declares {int(declared):,} bytes; "
            f"the limit is {limits.max_bytes:,}."
        )
    if encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = zlib.decompressobj()
    elif encoding == "identity":
        decoder = None
    else:
        raise FetchFailed(f"Unsupported Content-Encoding {encoding!r}.")
    body = bytearray()
    while True:
        deadline.remaining()
        chunk = response.read1(64 * 1024)
        if not chunk:
            if deadline.expired:  # the watchdog cut the socket: a short body, not the page
                raise FetchTimeout(f"The {deadline.noun} took longer than {deadline.seconds:g} s.")
            if decoder is not None and not decoder.eof:
                raise FetchFailed(f"The {deadline.noun}'s {encoding} data ends before its end.")
            break
        if decoder is not None:
            # max_length bounds each step, so a gzip bomb never inflates past the cap.
            chunk = decoder.decompress(chunk, limits.max_bytes + 1 - len(body))
            if decoder.unconsumed_tail:
                raise FetchTooLarge(
                    f"The {deadline.noun} is larger than {limits.max_bytes:,} bytes."
                )
        body += chunk
        if len(body) > limits.max_bytes:
            raise FetchTooLarge(f"The {deadline.noun} is larger than {limits.max_bytes:,} bytes.")
    return bytes(body)
