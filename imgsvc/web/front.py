"""What the app does for the front (nginx, :mod:`imgsvc.front`).

- The upload deadline: the front buffers a request whole and says how long
  it took to arrive (``X-Imgsvc-Receive-Seconds``, seconds since its first
  byte). A request that took longer than ``UPLOAD_DEADLINE`` is refused with
  ``408 request_timeout`` before the body is parsed, so nothing is stored.
  Without the front the header is absent (a client that sends it can only
  refuse its own request).
- The front's own refusals (413 for a body over ``MAX_CONTENT_LENGTH``, 429
  for too many requests in progress from one address) are rendered here, so
  they reach clients in the app's one JSON shape, or as its error page.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, generate_latest

from imgsvc.errors import (
    FileTooLarge,
    ImgsvcError,
    NotFound,
    RequestTimeout,
    TooManyConnections,
)
from imgsvc.front.refusals import RefusalCollector
from imgsvc.settings import Settings
from imgsvc.web.errors import render_error

bp = Blueprint("front", __name__)
RECEIVE_SECONDS_HEADER = "X-Imgsvc-Receive-Seconds"
_REFUSALS: dict[int, type[ImgsvcError]] = {413: FileTooLarge, 429: TooManyConnections}


def check_deadline() -> None:
    """Refuse a request that took longer than ``UPLOAD_DEADLINE`` to arrive."""
    raw = request.headers.get(RECEIVE_SECONDS_HEADER)
    if raw is None:
        return
    try:
        seconds = float(raw)
    except ValueError:
        return
    deadline = Settings(current_app.config).UPLOAD_DEADLINE
    if seconds > deadline > 0:
        raise RequestTimeout(
            f"The request took {seconds:.0f} s to arrive; the limit is {deadline:.0f} s. "
            "Try again on a faster connection, or send a smaller file."
        )


def render_refusals() -> bytes:
    """The front's refusal counters for ``/metrics`` (:mod:`imgsvc.front.refusals`)."""
    collector = current_app.extensions.get("imgsvc.front")
    if collector is None:
        collector = RefusalCollector(Settings(current_app.config).FRONT_DIR)
        current_app.extensions["imgsvc.front"] = collector
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry)


@bp.route("/_front/refused/<int:status>")
def refused(status: int) -> Response:
    """The answer to a request the front refused with ``status`` (413 or 429)."""
    if status not in _REFUSALS:
        raise NotFound("No such page.")
    g.original_path = request.headers.get("X-Original-URI", "").split("?", 1)[0] or None
    return render_error(_REFUSALS[status]())


def init_app(app: Flask) -> None:
    """Check the deadline before anything reads the body (CSRF, forms), once logging started."""
    hooks = app.before_request_funcs.setdefault(None, [])
    after_logging = sum(1 for hook in hooks if hook.__module__ == "imgsvc.logs")
    hooks.insert(after_logging, check_deadline)
    app.register_blueprint(bp)
