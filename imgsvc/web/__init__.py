"""Blueprints: pages (HTML + forms), api (JSON), media (bytes), health."""

from __future__ import annotations

from flask import Flask, Response, current_app
from flask_wtf.csrf import CSRFProtect

from imgsvc import apikeys, logs, ratelimit
from imgsvc.config import csv_list
from imgsvc.settings import Settings
from imgsvc.storage import S3Storage, storage_from_settings
from imgsvc.storage.cors import check_origins
from imgsvc.web import api, direct, errors, front, health, jobs, media, ops, pages, wordcounts
from imgsvc.web.body.request import ImgsvcRequest
from imgsvc.web.directform import bucket_origin, form_posts_to_bucket
from imgsvc.web.mediaurls import media_origins

csrf = CSRFProtect()

# Everything the pages use is served from this origin (images also from the
# media origin, when reads bypass the web; the form's uploads also go to the
# bucket, when it sends files there); no inline script or style.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def content_security_policy(
    media_origins: list[str], upload_origins: list[str] | None = None
) -> str:
    """The policy, with images also allowed from ``media_origins`` and the page's
    requests (the form's uploads) also to ``upload_origins``."""
    policy = CONTENT_SECURITY_POLICY
    if media_origins:
        policy = policy.replace("img-src 'self'", f"img-src 'self' {' '.join(media_origins)}")
    if upload_origins:
        policy = policy.replace(
            "connect-src 'self'", f"connect-src 'self' {' '.join(upload_origins)}"
        )
    return policy


def _upload_origins(app: Flask) -> list[str]:
    """The bucket's origin when the form sends files there (:mod:`imgsvc.web.directform`)."""
    check_origins(csv_list(Settings(app.config).S3_CORS_ORIGINS))  # a bad one stops the start
    storage = storage_from_settings(app.config)  # a client of its own, lazy: no request
    has_keys = bool(app.extensions["imgsvc_apikeys"])
    if isinstance(storage, S3Storage) and form_posts_to_bucket(app.config, storage, has_keys):
        return [bucket_origin(storage)]
    return []


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
    app.extensions["imgsvc_csp"] = content_security_policy(
        media_origins(app.config), _upload_origins(app)
    )
    blueprints = (pages.bp, api.bp, direct.bp, media.bp, health.bp, wordcounts.bp, jobs.bp, ops.bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    front.init_app(app)  # after the others: its deadline check must run first
    errors.register(app)
    app.after_request(_security_headers)
