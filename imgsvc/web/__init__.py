"""Blueprints: pages (HTML + forms), api (JSON), media (bytes), health."""

from __future__ import annotations

from flask import Flask, Response
from flask_wtf.csrf import CSRFProtect

from imgsvc import logs, ratelimit
from imgsvc.web import api, errors, front, health, jobs, media, ops, pages, wordcounts
from imgsvc.web.body.request import ImgsvcRequest

csrf = CSRFProtect()

# Everything the pages use is served from this origin; no inline script or style.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    return response


def init_app(app: Flask) -> None:
    """Register CSRF protection, rate limits, the blueprints and the error handlers."""
    app.request_class = ImgsvcRequest  # uploads: large read steps, held in memory once
    csrf.init_app(app)
    ratelimit.init_app(app)
    csrf.exempt(api.bp)  # token-less JSON clients; deletes need X-Delete-Token
    csrf.exempt(wordcounts.create_wordcount)
    logs.init_app(app)  # first: every request gets an id and a log line
    ops.init_app(app)
    for blueprint in (pages.bp, api.bp, media.bp, health.bp, wordcounts.bp, jobs.bp, ops.bp):
        app.register_blueprint(blueprint)
    front.init_app(app)  # after the others: its deadline check must run first
    errors.register(app)
    app.after_request(_security_headers)
