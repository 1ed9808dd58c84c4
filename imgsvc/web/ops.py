"""For operators: ``/ops`` (queues, workers, failures) and ``/metrics`` (Prometheus).

``/ops`` also counts failed images by error code and retries those of one code
(``POST /ops/retry-failed``, a form with a CSRF token, up to
``RETRY_FAILED_BATCH`` images per click), as ``imgsvc retry-failed --code``.

``/ops`` and ``/ops.json`` exist only when ``IMGSVC_OPS_PASSWORD`` is set, and
ask for it with HTTP basic auth (user ``IMGSVC_OPS_USERNAME``). Wrong guesses
are rate-limited per client (``RATE_LIMIT_OPS_AUTH``, see :mod:`imgsvc.ratelimit`). ``/metrics``
is open unless ``IMGSVC_METRICS_AUTH`` is true; either way it is meant for the
scraper on the private network, not for the public internet.
"""

from __future__ import annotations

import hmac
import time

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    render_template,
    request,
)
from werkzeug.exceptions import BadRequest

from imgsvc import idempotency, metrics, ratelimit
from imgsvc.errors import NotFound, QueueUnavailable, Unauthorized
from imgsvc.extensions import REDIS_ERRORS, services
from imgsvc.images.failures import failed_counts, retry_indexed
from imgsvc.logs import request_fields
from imgsvc.queue import job_queues
from imgsvc.stats import snapshot
from imgsvc.web import front
from imgsvc.web.forms import RetryFailedForm

bp = Blueprint("ops", __name__)
FAILURES_SHOWN = 20


def _password() -> str | None:
    return services().config.OPS_PASSWORD or None


def _authorized(password: str) -> bool:
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return False
    username = services().config.OPS_USERNAME or "ops"
    user_ok = hmac.compare_digest((auth.username or "").encode(), username.encode())
    password_ok = hmac.compare_digest((auth.password or "").encode(), password.encode())
    return user_ok and password_ok


def require_operator() -> None:
    """404 when no operator password is configured; 429 ``rate_limited`` once the
    client has used up its failed guesses; 401 with a challenge when it is wrong."""
    password = _password()
    if password is None:
        raise NotFound("No such page.")
    ratelimit.refuse_if_exhausted("ops_auth")
    if not _authorized(password):
        if request.authorization is not None:  # a guess; a bare first visit is not
            ratelimit.count_failure("ops_auth")
        raise Unauthorized()


def _state() -> dict | None:
    svc = services()
    try:
        state = snapshot(svc.queue, FAILURES_SHOWN)
        state["failed_images"] = failed_counts(svc)
    except REDIS_ERRORS:
        return None
    return state


@bp.get("/ops")
def ops_page() -> str:
    """Queues by state, workers with their current job, the latest failures,
    failed images by code with a retry button each."""
    require_operator()
    return render_template("ops.html", state=_state(), form=RetryFailedForm(), retried=None)


@bp.post("/ops/retry-failed")
def ops_retry_failed() -> str:
    """Retry the failed images of one error code (CSRF-checked, behind the auth)."""
    require_operator()
    form = RetryFailedForm()
    if not form.validate_on_submit():
        raise BadRequest("Choose an error code to retry.")
    report = retry_indexed(services(), form.code.data, services().config.RETRY_FAILED_BATCH)
    return render_template("ops.html", state=_state(), form=RetryFailedForm(), retried=report)


@bp.get("/ops.json")
def ops_json() -> Response:
    """The same as ``/ops``, for scripts."""
    require_operator()
    state = _state()
    if state is None:
        raise QueueUnavailable()
    return jsonify(state)


@bp.get("/metrics")
def metrics_page() -> Response:
    """Prometheus text format: this machine's web and worker processes, plus the queues."""
    svc = services()
    if svc.config.METRICS_AUTH:
        require_operator()
    body = metrics.render(svc.redis, [queue.name for queue in job_queues(svc.queue)])
    body += front.render_refusals()
    return Response(body, content_type=metrics.CONTENT_TYPE)


def _count_request(response: Response) -> Response:
    started = g.get("log_started")
    seconds = time.perf_counter() - started if started else 0.0
    # Only the app's own endpoint names: never anything taken from the request.
    endpoint = request.endpoint if request.endpoint in current_app.view_functions else None
    metrics.record_request(request.method, endpoint, response.status_code, seconds)
    replayed = response.headers.get(idempotency.REPLAYED_HEADER) == "true"
    if request.endpoint in metrics.UPLOAD_ENDPOINTS and request.method == "POST" and not replayed:
        fields = request_fields()
        if response.status_code < 400:
            metrics.record_upload("accepted", int(fields.get("upload_bytes") or 0))
            key = g.get("api_key")
            if key is not None:
                metrics.record_key_upload(key.name)
        else:
            metrics.record_upload(str(fields.get("error_code") or response.status_code))
    return response


def init_app(app: Flask) -> None:
    """Count every request and upload (``/metrics`` reports them)."""
    app.after_request(_count_request)
