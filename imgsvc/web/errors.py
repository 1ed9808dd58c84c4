"""Error responses: JSON for API clients, a friendly page for browsers.

Every failure, including Werkzeug's own (404, 405, 413) and CSRF refusals,
leaves as ``{"error": {"code", "message"}}`` or the error page; never as a
bare 500.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from imgsvc.errors import FileTooLarge, Forbidden, ImgsvcError, NotFound
from imgsvc.logs import note
from imgsvc.settings import Settings

log = logging.getLogger(__name__)

# What a person sees for each status: a title and what to do next.
_PAGES = {
    400: ("That didn't work", "Something in what was sent could not be used. Check it, try again."),
    401: ("Sign in needed", "This page is for operators. Sign in with the operator password."),
    403: (
        "Not allowed",
        "If you were sending a form, reload the page and send it again: "
        "its security token may have expired.",
    ),
    404: (
        "Page not found",
        "The address may be mistyped, or the image was deleted. Check the link or start again.",
    ),
    405: ("Not allowed here", "That page cannot be used this way. Start again from the home page."),
    413: (
        "That file is too large",
        "Uploads can be up to {limit}. Export a smaller version (JPEG at a lower quality, "
        "or fewer pixels) and upload that.",
    ),
    415: (
        "Unsupported file type",
        "Upload a JPEG, PNG, WebP, GIF or TIFF image. Re-save other files in one of these.",
    ),
    429: (
        "Slow down a little",
        "You sent many requests in a short time. Wait a minute, then try again.",
    ),
    500: (
        "Something went wrong on our side",
        "It has been logged and is not your fault. Try again in a moment.",
    ),
    503: (
        "Temporarily unavailable",
        "Part of the service is down for a moment. Try again shortly.",
    ),
}


def _mib(size: int) -> str:
    return f"{size / 1048576:.0f} MiB" if size % 1048576 == 0 else f"{size / 1048576:.1f} MiB"


def friendly(status: int) -> tuple[str, str]:
    """The title and the advice of the error page for ``status``."""
    title, advice = _PAGES.get(status) or _PAGES[500 if status >= 500 else 400]
    limit = Settings(current_app.config).MAX_CONTENT_LENGTH
    return title, advice.format(limit=_mib(limit) if limit else "the size limit")


_JSON_BLUEPRINTS = {"api", "media", "health"}
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "file_too_large",
}


def wants_json() -> bool:
    """API and media paths always get JSON; elsewhere, whatever the client prefers."""
    # A refusal of the front is answered for the path the client asked for.
    path = g.get("original_path") or request.path
    if path.startswith("/api/") or (path == request.path and request.blueprint in _JSON_BLUEPRINTS):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best != "text/html"


def render_error(error: ImgsvcError) -> Response:
    """The response for ``error`` in the form the client wants."""
    note(error_code=error.code)
    if wants_json():
        # ``details`` carries what a client needs after a partial success, e.g. the
        # id and delete token of an image stored while the queue was down.
        response = jsonify({"error": error.to_dict(), **(error.details or {})})
    else:
        title, advice = friendly(error.status)
        page = render_template(
            "error.html", error=error, title=title, advice=advice, request_id=g.get("request_id")
        )
        response = Response(page)
    response.status_code = error.status
    response.headers.extend(error.headers or {})
    if error.retry_after:
        response.headers["Retry-After"] = str(error.retry_after)
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
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
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
