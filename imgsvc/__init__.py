"""imgsvc: an image-resizing upload service (Flask + RQ + Pillow + S3)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask
from PIL import Image

from imgsvc.config import load_settings
from imgsvc.extensions import Services
from imgsvc.imaging.encode import parse_extra_formats
from imgsvc.imaging.smartcrop import parse_crop
from imgsvc.imaging.variants import parse_variants
from imgsvc.redisconn import check_redis_url
from imgsvc.settings import parse_settings
from imgsvc.storage import storage_from_settings


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web app: settings, shared clients (lazy), blueprints. Wiring only.

    Bad settings fail here, at start, rather than in the first request or job:
    ``SettingsError`` (a ``ValueError``) names a setting of the wrong type,
    ``ValueError`` a malformed variant list, format, storage or Redis URL (or
    media settings that need S3 storage), and
    ``RuntimeError`` a missing ``IMGSVC_SECRET_KEY`` outside dev mode.
    """
    app = Flask(__name__)
    app.config.update(load_settings(config))
    settings = parse_settings(app.config)
    # Typed from here on: Flask itself reads MAX_CONTENT_LENGTH and SECRET_KEY.
    app.config.update(settings.as_dict())
    if not settings.SECRET_KEY:
        if not (settings.DEV or app.config.get("TESTING")):
            raise RuntimeError("IMGSVC_SECRET_KEY must be set (or run `imgsvc dev`).")
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    Image.MAX_IMAGE_PIXELS = settings.MAX_IMAGE_PIXELS
    parse_variants(settings.VARIANTS)
    parse_extra_formats(settings.EXTRA_FORMATS)
    parse_extra_formats(settings.ACCEPT_FORMATS)
    parse_crop(settings.CROP)
    from imgsvc.web.mediaurls import check_media_settings

    check_media_settings(app.config, storage_from_settings(app.config))
    check_redis_url(settings.REDIS_URL)
    app.extensions["imgsvc"] = Services(app.config)

    from imgsvc import web

    web.init_app(app)
    return app
