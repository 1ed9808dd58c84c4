"""Settings: defaults, then ``IMGSVC_*`` environment variables, then overrides.

Both the web app and the job functions read settings through
:func:`load_settings`, so a plain ``rq worker`` configured only by environment
sees exactly what the web process sees.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Config

MiB = 1024 * 1024


class Defaults:
    """Default values; each is documented in the README's configuration table."""

    SECRET_KEY: str | None = None
    DEV: bool = False
    REDIS_URL: str = "redis://127.0.0.1:6379/0"
    QUEUE_NAME: str = "default"
    STORAGE_URL: str = "file://" + os.path.abspath("var/media")
    S3_ENDPOINT_URL: str | None = None
    S3_REGION: str | None = None
    STORAGE_TIMEOUT: float = 10.0

    # Upload limits, checked in the web process from the header alone.
    MAX_CONTENT_LENGTH: int = 20 * MiB
    MAX_IMAGE_PIXELS: int = 50_000_000
    MAX_IMAGE_FRAMES: int = 1000
    # Caps of the structure walk before any header is parsed (imaging/structure.py):
    # chunks, blocks and sub-blocks in a file; chunks before the pixels, JPEG
    # segments before the first scan, entries of a TIFF page; JPEG scans;
    # compressed PNG metadata chunks (Pillow inflates each, up to 1 MiB).
    MAX_IMAGE_CHUNKS: int = 100_000
    MAX_HEADER_CHUNKS: int = 2000
    MAX_JPEG_SCANS: int = 100
    MAX_COMPRESSED_CHUNKS: int = 8
    ALLOWED_FORMATS: str = "JPEG,PNG,WEBP,GIF,TIFF"

    # Variants: name:width or name:WxH:cover, comma-separated.
    VARIANTS: str = "thumb:200x200:cover,xs:320,sm:640,md:1024,lg:1600,xl:2048"
    JPEG_QUALITY: int = 85
    WEBP_QUALITY: int = 80
    WEBP_METHOD: int = 3  # 0 (fast, bigger files) .. 6; 3: the bytes of 4 for less CPU
    TRANSPARENT_FORMAT: str = "WEBP"
    # Each variant also in these formats (webp, avif), comma-separated; "" for none.
    EXTRA_FORMATS: str = ""
    AVIF_QUALITY: int = 60
    AVIF_SPEED: int = 8  # 0 (smallest files, slowest) .. 10; 6 costs ~3x the CPU of 8

    # Jobs.
    JOB_TIMEOUT: int = 120
    JOB_RETRIES: int = 3
    JOB_RETRY_INTERVALS: str = "2,10,30"
    RESULT_TTL: int = 86_400
    # Crash recovery: how fast a dead worker's job is noticed and retried.
    WORKER_MAINTENANCE_INTERVAL: int = 10
    WORKER_MONITOR_INTERVAL: int = 5
    HEARTBEAT_GRACE: int = 10
    RECONCILE_INTERVAL: int = 60
    # Seconds of work per slice of the workers' periodic reconcile (see reconcile.py).
    RECONCILE_SLICE_SECONDS: float = 0.5
    # An image folder without a manifest this old is an abandoned upload (0: keep).
    ABANDONED_AFTER_SECONDS: int = 86_400
    WORKER_NICE: int = 10
    WORKER_PRIORITY: str = "idle"
    FAILURE_TTL: int = 7 * 86_400

    # Word counter: what its fetcher may reach, how much and for how long.
    FETCH_ALLOWLIST: str = ""
    FETCH_MAX_BYTES: int = 2 * MiB
    FETCH_TIMEOUT: float = 10.0
    FETCH_MAX_REDIRECTS: int = 5
    # The whole word-count job (fetch, decode, parse, count); past it: failed, `timeout`.
    WORDCOUNT_TIMEOUT: float = 15.0
    WORDCOUNT_RESULT_TTL: int = 86_400
    WORDCOUNT_TOP: int = 20

    # Jobs waiting in the queue at most: past it, uploads and word counts get
    # 503 queue_unavailable with Retry-After (0: no cap); see queue.check_room.
    MAX_QUEUED_JOBS: int = 10_000

    # Rate limits per client, "requests/seconds" ("0" or "" turns one off); see ratelimit.py.
    RATE_LIMIT_UPLOADS: str = "60/60"
    RATE_LIMIT_WORDCOUNTS: str = "30/60"
    # Failed /ops (and /metrics) sign-ins per client before it gets 429 for the window.
    RATE_LIMIT_OPS_AUTH: str = "10/300"
    # How many proxies in front of the app set X-Forwarded-For (0: use the peer address).
    TRUSTED_PROXIES: int = 0

    RECENT_UPLOADS: int = 12

    # Operators: /ops (and /metrics when METRICS_AUTH) behind HTTP basic auth; unset: /ops is 404.
    OPS_PASSWORD: str | None = None
    OPS_USERNAME: str = "ops"
    METRICS_AUTH: bool = False

    HOST: str = "127.0.0.1"
    PORT: int = 5000

    # The front (nginx before gunicorn; see imgsvc/front): slow and idle clients.
    UPLOAD_DEADLINE: float = 900.0  # seconds to receive a whole request (408 past it)
    FRONT_HEADER_TIMEOUT: float = 10.0  # seconds for a request's headers
    FRONT_IDLE_TIMEOUT: float = 60.0  # seconds without a byte, reading a body or sending
    FRONT_KEEPALIVE_TIMEOUT: float = 15.0  # an idle kept-alive connection is closed
    FRONT_APP_TIMEOUT: float = 60.0  # seconds the front waits on the app's answer
    FRONT_MAX_CONNECTIONS: int = 4096  # per front process
    FRONT_MAX_CONNECTIONS_PER_CLIENT: int = 100  # requests in progress per address (0: off)
    FRONT_BACKLOG: int = 511  # connections waiting in the kernel past FRONT_MAX_CONNECTIONS
    FRONT_WORKERS: int = 1  # nginx worker processes
    FRONT_MAX_RESPONSE_SPOOL: int = 1024 * MiB  # a response the front holds on disk, at most
    FRONT_DIR: str = os.path.abspath("var/front")  # its config, logs and spooled bodies
    FRONT_REAL_IP_FROM: str = ""  # load balancers before the front (CIDRs, comma-separated)


def load_settings(overrides: Mapping[str, Any] | None = None) -> Config:
    """Build the settings mapping: defaults, then ``IMGSVC_*`` env, then overrides.

    Environment values are parsed as JSON when they can be (so
    ``IMGSVC_MAX_IMAGE_PIXELS=1000`` is an int), as Flask's
    ``from_prefixed_env`` does.
    """
    settings = Config(os.getcwd())
    settings.from_object(Defaults)
    settings.from_prefixed_env("IMGSVC")
    if "PORT" in os.environ:
        settings["PORT"] = int(os.environ["PORT"])
    if overrides:
        settings.update(overrides)
    if settings["SECRET_KEY"] is not None:
        settings["SECRET_KEY"] = str(settings["SECRET_KEY"])  # "123" must not become an int
    return settings


def csv_list(value: str | list[str] | tuple[str, ...]) -> list[str]:
    """Split a comma-separated setting into its stripped, non-empty items."""
    if isinstance(value, (list, tuple)):
        return [str(item).strip() for item in value if str(item).strip()]
    return [item.strip() for item in str(value).split(",") if item.strip()]


def retry_intervals(settings: Mapping[str, Any]) -> list[int]:
    """The backoff intervals (seconds) between job retries."""
    return [int(item) for item in csv_list(str(settings["JOB_RETRY_INTERVALS"]))] or [0]
