"""``/healthz``: is Redis answering, is storage answering."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from imgsvc.errors import ImgsvcError
from imgsvc.queue import REDIS_ERRORS
from imgsvc.web.present import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 ``{"redis": "ok", "storage": "ok"}``, or 503 naming what is down."""
    svc = services()
    report = {}
    try:
        svc.redis.ping()
        report["redis"] = "ok"
    except REDIS_ERRORS as exc:
        report["redis"] = f"down: {exc}"
    try:
        svc.storage.ping()
        report["storage"] = "ok"
    except ImgsvcError as exc:
        report["storage"] = f"down: {exc.message}"
    healthy = all(value == "ok" for value in report.values())
    return jsonify(report), 200 if healthy else 503
