"""Structured logs: one line per request and per job, JSON or text.

``IMGSVC_LOG_FORMAT`` chooses the format (``json``, the default, or ``text``;
``imgsvc dev`` uses ``text``) and ``IMGSVC_LOG_LEVEL`` the level. Fields
passed as ``extra=`` to a log call become keys of the JSON object (or
``key=value`` pairs in text), so a request line carries ``method``, ``path``,
``status``, ``duration_ms``, ``request_id`` and ``image_id``/``job_id`` when
known, and a job line ``job_id``, ``type``, ``image_id``, ``status``,
``duration_ms`` and ``error_code``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, request

from imgsvc.settings import Settings

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_IN_REQUEST_MESSAGE = {"method", "path", "status"}  # a request's text line starts with them

request_log = logging.getLogger("imgsvc.request")
job_log = logging.getLogger("imgsvc.job")


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _RECORD_FIELDS and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg`` and the extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a single line of JSON."""
        created = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "ts": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The classic text line, with the extras appended as ``key=value``."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as text, extras last."""
        line = super().format(record)
        skip = _IN_REQUEST_MESSAGE if record.name == request_log.name else set()
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items() if k not in skip)
        return f"{line} {extras}" if extras else line


def log_format(config: Settings) -> str:
    """``json`` or ``text``, from ``LOG_FORMAT`` (anything but ``text`` is ``json``)."""
    return "text" if config.LOG_FORMAT.strip().lower() == "text" else "json"


def setup_logging(config: Settings) -> None:
    """Send the root logger's records to stderr in ``LOG_FORMAT`` from ``LOG_LEVEL`` up
    (idempotent).

    Raises ``ValueError`` for a ``LOG_LEVEL`` that names no level.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format(config) == "json" else TextFormatter())
    handler.set_name("imgsvc")
    root = logging.getLogger()
    for old in [old for old in root.handlers if old.get_name() == "imgsvc"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.LOG_LEVEL.strip().upper())


def is_configured() -> bool:
    """Whether :func:`setup_logging` already installed its handler."""
    return any(handler.get_name() == "imgsvc" for handler in logging.getLogger().handlers)


def note(**fields: Any) -> None:
    """Attach fields (``image_id``, ``job_id``, ``error_code``...) to this request's line."""
    if "log_fields" not in g:
        g.log_fields = {}
    g.log_fields.update({key: value for key, value in fields.items() if value is not None})


def request_fields() -> dict[str, Any]:
    """The fields noted so far for the current request."""
    return dict(g.get("log_fields", {}))


def _start_request() -> None:
    g.log_started = time.perf_counter()
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex


def _log_request(response: Response) -> Response:
    started = g.get("log_started")
    request_id = g.get("request_id") or uuid.uuid4().hex
    fields: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
        "request_id": request_id,
    }
    image_id = (request.view_args or {}).get("image_id")
    if image_id:
        fields["image_id"] = image_id
    fields.update(request_fields())
    request_log.info("%s %s %s", request.method, request.path, response.status_code, extra=fields)
    response.headers.setdefault(REQUEST_ID_HEADER, request_id)
    return response


def init_app(app: Flask) -> None:
    """Log one line per request; configure logging unless under test or already done."""
    # First, so the clock and the request id exist even when CSRF's hook rejects the request.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_log_request)
    if not app.testing and not is_configured():
        setup_logging(Settings(app.config))
