"""Settings: defaults, then IMGSVC_* environment, then overrides; checked at start."""

from __future__ import annotations

import os
import re
import subprocess
import sys

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


# -- typed settings -----------------------------------------------------------


def test_every_default_is_a_typed_attribute(monkeypatch: pytest.MonkeyPatch):
    from typing import get_type_hints

    monkeypatch.delenv("IMGSVC_WORKER_PRIORITY")  # the test session's (tests/conftest.py)

    from imgsvc.config import Defaults
    from imgsvc.settings import FIELDS, Settings

    names = {name for name in vars(Defaults) if name.isupper()}
    assert names == set(FIELDS) == set(get_type_hints(Defaults))
    config = Settings(load_settings())
    for name in names:
        assert getattr(config, name) == getattr(Defaults, name), name


def test_values_are_parsed_to_their_types():
    from imgsvc.settings import parse_settings

    config = parse_settings(
        load_settings(
            {
                "JOB_TIMEOUT": "30",
                "FETCH_TIMEOUT": 2,
                "OPS_PASSWORD": 123456,  # IMGSVC_OPS_PASSWORD=123456 is parsed as JSON
                "ALLOWED_FORMATS": ["JPEG", "PNG"],
            }
        )
    )
    assert config.JOB_TIMEOUT == 30
    assert config.FETCH_TIMEOUT == 2.0 and isinstance(config.FETCH_TIMEOUT, float)
    assert config.OPS_PASSWORD == "123456"
    assert config.ALLOWED_FORMATS == "JPEG,PNG"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("false", False), ("True", True), ("0", False), ("1", True), ("", False)],
)
def test_bools_parse(monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool):
    from imgsvc.settings import parse_settings

    monkeypatch.setenv("IMGSVC_METRICS_AUTH", raw)
    assert parse_settings(load_settings()).METRICS_AUTH is expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("JOB_TIMEOUT", "abc", "IMGSVC_JOB_TIMEOUT: expected an integer, got 'abc'"),
        ("JOB_RETRIES", "true", "IMGSVC_JOB_RETRIES: expected an integer, got True"),
        ("FETCH_TIMEOUT", "soon", "IMGSVC_FETCH_TIMEOUT: expected a number, got 'soon'"),
        ("METRICS_AUTH", "maybe", "IMGSVC_METRICS_AUTH: expected true or false, got 'maybe'"),
        ("QUEUE_NAME", '["a"]', "IMGSVC_QUEUE_NAME: expected a string, got ['a']"),
        ("JOB_RETRY_INTERVALS", "2,x", "IMGSVC_JOB_RETRY_INTERVALS: expected whole seconds"),
    ],
)
def test_a_wrong_type_fails_at_start_with_the_setting_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
):
    from imgsvc.settings import SettingsError, parse_settings

    monkeypatch.setenv(f"IMGSVC_{name}", value)
    with pytest.raises(SettingsError, match=re.escape(message)):
        parse_settings(load_settings())
    with pytest.raises(SettingsError, match=re.escape(message)):
        create_app({"SECRET_KEY": "s"})


def test_a_variable_naming_no_setting_fails_at_start(monkeypatch: pytest.MonkeyPatch):
    from imgsvc.settings import SettingsError

    monkeypatch.setenv("IMGSVC_JOB_TIMEOTU", "30")
    message = "IMGSVC_JOB_TIMEOTU: names no setting (did you mean IMGSVC_JOB_TIMEOUT?)"
    with pytest.raises(SettingsError, match=re.escape(message)):
        create_app({"SECRET_KEY": "s"})


def test_every_bad_setting_is_named_at_once():
    from imgsvc.settings import SettingsError, parse_settings

    with pytest.raises(SettingsError) as caught:
        parse_settings(load_settings({"JOB_TIMEOUT": "x", "PORT": None}))
    assert "IMGSVC_JOB_TIMEOUT" in str(caught.value) and "IMGSVC_PORT" in str(caught.value)


def test_the_app_reads_its_config_live_and_typed():
    app = create_app({"SECRET_KEY": "s", "JOB_TIMEOUT": "30"})
    services = app.extensions["imgsvc"]
    assert app.config["JOB_TIMEOUT"] == 30  # stored typed at start
    app.config.update(JOB_TIMEOUT=5)  # as tests do after start
    assert services.config.JOB_TIMEOUT == 5
    with pytest.raises(AttributeError, match="read-only"):
        services.config.JOB_TIMEOUT = 1


def test_commands_stop_at_start_naming_the_setting():
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGSVC_")}
    env["IMGSVC_RECONCILE_INTERVAL"] = "often"
    for command in (["reconcile"], ["front", "--upstream", "127.0.0.1:9", "--print-config"]):
        result = subprocess.run(
            [sys.executable, "-m", "imgsvc", *command], env=env, capture_output=True, text=True
        )
        assert result.returncode == 1, command
        assert "IMGSVC_RECONCILE_INTERVAL: expected an integer" in result.stderr, command
        assert "Traceback" not in result.stderr, command
