"""imgsvc: an image-resizing upload service (Flask + RQ + Pillow + S3)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask
from PIL import Image

from imgsvc.config import load_settings
from imgsvc.imaging.encode import parse_extra_formats
from imgsvc.imaging.variants import parse_variants
from imgsvc.queue import Services
from imgsvc.storage import storage_from_settings


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web app: settings, shared clients (lazy), blueprints. Wiring only."""
    app = Flask(__name__)
    app.config.update(load_settings(config))
    if not app.config.get("SECRET_KEY"):
        if not (app.config["DEV"] or app.config.get("TESTING")):
            raise RuntimeError("IMGSVC_SECRET_KEY must be set (or run `imgsvc dev`).")
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    Image.MAX_IMAGE_PIXELS = int(app.config["MAX_IMAGE_PIXELS"])
    # Bad settings fail here, at start, rather than in the first request or job.
    parse_variants(app.config["VARIANTS"])
    parse_extra_formats(app.config["EXTRA_FORMATS"])
    storage_from_settings(app.config)
    app.extensions["imgsvc"] = Services(app.config)

    from imgsvc import web

    web.init_app(app)
    return app
