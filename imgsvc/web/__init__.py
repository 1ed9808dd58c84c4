"""Blueprints: pages (HTML + forms), api (JSON), media (bytes), health."""

from __future__ import annotations

from flask import Flask, Response
from flask_wtf.csrf import CSRFProtect

from imgsvc.web import api, errors, health, jobs, media, pages, wordcounts

csrf = CSRFProtect()


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def init_app(app: Flask) -> None:
    """Register CSRF protection, the blueprints and the error handlers."""
    csrf.init_app(app)
    csrf.exempt(api.bp)  # token-less JSON clients; deletes need X-Delete-Token
    csrf.exempt(wordcounts.create_wordcount)
    for blueprint in (pages.bp, api.bp, media.bp, health.bp, wordcounts.bp, jobs.bp):
        app.register_blueprint(blueprint)
    errors.register(app)
    app.after_request(_security_headers)
