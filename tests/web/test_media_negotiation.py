"""GET /images/<id>/<name> chooses its format from Accept (web/media.py's negotiation).

The choice itself is checked for every kind of Accept header on a manifest
entry; the route is checked over HTTP on a real processed image: each
format's bytes, its own ETag, Vary on every answer, 304 per format.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from imgsvc.web.media import negotiate
from tests import factories
from tests.support.client import upload

PREFERRED = ["avif", "webp"]


def entry(primary: str = "image/jpeg", extras: tuple[str, ...] = ("webp", "avif")) -> dict:
    """A variant's manifest entry: its primary and its extra formats."""
    formats = {
        ext: {"key": f"k.{ext}", "content_type": f"image/{ext}", "etag": f"e-{ext}"}
        for ext in extras
    }
    return {"key": "k", "content_type": primary, "etag": "e-primary", "formats": formats}


def chosen(accept: str | None, variant: dict | None = None, preferred=PREFERRED) -> str:
    parsed = parse_accept_header(accept, MIMEAccept)
    answer, negotiable = negotiate(variant or entry(), preferred, parsed)
    assert negotiable
    return answer["content_type"]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        # Browsers as they ship.
        ("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", "image/avif"),
        ("image/avif,image/webp,*/*", "image/avif"),
        ("image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5", "image/webp"),
        ("image/webp,*/*", "image/webp"),
        # Wildcards alone never select a modern format.
        ("*/*", "image/jpeg"),
        ("image/*", "image/jpeg"),
        (None, "image/jpeg"),
        ("", "image/jpeg"),
        # Qualities are honoured, ties go to the server's order.
        ("image/webp, image/avif", "image/avif"),
        ("image/webp;q=0.9, image/avif;q=0.5", "image/webp"),
        ("image/avif;q=0, image/webp", "image/webp"),
        ("image/avif;q=0, image/webp;q=0, */*", "image/jpeg"),
        ("image/jpeg, image/webp;q=0.5", "image/jpeg"),
        ("image/jpeg;q=0.5, image/webp", "image/webp"),
        ("image/jpeg;q=0.5, image/webp;q=0.5", "image/webp"),
        # Case does not matter; nothing acceptable still gets the primary, not 406.
        ("IMAGE/AVIF", "image/avif"),
        ("image/png", "image/jpeg"),
        ("image/jpeg;q=0", "image/jpeg"),
    ],
)
def test_each_accept_header_gets_the_best_format_it_names(accept: str | None, expected: str):
    assert chosen(accept) == expected


def test_only_formats_the_variant_was_made_in_are_chosen():
    webp_only = entry(extras=("webp",))
    assert chosen("image/avif,image/webp,*/*", webp_only) == "image/webp"
    assert chosen("image/avif,*/*", webp_only) == "image/jpeg"


def test_the_order_is_a_setting():
    assert chosen("image/avif,image/webp", preferred=["webp", "avif"]) == "image/webp"
    assert chosen("image/avif,image/webp", preferred=["webp"]) == "image/webp"
    assert chosen("image/avif", preferred=["webp"]) == "image/jpeg"


def test_a_transparent_webp_primary_can_still_become_avif():
    alpha = entry(primary="image/webp")
    assert chosen("image/avif,image/webp,*/*", alpha) == "image/avif"
    assert chosen("image/webp,*/*", alpha) == "image/webp"
    assert chosen("*/*", alpha) == "image/webp"


def test_a_variant_in_one_format_is_not_negotiated():
    for variant, preferred in ((entry(extras=()), PREFERRED), (entry(), [])):
        answer, negotiable = negotiate(
            variant, preferred, parse_accept_header("image/avif", MIMEAccept)
        )
        assert (answer["content_type"], negotiable) == ("image/jpeg", False)


# --- over HTTP --------------------------------------------------------------------


@pytest.fixture
def env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The usual settings, plus EXTRA_FORMATS (also for the worker subprocess)."""
    monkeypatch.setenv("IMGSVC_EXTRA_FORMATS", "webp,avif")
    return {**env, "IMGSVC_EXTRA_FORMATS": "webp,avif"}


ACCEPTS = {
    "AVIF": "image/avif,image/webp,image/*,*/*;q=0.8",
    "WEBP": "image/webp,image/*;q=0.8,*/*;q=0.5",
    "JPEG": "*/*",
}


@pytest.mark.parametrize("alias", [False, True], ids=["versioned", "alias"])
def test_the_route_answers_each_format_with_its_etag_vary_and_304(client, processed, alias):
    """Both the immutable versioned URL and the revalidated alias are negotiated."""
    image_id = processed(factories.jpeg(900, 600))["id"]
    versioned = client.get(f"/api/images/{image_id}").get_json()["variants"]["sm"]["url"]
    url = f"/images/{image_id}/sm" if alias else versioned
    assert versioned.startswith(f"/images/{image_id}/sm-")
    cache = "no-cache" if alias else "public, max-age=31536000, immutable"
    etags = {}
    for fmt, accept in ACCEPTS.items():
        response = client.get(url, headers={"Accept": accept})
        assert response.status_code == 200, fmt
        assert response.headers["Vary"] == "Accept", fmt
        assert response.headers["Content-Type"] == f"image/{fmt.lower()}"
        assert Image.open(io.BytesIO(response.data)).format == fmt
        assert response.headers["Cache-Control"] == cache
        etags[fmt] = response.headers["ETag"]
        explicit = client.get(f"{url}.{fmt.lower()}") if fmt != "JPEG" else None
        if explicit is not None:  # the explicit URL holds the same bytes, without Vary
            assert explicit.data == response.data and "Vary" not in explicit.headers
            assert explicit.headers["ETag"] == etags[fmt]
    assert len(set(etags.values())) == 3  # a distinct ETag per format

    for fmt, accept in ACCEPTS.items():
        same = client.get(url, headers={"Accept": accept, "If-None-Match": etags[fmt]})
        assert (same.status_code, same.data) == (304, b""), fmt
        assert same.headers["Vary"] == "Accept" and same.headers["ETag"] == etags[fmt]
        # Another format's ETag does not match what this Accept selects: a full answer.
        other = next(tag for f, tag in etags.items() if f != fmt)
        changed = client.get(url, headers={"Accept": accept, "If-None-Match": other})
        assert changed.status_code == 200 and changed.headers["ETag"] == etags[fmt]
        assert changed.headers["Vary"] == "Accept"


def test_a_not_ready_negotiable_variant_varies_too(client):

    image_id = upload(client, factories.jpeg()).get_json()["id"]
    response = client.get(f"/images/{image_id}/md", headers={"Accept": "image/avif"})
    assert response.status_code == 404
    assert response.headers["Vary"] == "Accept"
    assert int(response.headers["Retry-After"]) > 0
