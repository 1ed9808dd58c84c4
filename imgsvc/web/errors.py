"""Error responses: JSON for API clients, a friendly page for browsers.

Every failure, including Werkzeug's own (404, 405, 413) and CSRF refusals,
leaves as ``{"error": {"code", "message"}}`` or the error page; never as a
bare 500.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from imgsvc.errors import FileTooLarge, Forbidden, ImgsvcError, NotFound

log = logging.getLogger(__name__)

_JSON_BLUEPRINTS = {"api", "media", "health"}
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "file_too_large",
}


def wants_json() -> bool:
    """API and media paths always get JSON; elsewhere, whatever the client prefers."""
    if request.blueprint in _JSON_BLUEPRINTS or request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best != "text/html"


def render_error(error: ImgsvcError) -> Response:
    """The response for ``error`` in the form the client wants."""
    if wants_json():
        # ``details`` carries what a client needs after a partial success, e.g. the
        # id and delete token of an image stored while the queue was down.
        response = jsonify({"error": error.to_dict(), **getattr(error, "details", {})})
    else:
        response = Response(render_template("error.html", error=error))
    response.status_code = error.status
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _from_http(exc: HTTPException) -> Response:
    if exc.code == 413:
        return render_error(FileTooLarge())
    if exc.code == 404:
        return render_error(NotFound("No such page."))
    error = ImgsvcError(exc.description)
    error.code = _HTTP_CODES.get(exc.code or 500, "http_error")
    error.status = exc.code or 500
    response = render_error(error)
    if exc.code == 405 and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _from_csrf(exc: CSRFError) -> Response:
    message = f"The form's security token is missing or stale ({exc.description}). Reload the page."
    return render_error(Forbidden(message))


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return render_error(ImgsvcError("An unexpected error occurred; it has been logged."))


def register(app: Flask) -> None:
    """Install the error handlers on ``app``."""
    app.register_error_handler(ImgsvcError, render_error)
    app.register_error_handler(CSRFError, _from_csrf)
    app.register_error_handler(HTTPException, _from_http)
    app.register_error_handler(Exception, _unexpected)
