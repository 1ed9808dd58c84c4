"""Error pages: friendly HTML for browsers, the JSON error body for API clients."""

from __future__ import annotations

from html import unescape

import pytest
from flask import Flask

from imgsvc.errors import (
    FileTooLarge,
    Forbidden,
    ImgsvcError,
    InvalidUrl,
    NotFound,
    RateLimited,
)
from imgsvc.web.errors import render_error

FILE_ONLY = pytest.mark.parametrize("storage_url", ["file"], indirect=True)
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@FILE_ONLY
@pytest.mark.parametrize(
    ("error", "title"),
    [
        (InvalidUrl(), "That didn't work"),
        (Forbidden(), "Not allowed"),
        (NotFound(), "Page not found"),
        (FileTooLarge(), "That file is too large"),
        (RateLimited(), "Slow down a little"),
        (ImgsvcError(), "Something went wrong on our side"),
    ],
)
def test_error_pages_are_friendly_for_browsers_and_json_for_clients(app, error, title):
    with app.test_request_context("/somewhere", headers=HTML):
        page = render_error(error)
    html = unescape(page.get_data(as_text=True))
    assert page.status_code == error.status
    assert page.mimetype == "text/html"
    assert f'<h1 id="error-title" class="h3">{title}</h1>' in html
    assert error.code in html and "Go to the upload page" in html
    with app.test_request_context("/somewhere", headers={"Accept": "application/json"}):
        api = render_error(error)
    assert api.get_json() == {"error": {"code": error.code, "message": error.message}}


@FILE_ONLY
def test_413_page_names_the_limit(app):
    app.config["MAX_CONTENT_LENGTH"] = 8 * 1024 * 1024
    with app.test_request_context("/", method="POST", headers=HTML):
        html = render_error(FileTooLarge()).get_data(as_text=True)
    assert "Uploads can be up to 8 MiB" in html


@FILE_ONLY
def test_unexpected_exception_is_a_friendly_500_with_the_request_id(env):
    from imgsvc import create_app

    app: Flask = create_app({"TESTING": True, "PROPAGATE_EXCEPTIONS": False})

    @app.get("/boom")
    def boom():
        raise RuntimeError("kaboom")

    response = app.test_client().get("/boom", headers={**HTML, "X-Request-ID": "req-42"})
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong on our side" in html and "kaboom" not in html
    assert "req-42" in html
