"""``/healthz``: is Redis answering, is storage answering.

The answer names what is down and nothing more (no exception text: addresses
and library details are for the log, not for whoever asks).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify

from imgsvc.errors import ImgsvcError
from imgsvc.extensions import REDIS_ERRORS, services

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 ``{"redis": "ok", "storage": "ok"}``, or 503 with ``"down"`` for what is down."""
    svc = services()
    report = {}
    try:
        svc.redis.ping()
        report["redis"] = "ok"
    except REDIS_ERRORS as exc:
        log.warning("healthz: Redis is down: %s", exc)
        report["redis"] = "down"
    try:
        svc.storage.ping()
        report["storage"] = "ok"
    except ImgsvcError as exc:
        log.warning("healthz: storage is down: %s", exc.message)
        report["storage"] = "down"
    healthy = all(value == "ok" for value in report.values())
    return jsonify(report), 200 if healthy else 503
