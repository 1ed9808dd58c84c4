"""The baseline the tutorial warns about: resizing inside the upload request.

``gunicorn benchmarks.service.sync_app:app`` answers ``POST /sync`` only after it has
made and stored every variant, with the same pipeline and storage as imgsvc.
Used by :mod:`benchmarks.service` for the side-by-side latency figure.
"""

from __future__ import annotations

from flask import Flask, request

from imgsvc.config import csv_list, load_settings
from imgsvc.imaging import EncodeOptions, parse_variants, render_variants
from imgsvc.storage import storage_from_settings

app = Flask(__name__)
settings = load_settings()
storage = storage_from_settings(settings)


@app.post("/sync")
def sync_upload() -> tuple[str, int]:
    """Read the upload, make every variant and store them, then answer."""
    data = request.files["file"].read()
    rendered = render_variants(
        data,
        parse_variants(settings["VARIANTS"]),
        allowed_formats=csv_list(settings["ALLOWED_FORMATS"]),
        max_pixels=int(settings["MAX_IMAGE_PIXELS"]),
        options=EncodeOptions(),
    )
    storage.put("sync/original", data, "image/jpeg")
    for variant in rendered:
        storage.put(f"sync/{variant.name}.{variant.extension}", variant.data, variant.content_type)
    return "", 201
