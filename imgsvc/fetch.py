"""The SSRF-safe HTTP fetcher used by the word-count job.

Per hop: parse the URL (http/https only; an international host name in its
IDNA form), resolve the host and check every address
(:mod:`imgsvc.netguard`), connect to the checked address itself (no second
lookup, so DNS rebinding cannot swap it), send the request with the real
``Host`` (and TLS SNI/certificate name), then follow at most
``max_redirects`` redirects, re-checking each. The body is capped after
decompression, and one overall deadline covers everything, the name lookups
and decoding included, enforced by shutting the socket down so even a
1-byte-per-second trickle stops on time.

Only the charsets browsers decode (the WHATWG Encoding Standard's) are used;
any other label (``punycode``, ``idna``, ``utf-7``, ``rot13``, an unknown one)
is ignored as browsers ignore it, and the page is read as UTF-8 with
replacement characters. A byte-order mark wins over the label, as in browsers.
"""

from __future__ import annotations

import codecs
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

from imgsvc.errors import (
    FetchFailed,
    FetchTimeout,
    FetchTooLarge,
    ImgsvcError,
    UnsupportedContentType,
)
from imgsvc.netguard import Guard, url_port

TEXT_TYPES = ("text/html", "text/plain", "application/xhtml+xml")
_REDIRECTS = {301, 302, 303, 307, 308}
# The WHATWG Encoding Standard's encodings, by Python's codec names; these codecs
# decode in linear time (punycode, for one, does not).
_CHARSETS = {
    *("utf-8", "utf-16", "utf-16-be", "utf-16-le", "ascii", "cp866", "koi8-r", "koi8-u"),
    *(f"iso8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)),
    *(f"cp{n}" for n in (874, 1250, 1251, 1252, 1253, 1254, 1255, 1256, 1257, 1258)),
    *("mac-roman", "mac-cyrillic", "gbk", "gb2312", "gb18030", "big5", "big5hkscs"),
    *("euc_jp", "iso2022_jp", "shift_jis", "cp932", "euc_kr", "cp949"),
}
# Standard labels Python's codec registry does not know.
_LABELS = {
    "windows-874": "cp874",
    "x-mac-cyrillic": "mac-cyrillic",
    "windows-31j": "cp932",
    "x-sjis": "shift_jis",
    "iso-8859-8-i": "iso8859-8",
}
_LABEL = re.compile(r"[a-z0-9][a-z0-9._:-]{0,39}")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)


@dataclass(frozen=True)
class FetchLimits:
    """How much, how long and how far a fetch may go."""

    max_bytes: int = 2 * 1024 * 1024
    timeout: float = 10.0
    max_redirects: int = 5
    user_agent: str = "imgsvc-wordcount/1.0"


@dataclass(frozen=True)
class Page:
    """A fetched text page."""

    url: str
    content_type: str
    text: str


class _Deadline:
    """One clock for the whole fetch; closes the live socket when it runs out."""

    def __init__(self, seconds: float) -> None:
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
            raise FetchTimeout(f"The page took longer than {self.seconds:g} s.")
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
    limits = limits or FetchLimits()
    deadline = _Deadline(limits.timeout)
    try:
        for _hop in range(limits.max_redirects + 1):
            result = _fetch_once(url, guard, limits, deadline)
            if isinstance(result, Page):
                return result
            url = result
        raise FetchFailed(f"More than {limits.max_redirects} redirects.")
    except ImgsvcError:
        if deadline.expired:
            raise FetchTimeout(f"The page took longer than {limits.timeout:g} s.") from None
        raise
    except (OSError, http.client.HTTPException) as exc:
        if deadline.expired:
            raise FetchTimeout(f"The page took longer than {limits.timeout:g} s.") from exc
        raise FetchFailed(f"The connection failed: {exc}", retryable=True) from exc
    except (ValueError, zlib.error) as exc:  # http.client's chunk sizes, zlib's streams
        if deadline.expired:
            raise FetchTimeout(f"The page took longer than {limits.timeout:g} s.") from exc
        raise FetchFailed(f"The page's answer is malformed: {exc}") from exc
    finally:
        deadline.cancel()


def _fetch_once(url: str, guard: Guard, limits: FetchLimits, deadline: _Deadline) -> Page | str:
    """One request: a ``Page``, or the next URL when the answer is a redirect."""
    parts = guard.check_literal(url)  # the host in its ASCII form from here on
    host, port = parts.hostname or "", url_port(parts)
    addresses = guard.resolve(host, port, timeout=deadline.remaining())
    conn = _connect(parts.scheme.lower(), host, port, str(addresses[0]), deadline)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.putrequest("GET", _ascii(path), skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", parts.netloc.rpartition("@")[2])
        conn.putheader("User-Agent", limits.user_agent)
        conn.putheader("Accept", "text/html, text/plain;q=0.9")
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
                f"The page answered {response.status} {response.reason}.",
                retryable=response.status >= 500,
            )
        header = response.getheader("Content-Type") or ""
        content_type = header.split(";")[0].strip().lower()
        if content_type not in TEXT_TYPES:
            raise UnsupportedContentType(
                f"{content_type or 'No content type'} is not HTML or text."
            )
        body = _read_body(response, limits, deadline)
        text = decode(body, header)
        deadline.remaining()
        return Page(url=url, content_type=content_type, text=text)
    finally:
        conn.close()


def decode(body: bytes, content_type: str) -> str:
    """``body`` as text: its byte-order mark, else the ``charset`` of ``content_type``
    if browsers know it, else UTF-8; undecodable bytes become U+FFFD."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace")
    return body.decode(charset_of(content_type), errors="replace")


def charset_of(content_type: str) -> str:
    """The Python codec for the ``charset`` parameter of a ``Content-Type`` value,
    ``"utf-8"`` when it is missing or not a text encoding browsers decode."""
    found = re.search(r';\s*charset\s*=\s*"?([^";\s]*)', content_type, re.IGNORECASE)
    label = found.group(1).strip().lower() if found else ""
    label = _LABELS.get(label, label)
    if not _LABEL.fullmatch(label):
        return "utf-8"
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return "utf-8"
    return name if name in _CHARSETS else "utf-8"


def _ascii(path: str) -> str:
    """The request target with anything but printable ASCII percent-encoded (as UTF-8)."""
    return re.sub(r"[^\x21-\x7e]+", lambda m: quote(m.group(), safe=""), path)


def _header_text(value: str) -> str:
    """A header value as sent: http.client reads it as Latin-1, servers send UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _connect(
    scheme: str, host: str, port: int, address: str, deadline: _Deadline
) -> http.client.HTTPConnection:
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
    response: http.client.HTTPResponse, limits: FetchLimits, deadline: _Deadline
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
            f"The page declares {int(declared):,} bytes; the limit is {limits.max_bytes:,}."
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
                raise FetchTimeout(f"The page took longer than {deadline.seconds:g} s.")
            if decoder is not None and not decoder.eof:
                raise FetchFailed(f"The page's {encoding} data ends before its end.")
            break
        if decoder is not None:
            # max_length bounds each step, so a gzip bomb never inflates past the cap.
            chunk = decoder.decompress(chunk, limits.max_bytes + 1 - len(body))
            if decoder.unconsumed_tail:
                raise FetchTooLarge(f"The page is larger than {limits.max_bytes:,} bytes.")
        body += chunk
        if len(body) > limits.max_bytes:
            raise FetchTooLarge(f"The page is larger than {limits.max_bytes:,} bytes.")
    return bytes(body)
