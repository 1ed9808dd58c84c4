"""Settings: defaults, then IMGSVC_* environment, then overrides; checked at start."""

from __future__ import annotations

import pytest

from imgsvc import create_app
from imgsvc.config import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IMGSVC_SECRET_KEY", "IMGSVC_DEV", "IMGSVC_MAX_IMAGE_PIXELS", "PORT"):
        monkeypatch.delenv(name, raising=False)


def test_defaults():
    settings = load_settings()
    assert settings["MAX_CONTENT_LENGTH"] == 20 * 1024 * 1024
    assert settings["MAX_IMAGE_PIXELS"] == 50_000_000
    assert settings["QUEUE_NAME"] == "default"
    assert settings["STORAGE_URL"].startswith("file:///")
    assert settings["STORAGE_URL"].endswith("/var/media")
    assert settings["PORT"] == 5000


def test_environment_then_overrides(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("IMGSVC_MAX_IMAGE_PIXELS", "1000")
    monkeypatch.setenv("IMGSVC_STORAGE_URL", "s3://bucket/prefix")
    monkeypatch.setenv("PORT", "8123")
    settings = load_settings({"STORAGE_URL": "file:///tmp/x"})
    assert settings["MAX_IMAGE_PIXELS"] == 1000  # parsed, not a string
    assert settings["STORAGE_URL"] == "file:///tmp/x"
    assert settings["PORT"] == 8123


def test_numeric_secret_key_stays_a_string(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("IMGSVC_SECRET_KEY", "12345678901234567890")
    assert load_settings()["SECRET_KEY"] == "12345678901234567890"


def test_secret_key_is_required_outside_dev_mode():
    with pytest.raises(RuntimeError, match="IMGSVC_SECRET_KEY"):
        create_app()
    assert create_app({"DEV": True}).config["SECRET_KEY"]
    assert create_app({"SECRET_KEY": "s"}).config["SECRET_KEY"] == "s"


@pytest.mark.parametrize(
    "override",
    [
        {"VARIANTS": "thumb:200x200:cover,xs"},
        {"VARIANTS": ""},
        {"STORAGE_URL": "ftp://example/x"},
        {"STORAGE_URL": "file://relative/path"},
        {"EXTRA_FORMATS": "webp,jxl"},
    ],
)
def test_bad_settings_fail_at_start(override):
    with pytest.raises(ValueError):
        create_app({"SECRET_KEY": "s", **override})


def test_shared_clients_are_created_lazily():
    app = create_app({"SECRET_KEY": "s", "REDIS_URL": "redis://127.0.0.1:1/0"})
    services = app.extensions["imgsvc"]
    assert "redis" not in vars(services) and "storage" not in vars(services)
