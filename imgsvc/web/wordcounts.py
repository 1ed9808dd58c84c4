"""The word counter: the tutorial's ``/add-task`` form and ``POST /api/wordcounts``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, render_template, request

from imgsvc import apikeys, idempotency
from imgsvc.config import csv_list
from imgsvc.errors import ImgsvcError, InvalidUrl
from imgsvc.extensions import REDIS_ERRORS, services
from imgsvc.jobs import job_view, jobs_by_state
from imgsvc.netguard import Guard
from imgsvc.queue import check_room, enqueue_wordcount, fetch_job, waiting
from imgsvc.ratelimit import limited
from imgsvc.web.forms import WordCountForm
from imgsvc.webhooks.delivery import check_callback_url

bp = Blueprint("wordcounts", __name__)


def submit(url: object, callback_url: object = None) -> str:
    """Check ``url`` (and ``callback_url``) as far as they alone show, then enqueue
    ``count_words``; the job id."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidUrl('Send a JSON body {"url": "https://..."}.')
    svc = services()
    Guard(csv_list(svc.config.FETCH_ALLOWLIST)).check_literal(url.strip())
    callback = check_callback_url(svc.config, callback_url)
    check_room(svc.queue, svc.settings)
    return enqueue_wordcount(svc.queue, url.strip(), svc.settings, callback).id


def _page(
    form: WordCountForm,
    message: str | None = None,
    error: ImgsvcError | None = None,
    job_id: str | None = None,
) -> str:
    svc = services()
    job_id = job_id or request.args.get("job", "")[:128] or None
    try:
        listing = jobs_by_state(svc.queue, limit=20)
        job = fetch_job(svc.queue, job_id) if job_id else None
    except REDIS_ERRORS:
        listing, job = None, None
    return render_template(
        "add_task.html",
        form=form,
        message=message,
        error=error,
        jobs=listing,
        job=job_view(job) if job is not None else None,
    )


@bp.route("/add-task", methods=["GET", "POST"])
@limited("wordcounts")
def add_task() -> Response | tuple[str, int] | str:
    """The word counter form and the job queue; POST enqueues a count."""
    form = WordCountForm()
    if request.method == "GET":
        return _page(form)
    try:
        if not form.validate_on_submit():
            raise InvalidUrl("; ".join(form.url.errors) or "Enter an http(s) URL.")
        job_id = submit(form.url.data)
    except ImgsvcError as error:
        return _page(form, error=error), error.status
    queued = waiting(services().queue)
    when = datetime.now(UTC).strftime("%H:%M:%S UTC")
    message = f"Task ({job_id}) added to queue at {when}. {queued} tasks in the queue."
    return _page(WordCountForm(formdata=None), message=message, job_id=job_id)


@bp.post("/api/wordcounts")
@limited("wordcounts")
def create_wordcount() -> tuple[Response, int, dict[str, str]]:
    """``{"url": ..., "callback_url": ...}`` → 202 with the job id and its link; an
    ``Idempotency-Key`` makes retries safe (:mod:`imgsvc.idempotency`)."""

    def enqueue() -> tuple[dict[str, Any], int, dict[str, str]]:
        body = request.get_json(silent=True)
        fields = body if isinstance(body, dict) else {}
        job_id = submit(fields.get("url"), fields.get("callback_url"))
        link = f"/api/jobs/{job_id}"
        return (
            {"job_id": job_id, "status": "queued", "links": {"self": link}},
            202,
            {"Location": link},
        )

    return idempotency.respond(services(), "wordcounts", apikeys.scope(), request, enqueue)
