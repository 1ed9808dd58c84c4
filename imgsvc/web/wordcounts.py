"""The word counter: the tutorial's ``/add-task`` form and ``POST /api/wordcounts``."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, jsonify, render_template, request

from imgsvc.config import csv_list
from imgsvc.errors import ImgsvcError, InvalidUrl
from imgsvc.jobs import jobs_by_state
from imgsvc.netguard import Guard
from imgsvc.queue import REDIS_ERRORS, enqueue_wordcount
from imgsvc.web.forms import WordCountForm
from imgsvc.web.present import services

bp = Blueprint("wordcounts", __name__)


def submit(url: object) -> str:
    """Check ``url`` as far as it alone shows, then enqueue ``count_words``; the job id."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidUrl('Send a JSON body {"url": "https://..."}.')
    svc = services()
    Guard(csv_list(svc.settings["FETCH_ALLOWLIST"])).check_literal(url.strip())
    return enqueue_wordcount(svc.queue, url.strip(), svc.settings).id


def _page(form: WordCountForm, message: str | None = None, error: ImgsvcError | None = None):
    svc = services()
    try:
        listing = jobs_by_state(svc.queue, limit=20)
    except REDIS_ERRORS:
        listing = None
    return render_template("add_task.html", form=form, message=message, error=error, jobs=listing)


@bp.route("/add-task", methods=["GET", "POST"])
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
    queued = len(services().queue)
    when = datetime.now(UTC).strftime("%H:%M:%S UTC")
    message = f"Task ({job_id}) added to queue at {when}. {queued} tasks in the queue."
    return _page(WordCountForm(formdata=None), message=message)


@bp.post("/api/wordcounts")
def create_wordcount() -> tuple[Response, int, dict[str, str]]:
    """``{"url": ...}`` → 202 with the job id and its link."""
    body = request.get_json(silent=True)
    job_id = submit(body.get("url") if isinstance(body, dict) else None)
    link = f"/api/jobs/{job_id}"
    return (
        jsonify({"job_id": job_id, "status": "queued", "links": {"self": link}}),
        202,
        {"Location": link},
    )
