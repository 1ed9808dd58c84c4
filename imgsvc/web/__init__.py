"""Blueprints: pages (HTML + forms), api (JSON), media (bytes), health."""

from __future__ import annotations

from flask import Flask, Response, current_app
from flask_wtf.csrf import CSRFProtect

from imgsvc import apikeys, logs, ratelimit
from imgsvc.web import api, direct, errors, front, health, jobs, media, ops, pages, wordcounts
from imgsvc.web.body.request import ImgsvcRequest
from imgsvc.web.mediaurls import media_origins

csrf = CSRFProtect()

# Everything the pages use is served from this origin (images also from the
# media origin, when reads bypass the web); no inline script or style.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def content_security_policy(media_origins: list[str]) -> str:
    """The policy, with images also allowed from ``media_origins``."""
    if not media_origins:
        return CONTENT_SECURITY_POLICY
    extra = " ".join(media_origins)
    return CONTENT_SECURITY_POLICY.replace("img-src 'self'", f"img-src 'self' {extra}")


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    policy = current_app.extensions.get("imgsvc_csp", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("Content-Security-Policy", policy)
    return response


def init_app(app: Flask) -> None:
    """Register CSRF protection, rate limits, the blueprints and the error handlers."""
    app.request_class = ImgsvcRequest  # uploads: large read steps, held in memory once
    csrf.init_app(app)
    ratelimit.init_app(app)
    csrf.exempt(api.bp)  # token-less JSON clients; deletes need X-Delete-Token
    csrf.exempt(direct.bp)
    csrf.exempt(wordcounts.create_wordcount)
    logs.init_app(app)  # first: every request gets an id and a log line
    apikeys.init_app(app)  # before the views: who the client is, for the rate limits
    ops.init_app(app)
    app.extensions["imgsvc_csp"] = content_security_policy(media_origins(app.config))
    blueprints = (pages.bp, api.bp, direct.bp, media.bp, health.bp, wordcounts.bp, jobs.bp, ops.bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    front.init_app(app)  # after the others: its deadline check must run first
    errors.register(app)
    app.after_request(_security_headers)
