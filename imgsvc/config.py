"""Settings: defaults, then ``IMGSVC_*`` environment variables, then overrides.

Both the web app and the job functions read settings through
:func:`load_settings`, so a plain ``rq worker`` configured only by environment
sees exactly what the web process sees. Code reads them through
:class:`imgsvc.settings.Settings`, a typed view of that mapping, checked
whole once at start.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Annotated, Any

from flask import Config

MiB = 1024 * 1024
ENV_PREFIX = "IMGSVC_"
# A comma-separated list: environment JSON may also give it as a list of items.
CommaList = Annotated[str, "comma-separated"]


class Defaults:
    """Default values; each is documented in the README's configuration table."""

    SECRET_KEY: str | None = None
    DEV: bool = False
    REDIS_URL: str = "redis://127.0.0.1:6379/0"
    QUEUE_NAME: str = "default"
    STORAGE_URL: str = "file://" + os.path.abspath("var/media")
    S3_ENDPOINT_URL: str | None = None
    S3_REGION: str | None = None
    # The endpoint clients reach, for presigned URLs (unset: S3_ENDPOINT_URL).
    S3_PUBLIC_ENDPOINT_URL: str | None = None
    STORAGE_TIMEOUT: float = 10.0
    # Uploads straight to the bucket (S3 only, imgsvc/images/direct.py): seconds the
    # presigned POST is valid; bytes of the object the header check reads.
    DIRECT_UPLOAD_EXPIRY: int = 900
    DIRECT_UPLOAD_CHECK_BYTES: int = 1 * MiB
    # The origins (scheme://host[:port]) of the pages whose upload form posts straight
    # to the bucket: its CORS rule (`imgsvc s3-cors`); "" keeps the form on the web.
    S3_CORS_ORIGINS: CommaList = ""
    # Reads that bypass the web (S3 only): variant URLs on this base (a CDN or a
    # public bucket), or GET /images/<id>/<name> redirecting to a presigned URL.
    MEDIA_BASE_URL: str | None = None
    MEDIA_REDIRECT: bool = False
    MEDIA_REDIRECT_EXPIRY: int = 3600

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
    ALLOWED_FORMATS: CommaList = "JPEG,PNG,WEBP,GIF,TIFF,HEIF,AVIF"

    # Variants: name:width or name:WxH:cover, comma-separated.
    VARIANTS: CommaList = "thumb:200x200:cover,xs:320,sm:640,md:1024,lg:1600,xl:2048"
    JPEG_QUALITY: int = 85
    WEBP_QUALITY: int = 80
    WEBP_METHOD: int = 3  # 0 (fast, bigger files) .. 6; 3: the bytes of 4 for less CPU
    # The WebP extra format's method: cheaper than the transparent primaries' (see encode.py).
    EXTRA_WEBP_METHOD: int = 1
    TRANSPARENT_FORMAT: str = "WEBP"
    # Each variant also in these formats (webp, avif), comma-separated; "" for none.
    EXTRA_FORMATS: CommaList = ""
    # Animated GIF/WebP → animated WebP width variants (the thumbnail stays a still), when
    # the animation has at most these frames and source pixels over all frames.
    ANIMATED: bool = False
    MAX_ANIMATED_FRAMES: int = 200
    MAX_ANIMATED_PIXELS: int = 25_000_000
    # Cover crops without an upload's focal point: "smart" (where the detail is) or "centre".
    CROP: str = "smart"
    # The formats GET /images/<id>/<name> may answer in, best first, when the client's
    # Accept names them and the variant was made in them (EXTRA_FORMATS); "" for none.
    ACCEPT_FORMATS: CommaList = "avif,webp"
    AVIF_QUALITY: int = 60
    AVIF_SPEED: int = 9  # 0 (smallest files, slowest) .. 10; see encode.py

    # Jobs.
    JOB_TIMEOUT: int = 120
    JOB_RETRIES: int = 3
    JOB_RETRY_INTERVALS: CommaList = "2,10,30"
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
    # On-demand variants: a request that enqueued the job for an image's variant
    # set holds this many seconds against the next enqueue (images/ondemand.py).
    ONDEMAND_DEDUP_SECONDS: int = 600
    # Seconds of listing and enqueueing per slice of `imgsvc backfill` (its place
    # is saved in Redis after each slice: a killed run resumes there).
    BACKFILL_SLICE_SECONDS: float = 2.0
    # Failed images one click of /ops's "retry" enqueues at most (the rest: click again).
    RETRY_FAILED_BATCH: int = 1000
    WORKER_NICE: int = 10
    WORKER_PRIORITY: str = "idle"
    FAILURE_TTL: int = 7 * 86_400

    # Word counter: what its fetcher may reach, how much and for how long.
    FETCH_ALLOWLIST: CommaList = ""
    FETCH_MAX_BYTES: int = 2 * MiB
    FETCH_TIMEOUT: float = 10.0
    FETCH_MAX_REDIRECTS: int = 5
    # The whole word-count job (fetch, decode, parse, count); past it: failed, `timeout`.
    WORDCOUNT_TIMEOUT: float = 15.0
    WORDCOUNT_RESULT_TTL: int = 86_400
    WORDCOUNT_TOP: int = 20

    # Webhooks (imgsvc/webhooks): where every final image and word count is also
    # posted, the signing secret ("whsec_" + base64; required to send any), and
    # the delivery bounds: one attempt's time, attempts in all, the first retry's
    # delay (doubling up to WEBHOOK_BACKOFF_MAX), no retry later than
    # WEBHOOK_RETRY_WINDOW seconds after the event, attempts kept WEBHOOK_RECORD_TTL s.
    WEBHOOK_URL: str | None = None
    WEBHOOK_SECRET: str | None = None
    WEBHOOK_TIMEOUT: float = 10.0
    WEBHOOK_MAX_ATTEMPTS: int = 20
    WEBHOOK_BACKOFF: float = 5.0
    WEBHOOK_BACKOFF_MAX: float = 3600.0
    WEBHOOK_RETRY_WINDOW: int = 86_400
    WEBHOOK_RECORD_TTL: int = 7 * 86_400

    # Jobs waiting in the queue at most: past it, uploads and word counts get
    # 503 queue_unavailable with Retry-After (0: no cap); see queue.check_room.
    MAX_QUEUED_JOBS: int = 10_000

    # Rate limits per client, "requests/seconds" ("0", "" or null turns one off); see ratelimit.py.
    RATE_LIMIT_UPLOADS: str | None = "60/60"
    RATE_LIMIT_WORDCOUNTS: str | None = "30/60"
    # Failed /ops (and /metrics) sign-ins per client before it gets 429 for the window.
    RATE_LIMIT_OPS_AUTH: str | None = "10/300"
    # How many proxies in front of the app set X-Forwarded-For (0: use the peer address).
    TRUSTED_PROXIES: int = 0

    RECENT_UPLOADS: int = 12

    # Idempotency-Key (imgsvc/idempotency.py): how long an answer is replayed, how long
    # a running request holds its key, how long a concurrent retry waits for its answer.
    IDEMPOTENCY_TTL: int = 86_400
    IDEMPOTENCY_PENDING_TTL: int = 120
    IDEMPOTENCY_WAIT: float = 5.0

    # API keys (imgsvc/apikeys.py): "name:sha256[:rate[:daily]]" entries, or a file of
    # them; unset: /api/* is open as before. Daily uploads per key unless its entry says.
    API_KEYS: str | None = None
    API_KEY_DAILY_UPLOADS: int = 0
    # The upload form (CSRF + per-IP limits); false: uploads only through the API.
    FORM_UPLOADS: bool = True

    # Operators: /ops (and /metrics when METRICS_AUTH) behind HTTP basic auth; unset: /ops is 404.
    OPS_PASSWORD: str | None = None
    OPS_USERNAME: str = "ops"
    METRICS_AUTH: bool = False

    HOST: str = "127.0.0.1"
    PORT: int = 5000

    # Logs of every process (imgsvc/logs.py): "json" or "text", and the level's name.
    LOG_FORMAT: str = "json"
    LOG_LEVEL: str = "INFO"

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
    FRONT_REAL_IP_FROM: CommaList = ""  # load balancers before the front (CIDRs, comma-separated)


