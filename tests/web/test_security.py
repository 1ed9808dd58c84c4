"""Security headers on every response, pages that obey the CSP, CSRF, tokens, content types.

Covered elsewhere, not repeated here: a CSRF-less or forged token on ``POST /``
(test_pages), ``create_app`` without ``SECRET_KEY`` (test_config), the exact
variant types ``image/jpeg`` and ``image/webp``, ``ETag``/caching and a JPEG
original as an attachment with ``nosniff`` (test_media), a wrong delete token
(test_api).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from imgsvc import create_app
from tests import factories
from tests.support.client import csrf_token, upload

ROOT = Path(__file__).resolve().parents[2]
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
URL_ATTRIBUTES = {"src", "href", "srcset", "action", "formaction", "poster", "data", "background"}
HTML = {"Accept": "text/html"}


@pytest.fixture
def storage_url(tmp_path: Path) -> str:
    """Headers and markup do not depend on the backend: one is enough here."""
    return "file://" + str(tmp_path / "media")


class CspAudit(HTMLParser):
    """Collects markup that ``CONTENT_SECURITY_POLICY`` would block, and the assets used."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.assets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...> inline event handler")
            if name == "style":
                self.problems.append(f"<{tag} style=...> inline style")
            if name in URL_ATTRIBUTES:
                for url in re.split(r",\s+", value) if name == "srcset" else [value]:
                    self._check_url(tag, name, url.strip().split(" ")[0])
        if tag == "style":
            self.problems.append("<style> block")
        if tag == "base":
            self.problems.append("<base> (base-uri 'none')")
        if tag == "script":
            if not values.get("src"):
                self.problems.append("inline <script>")
            else:
                self.assets.append(values["src"])
        if tag == "link" and "stylesheet" in values.get("rel", "").split():
            self.assets.append(values.get("href", ""))

    handle_startendtag = handle_starttag

    def _check_url(self, tag: str, name: str, url: str) -> None:
        lowered = url.lower()
        if re.match(r"(https?:)?//", lowered):
            self.problems.append(f"<{tag} {name}={url!r}> external URL")
        elif lowered.startswith("javascript:"):
            self.problems.append(f"<{tag} {name}={url!r}> javascript: URL")
        elif lowered.startswith(("data:", "blob:")) and not (tag == "img" and name == "src"):
            self.problems.append(f"<{tag} {name}=data/blob URL> outside img-src")


def audit(html: str) -> CspAudit:
    parser = CspAudit()
    parser.feed(html)
    parser.close()
    return parser


def assert_security_headers(response, what: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (
            f"{what}: {name} is {response.headers.get(name)!r}"
        )


def post_with_token(client, path: str, token: str | None, **fields):
    data = dict(fields)
    if token is not None:
        data["csrf_token"] = token
    return client.post(path, data=data, content_type="multipart/form-data", headers=HTML)


def fill(rule, image_id: str, job_id: str) -> str:
    """A concrete URL for ``rule``: our image, job and variant; 'x' for anything else."""
    known = {
        "image_id": image_id,
        "job_id": job_id,
        "name": "sm",
        "filename": "app.css",
        "status": 413,
    }
    return rule.build({arg: known.get(arg, "x") for arg in rule.arguments}, append_unknown=False)[1]


def test_every_route_and_every_kind_of_response_carries_the_headers(app, client, processed):
    body = processed(factories.jpeg(900, 600))
    image_id, job_id = body["id"], body["job_id"]
    seen: list[str] = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods & {"GET", "POST", "DELETE"}):
            url = fill(rule, image_id, job_id)
            response = client.open(url, method=method, headers=HTML)
            assert response.status_code < 500, (method, url, response.status_code)
            assert_security_headers(response, f"{method} {url} ({response.status_code})")
            seen.append(f"{method} {rule.rule}")
    for needed in ("GET /", "GET /images/<image_id>/<name>", "GET /static/<path:filename>"):
        assert needed in seen

    etag = client.get(f"/images/{image_id}/sm").headers["ETag"]
    extra = {
        "304": client.get(f"/images/{image_id}/sm", headers={"If-None-Match": etag}),
        "404 page": client.get("/nope", headers=HTML),
        "404 json": client.get("/api/images/AAAAAAAAAAAAAAAAAAAAAA"),
        "404 variant": client.get(f"/images/{image_id}/huge"),
        "405": client.put("/api/images"),
        "413": upload(client, b"\xff" * (int(app.config["MAX_CONTENT_LENGTH"]) + 1)),
        "415": upload(client, factories.pdf_document(), "cv.pdf"),
        "403 csrf": post_with_token(client, "/add-task", None, url="https://example.org/"),
    }
    for what, response in extra.items():
        assert str(response.status_code) == what.split()[0], what
        assert_security_headers(response, what)


