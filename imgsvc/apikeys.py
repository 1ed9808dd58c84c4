"""API keys (optional): who a client is, its own rate limit and daily upload quota.

Without ``IMGSVC_API_KEYS`` nothing changes: ``/api/*`` is open and limited per
client address. With it, every ``/api/*`` write (``POST``, ``PUT``, ``PATCH``,
``DELETE``) needs ``Authorization: Bearer <key>`` naming one of the configured
keys, or gets ``401 unauthorized``; reads stay open. A key's requests count
against its own rate limits (:mod:`imgsvc.ratelimit`, under the key's name,
not the address), and its accepted uploads against a daily quota (UTC days):
past it, ``429 quota_exceeded`` with ``Retry-After`` until the next UTC
midnight. The form keeps working for people (CSRF and per-address limits)
unless ``IMGSVC_FORM_UPLOADS`` is false.

The setting. Entries ``NAME:SHA256[:RATE[:DAILY]]`` separated by commas or new
lines, or the absolute path of a file holding them (one a line, ``#``
comments). ``NAME`` is 1-40 of ``a-z 0-9 _ -`` (it labels ``/metrics``),
``SHA256`` the hex digest of the key, ``RATE`` an upload rate limit such as
``120/60`` (empty: ``RATE_LIMIT_UPLOADS``), ``DAILY`` uploads per UTC day (empty:
``API_KEY_DAILY_UPLOADS``; 0: no quota). ``imgsvc keys create NAME`` makes a
key and prints its entry. A malformed setting stops the app at start
(``ValueError``).

Only digests are kept; a presented key is hashed and compared with every
configured digest in constant time. Keys are 256 random bits, so a plain
SHA-256 is enough (a slow hash protects guessable passwords, not these).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, request

from imgsvc.errors import ApiKeyRequired, FormUploadsDisabled, QuotaExceeded
from imgsvc.extensions import REDIS_ERRORS
from imgsvc.ratelimit import Limit, parse_limit
from imgsvc.settings import Settings

KEY_PREFIX = "isk_"
QUOTA_PREFIX = "imgsvc:quota:"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NAME = re.compile(r"[a-z0-9_-]{1,40}")
_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ApiKey:
    """One configured key: its name, the digest of its secret and its own limits."""

    name: str
    digest: str
    rate: Limit | None  # None: the RATE_LIMIT_UPLOADS of everyone
    daily_uploads: int  # 0: no quota


def digest(key: str) -> str:
    """The SHA-256 (hex) under which ``key`` is configured."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh key: ``isk_`` and 256 random bits, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def entry(name: str, key: str, rate: str = "", daily: int | None = None) -> str:
    """The setting's entry for ``key`` (what ``imgsvc keys create`` prints)."""
    parts = [name, digest(key)]
    if rate or daily is not None:
        parts.append(rate)
    if daily is not None:
        parts.append(str(daily))
    return ":".join(parts)


def parse_keys(value: str | None, default_daily: int = 0) -> list[ApiKey]:
    """The keys of the ``API_KEYS`` setting (see the module's docstring).

    Raises ``ValueError`` for a malformed entry, a repeated name or digest, or
    a file that cannot be read.
    """
    text = (value or "").strip()
    if text.startswith("/"):
        try:
            text = Path(text).read_text()
        except OSError as exc:
            raise ValueError(f"API_KEYS: cannot read {text}: {exc}") from exc
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    items = [item.strip() for line in lines for item in line.split(",") if item.strip()]
    keys: list[ApiKey] = []
    for item in items:
        parts = item.split(":")
        if len(parts) < 2 or len(parts) > 4:
            raise ValueError(f"API_KEYS: {item!r} is not NAME:SHA256[:RATE[:DAILY]]")
        name, hexdigest = parts[0], parts[1].lower()
        if not _NAME.fullmatch(name):
            raise ValueError(f"API_KEYS: {name!r} is not 1-40 of a-z 0-9 _ -")
        if not _DIGEST.fullmatch(hexdigest):
            raise ValueError(f"API_KEYS: the key of {name!r} is not a SHA-256 hex digest")
        rate = parse_limit(parts[2]) if len(parts) > 2 and parts[2] else None
        daily_text = parts[3].strip() if len(parts) > 3 else ""
        if daily_text and not daily_text.isdigit():
            raise ValueError(f"API_KEYS: the daily quota of {name!r} is not a whole number")
        keys.append(ApiKey(name, hexdigest, rate, int(daily_text) if daily_text else default_daily))
    if len({key.name for key in keys}) < len(keys) or len({k.digest for k in keys}) < len(keys):
        raise ValueError("API_KEYS: each name and each key may appear once")
    return keys