class SettingsError(ValueError):
    """A setting whose value has the wrong type, or an ``IMGSVC_*`` variable naming none."""


def _check_environment_names() -> None:
    """Raise :class:`SettingsError` for an ``IMGSVC_*`` variable that names no setting."""
    names = [name for name in vars(Defaults) if name.isupper()]
    for variable in sorted(os.environ):
        name = variable.removeprefix(ENV_PREFIX)
        if variable.startswith(ENV_PREFIX) and name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean {ENV_PREFIX}{close[0]}?)" if close else ""
            raise SettingsError(f"{variable}: names no setting{hint}")


def load_settings(overrides: Mapping[str, Any] | None = None) -> Config:
    """Build the settings mapping: defaults, then ``IMGSVC_*`` env, then overrides.

    Environment values are parsed as JSON when they can be (so
    ``IMGSVC_MAX_IMAGE_PIXELS=1000`` is an int), as Flask's
    ``from_prefixed_env`` does. Raises :class:`SettingsError` for an
    ``IMGSVC_*`` variable that names no setting (a typo) and for a ``PORT``
    that is not an integer; the values' types are checked by
    :func:`imgsvc.settings.parse_settings`.
    """
    _check_environment_names()
    settings = Config(os.getcwd())
    settings.from_object(Defaults)
    settings.from_prefixed_env(ENV_PREFIX.rstrip("_"))
    if "PORT" in os.environ:
        try:
            settings["PORT"] = int(os.environ["PORT"])
        except ValueError:
            raise SettingsError(f"PORT: expected an integer, got {os.environ['PORT']!r}") from None
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