def test_refusals_and_unexpected_errors_carry_the_headers_too(env):
    limited = create_app({"TESTING": True, "RATE_LIMIT_UPLOADS": "1/60"}).test_client()
    upload(limited, factories.jpeg(64, 48))
    refused = upload(limited, factories.jpeg(64, 48))
    assert refused.status_code == 429
    assert_security_headers(refused, "429")

    broken = create_app({"TESTING": True})

    @broken.get("/boom")
    def boom():
        raise RuntimeError("a bug")

    for headers in (HTML, {"Accept": "application/json"}):
        response = broken.test_client().get("/boom", headers=headers)
        assert response.status_code == 500
        assert "a bug" not in response.get_data(as_text=True)
        assert_security_headers(response, "500")


def html_pages(client, run_worker) -> dict[str, str]:
    """Every page a browser can see, in each of its states."""
    done = upload(client, factories.jpeg(1200, 800)).get_json()["id"]
    data = factories.jpeg(400, 300)
    failed = upload(client, data[: len(data) // 3]).get_json()["id"]
    run_worker()
    queued = upload(client, factories.png_alpha(), "a.png").get_json()["id"]
    client.post("/api/wordcounts", json={"url": "https://example.org/words"})
    token = csrf_token(client.get("/add-task").get_data(as_text=True))
    pages = {
        path: client.get(path, headers=HTML)
        for path in ("/", f"/images/{done}", f"/images/{failed}", f"/images/{queued}")
    }
    pages |= {path: client.get(path, headers=HTML) for path in ("/add-task", "/jobs", "/nope")}
    pages["/add-task after a submission"] = post_with_token(
        client, "/add-task", token, url="https://example.org/"
    )
    pages["/add-task refused url"] = post_with_token(
        client, "/add-task", token, url="http://10.0.0.1/"
    )
    token = csrf_token(client.get("/").get_data(as_text=True))
    pages["/ with a bad file"] = post_with_token(
        client, "/", token, file=(io.BytesIO(b"%PDF-1.4"), "cv.pdf")
    )
    pages["/ without a token"] = post_with_token(client, "/", None)
    pages["405 page"] = client.put("/jobs", headers=HTML)
    for what, response in pages.items():
        assert response.mimetype == "text/html", what
    return {what: response.get_data(as_text=True) for what, response in pages.items()}


def test_pages_obey_the_policy_statically(client, run_worker):
    assets: set[str] = set()
    for what, html in html_pages(client, run_worker).items():
        result = audit(html)
        assert not result.problems, f"{what}: {result.problems}"
        assets.update(result.assets)

    assert assets, "the pages use no stylesheet or script at all?"
    for asset in sorted(assets):
        response = client.get(asset)
        assert response.status_code == 200, asset
        text = response.get_data(as_text=True)
        if asset.endswith(".css"):
            for target in re.findall(r"url\(\s*['\"]?([^'\")]+)", text):
                assert not re.match(r"(https?:)?//", target), f"{asset} loads {target}"
            assert "@import" not in text, asset
        if asset.endswith(".js"):
            for pattern in (
                r"\beval\s*\(",
                r"new\s+Function\b",
                r"setAttribute\(\s*['\"](on|style)",
            ):
                assert not re.search(pattern, text), f"{asset} needs more than the CSP allows"


def test_csrf_on_the_word_counter_form(app, client):
    page = client.get("/add-task").get_data(as_text=True)
    queue = app.extensions["imgsvc"].wordcount_queue
    for token in (None, "forged", csrf_token(page) + "x"):
        response = post_with_token(client, "/add-task", token, url="https://example.org/")
        assert response.status_code == 403, token
        assert "security token" in response.get_data(as_text=True)
    assert len(queue) == 0
    ok = post_with_token(client, "/add-task", csrf_token(page), url="https://example.org/")
    assert ok.status_code == 200
    assert len(queue) == 1


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/", {"file": (io.BytesIO(factories.jpeg(64, 48)), "a.jpg")}),
        ("/add-task", {"url": "https://example.org/"}),
    ],
)
def test_a_token_from_another_session_is_refused(app, path, fields):
    victim, attacker = app.test_client(), app.test_client()
    attacker_token = csrf_token(attacker.get(path).get_data(as_text=True))
    victim.get(path)  # the victim has a session (and a token) of its own

    response = post_with_token(victim, path, attacker_token, **fields)

    assert response.status_code == 403
    assert app.extensions["imgsvc"].storage.list_keys("images/") == []
    assert len(app.extensions["imgsvc"].queue) == 0


