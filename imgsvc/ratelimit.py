"""Per-client rate limits for uploads, word-count submissions and operator
sign-ins, kept in Redis.

A limit is a fixed window: ``"60/60"`` allows 60 requests per client in a
window of 60 seconds that starts with the client's first request. One Lua
script does ``INCR`` and, for a new window, ``EXPIRE``, so the count and its
expiry are set atomically under any number of web processes. A client over the
limit gets ``429 rate_limited`` with ``Retry-After`` (the seconds left in its
window). A fixed window lets a client send up to twice the limit across a
window boundary; that is the price of one key and one round trip per request.

The client is ``request.remote_addr``: the peer address, or, behind proxies
trusted with ``TRUSTED_PROXIES``, the address they put in ``X-Forwarded-For``.
IPv6 clients are counted per /64, the block one host usually holds, so
rotating addresses inside it does not reset the count. A request authorised
with an API key (:mod:`imgsvc.apikeys`) is counted under the key's name
instead, against the key's own upload limit when its entry gives one.

Operator sign-ins (``/ops``, and ``/metrics`` with ``METRICS_AUTH``) count
only failures: after ``RATE_LIMIT_OPS_AUTH`` wrong guesses a client gets
``429 rate_limited`` for the rest of its window, whatever it sends, so the
limit bounds guessing and a right password cannot be told from a wrong one.

When Redis cannot be reached the limiter lets the request through (fail open):
the limit protects the workers, which need Redis anyway, so an upload then
gets ``503 queue_unavailable`` from the enqueue step rather than a 429.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from flask import Flask, current_app, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from imgsvc.errors import RateLimited
from imgsvc.extensions import REDIS_ERRORS
from imgsvc.settings import Settings

log = logging.getLogger(__name__)

KEY_PREFIX = "imgsvc:ratelimit:"
# Settings holding a limit, by the scope name used in keys and decorators.
SCOPES = {
    "uploads": "RATE_LIMIT_UPLOADS",
    "wordcounts": "RATE_LIMIT_WORDCOUNTS",
    "ops_auth": "RATE_LIMIT_OPS_AUTH",
}

_HIT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Limit:
    """At most ``requests`` per client in a window of ``window`` seconds."""

    requests: int
    window: int


def parse_limit(value: object) -> Limit | None:
    """Parse ``"N/S"`` (N requests per S seconds); ``0``, ``""`` or ``None`` disable it.

    Raises ``ValueError`` for anything else, so a typo fails at start-up.
    """
    text = "" if value is None else str(value).strip()
    if text in ("", "0"):
        return None
    count, sep, seconds = text.partition("/")
    try:
        limit = Limit(int(count), int(seconds))
    except ValueError:
        limit = None
    if not sep or limit is None or limit.requests < 1 or limit.window < 1:
        raise ValueError(f"a rate limit must look like '60/60' (requests/seconds), not {text!r}")
    return limit


def client_id(address: str | None) -> str:
    """The key part naming a client: its IPv4 address or its IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def hit(redis: Any, scope: str, client: str, limit: Limit) -> tuple[int, int]:
    """Count one request of ``client`` in ``scope``; return (count in window, seconds left)."""
    count, ttl = redis.eval(_HIT, 1, f"{KEY_PREFIX}{scope}:{client}", limit.window)
    return int(count), max(int(ttl), 1)


def _refusal(limit: Limit, retry_after: int) -> RateLimited:
    error = RateLimited(
        f"Too many requests: the limit is {limit.requests} per {limit.window} s; "
        f"try again in {retry_after} s."
    )
    error.retry_after = retry_after
    return error


def refuse_if_exhausted(scope: str) -> None:
    """Raise ``RateLimited`` when the client already used up ``scope`` in its
    window (for limits that count failures: counts nothing itself)."""
    limit = current_app.extensions["imgsvc_ratelimits"].get(scope)
    if limit is None:
        return
    key = f"{KEY_PREFIX}{scope}:{client_id(request.remote_addr)}"
    try:
        with current_app.extensions["imgsvc"].redis.pipeline() as pipe:
            count, ttl = pipe.get(key).ttl(key).execute()
    except REDIS_ERRORS as exc:
        log.warning("rate limiter skipped (Redis unavailable): %s", exc)
        return
    if count is not None and int(count) >= limit.requests:
        raise _refusal(limit, max(int(ttl), 1))


def count_failure(scope: str) -> None:
    """Count one failure of the current client against ``scope`` (best effort)."""
    limit = current_app.extensions["imgsvc_ratelimits"].get(scope)
    if limit is None:
        return
    client = client_id(request.remote_addr)
    try:
        hit(current_app.extensions["imgsvc"].redis, scope, client, limit)
    except REDIS_ERRORS as exc:
        log.warning("rate limiter skipped (Redis unavailable): %s", exc)


def _client_and_limit(scope: str) -> tuple[str, Limit | None]:
    """Who the current request counts for in ``scope``, and the limit that applies:
    its API key (``g.api_key``, set by :mod:`imgsvc.apikeys`) or its address."""
    limit: Limit | None = current_app.extensions["imgsvc_ratelimits"].get(scope)
    key = g.get("api_key")
    if key is None:
        return client_id(request.remote_addr), limit
    if scope == "uploads" and key.rate is not None:
        limit = key.rate
    return f"key:{key.name}", limit


def check(scope: str) -> None:
    """Count the current request against ``scope``; raise ``RateLimited`` over the limit."""
    client, limit = _client_and_limit(scope)
    if limit is None:
        return
    try:
        count, retry_after = hit(current_app.extensions["imgsvc"].redis, scope, client, limit)
    except REDIS_ERRORS as exc:
        log.warning("rate limiter skipped (Redis unavailable): %s", exc)
        return
    if count > limit.requests:
        raise _refusal(limit, retry_after)


def limited(
    scope: str, methods: tuple[str, ...] = ("POST",)
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a view so its ``methods`` requests count against ``scope``'s limit."""
    if scope not in SCOPES:
        raise ValueError(f"unknown rate-limit scope {scope!r}")

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if request.method in methods:
                check(scope)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def init_app(app: Flask) -> None:
    """Parse the limits (bad values fail here) and trust ``TRUSTED_PROXIES`` proxies."""
    config = Settings(app.config)
    app.extensions["imgsvc_ratelimits"] = {
        scope: parse_limit(getattr(config, name)) for scope, name in SCOPES.items()
    }
    proxies = config.TRUSTED_PROXIES
    if proxies < 0:
        raise ValueError("TRUSTED_PROXIES must be 0 or more")
    if proxies:
        # Flask's documented way to wrap its WSGI app; its types declare a method there.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