def find(keys: list[ApiKey], presented: str) -> ApiKey | None:
    """The configured key whose digest matches ``presented``, or ``None``.

    Compares with every configured digest, each in constant time.
    """
    wanted = digest(presented).encode()
    found = None
    for key in keys:
        if hmac.compare_digest(wanted, key.digest.encode()):
            found = key
    return found


def configured() -> list[ApiKey]:
    """The app's keys (empty when ``API_KEYS`` is unset)."""
    keys: list[ApiKey] = current_app.extensions["imgsvc_apikeys"]
    return keys


def current() -> ApiKey | None:
    """The key the current request was authorised with, if any."""
    key: ApiKey | None = g.get("api_key")
    return key


def scope() -> str:
    """The current client's scope for idempotency keys: its key's name, or ``""``."""
    key = current()
    return f"key:{key.name}" if key is not None else ""


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    kind, _, token = header.partition(" ")
    return token.strip() if kind.lower() == "bearer" and token.strip() else None


def _check_request() -> None:
    """Before each request: the form switch, and the key of an ``/api/*`` write."""
    form_upload = request.endpoint == "pages.index" and request.method == "POST"
    if form_upload and not Settings(current_app.config).FORM_UPLOADS:
        raise FormUploadsDisabled()
    keys = configured()
    if not keys or not request.path.startswith("/api/") or request.method not in WRITE_METHODS:
        return
    presented = _bearer()
    key = find(keys, presented) if presented else None
    if key is None:
        raise ApiKeyRequired()
    g.api_key = key


def _seconds_to_midnight(now: datetime) -> int:
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(int((midnight - now).total_seconds()), 1)


def charge_upload(redis: Any) -> str | None:
    """Count one upload against the current key's daily quota; the counter's
    Redis key (for :func:`refund`), or ``None`` when nothing was counted.

    Raises ``QuotaExceeded`` (with ``retry_after``) past the quota. When Redis
    cannot be reached nothing is counted (as the rate limiter, fail open: the
    upload then fails at its enqueue).
    """
    key = current()
    if key is None or key.daily_uploads <= 0:
        return None
    now = datetime.now(UTC)
    counter = f"{QUOTA_PREFIX}{key.name}:{now:%Y%m%d}"
    try:
        with redis.pipeline() as pipe:
            count, _ = pipe.incr(counter).expire(counter, 2 * 86_400).execute()
    except REDIS_ERRORS:
        return None
    if int(count) > key.daily_uploads:
        refund(redis, counter)
        error = QuotaExceeded(
            f"The API key {key.name!r} has used its {key.daily_uploads} uploads for today "
            "(UTC); the quota starts again at midnight UTC."
        )
        error.retry_after = _seconds_to_midnight(now)
        raise error
    return counter


def refund(redis: Any, counter: str | None) -> None:
    """Give back one upload counted by :func:`charge_upload` (an upload that failed)."""
    if counter is not None:
        with contextlib.suppress(*REDIS_ERRORS):
            redis.decr(counter)


def init_app(app: Flask) -> None:
    """Parse ``API_KEYS`` (a malformed value fails here) and check every request."""
    config = Settings(app.config)
    app.extensions["imgsvc_apikeys"] = parse_keys(config.API_KEYS, config.API_KEY_DAILY_UPLOADS)
    app.before_request(_check_request)