def test_the_wsgi_entry_point_refuses_to_start_without_a_secret_key(env):
    clean = {k: v for k, v in os.environ.items() if k not in ("IMGSVC_SECRET_KEY", "IMGSVC_DEV")}
    command = [sys.executable, "-c", "import imgsvc.wsgi"]
    refused = subprocess.run(command, cwd=ROOT, env=clean, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "IMGSVC_SECRET_KEY must be set" in refused.stderr
    dev = subprocess.run(command, cwd=ROOT, env=dict(clean, IMGSVC_DEV="true"), timeout=60)
    assert dev.returncode == 0


def test_delete_tokens_are_stored_only_as_a_hash(app, client, run_worker):
    body = upload(client, factories.jpeg(500, 400)).get_json()
    image_id, token = body["id"], body["delete_token"]
    run_worker()
    storage = app.extensions["imgsvc"].storage

    for key in storage.list_keys("images/"):
        assert token.encode() not in storage.get(key), key
    manifest = storage.get(f"images/{image_id}/manifest.json").decode()
    assert f'"delete_token_sha256": "{hashlib.sha256(token.encode()).hexdigest()}"' in manifest
    assert 'delete_token"' not in manifest


def test_a_delete_token_must_match_exactly(app, client):
    body = upload(client, factories.jpeg(300, 200)).get_json()
    image_id, token = body["id"], body["delete_token"]
    last = "A" if token[-1] != "A" else "B"
    for wrong in (token[:-1] + last, token[:-1], token + "A", token.upper(), " " + token, ""):
        response = client.delete(f"/api/images/{image_id}", headers={"X-Delete-Token": wrong})
        assert response.status_code == 403, wrong
        assert response.get_json()["error"]["code"] == "forbidden"
    assert client.get(f"/api/images/{image_id}").status_code == 200

    ok = client.delete(f"/api/images/{image_id}", headers={"X-Delete-Token": token})
    assert ok.status_code == 204


@pytest.mark.parametrize(
    ("data", "content_type", "extension"),
    [
        (factories.png_alpha(120, 90), "image/png", "png"),
        (factories.animated_gif(), "image/gif", "gif"),
        (factories.encode(factories.photo(120, 90), "WEBP"), "image/webp", "webp"),
        (factories.encode(factories.photo(120, 90), "TIFF"), "image/tiff", "tif"),
    ],
)
def test_originals_of_every_format_are_attachments_never_inline(
    client, data, content_type, extension
):
    image_id = upload(client, data, f"upload.{extension}").get_json()["id"]
    response = client.get(f"/images/{image_id}/original")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{image_id}.{extension}"'
    )
    assert_security_headers(response, "original")
