"""Job views for both job types: ``GET /api/jobs/<id>`` and the ``/jobs`` page."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template

from imgsvc.errors import NotFound
from imgsvc.extensions import services
from imgsvc.jobs import job_view, jobs_by_state
from imgsvc.queue import fetch_job

bp = Blueprint("jobs", __name__)


@bp.get("/api/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    """A job's attributes, result and error."""
    job = fetch_job(services().queue, job_id) if len(job_id) <= 128 else None
    if job is None:
        raise NotFound("No such job (it may have expired).")
    return jsonify(job_view(job))


@bp.get("/jobs")
def list_jobs() -> str:
    """Jobs by state: queued, started, finished, failed."""
    return render_template("jobs.html", jobs=jobs_by_state(services().queue, limit=50))
