"""The front's nginx configuration: rendered from the settings, accepted by nginx."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from imgsvc.cli import main
from imgsvc.config import load_settings
from imgsvc.front import nginx_binary, prepare, render_config
from tests.support import free_port


def directive(config: str, name: str) -> list[str]:
    """The values of every ``name ...;`` line of ``config``."""
    found = []
    for line in config.splitlines():
        words = line.strip().rstrip(";").split()
        if words and " ".join(words).startswith(name + " ") and line.strip().endswith(";"):
            found.append(" ".join(words)[len(name) + 1 :])
    return found


@pytest.fixture
def settings():
    return load_settings(
        {
            "FRONT_HEADER_TIMEOUT": 7,
            "FRONT_IDLE_TIMEOUT": 45,
            "FRONT_KEEPALIVE_TIMEOUT": 12,
            "FRONT_MAX_CONNECTIONS": 2000,
            "FRONT_MAX_CONNECTIONS_PER_CLIENT": 25,
            "FRONT_BACKLOG": 256,
            "MAX_CONTENT_LENGTH": 5_000_000,
        }
    )


def test_nginx_accepts_the_configuration(settings, tmp_path: Path):
    listen = f"127.0.0.1:{free_port()}"
    command = prepare(settings, listen=listen, upstream="127.0.0.1:9", folder=tmp_path)
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr


def test_each_limit_is_a_setting(settings, tmp_path: Path):
    config = render_config(settings, listen="0.0.0.0:8000", upstream="web:8000", folder=tmp_path)
    assert directive(config, "client_header_timeout") == ["7s"]
    assert directive(config, "client_body_timeout") == ["45s"]
    assert directive(config, "send_timeout") == ["45s"]
    assert directive(config, "keepalive_timeout") == ["12s"]
    assert directive(config, "worker_connections") == ["2000"]
    assert directive(config, "limit_conn") == ["per_client 25"]
    assert directive(config, "client_max_body_size") == ["5000000"]
    assert directive(config, "listen") == ["0.0.0.0:8000 backlog=256"]
    assert directive(config, "server") == ["web:8000"]


def test_bodies_and_responses_are_buffered_whole(settings, tmp_path: Path):
    """What keeps a slow client from holding a sync process, either way."""
    config = render_config(settings, listen="0.0.0.0:8000", upstream="web:8000", folder=tmp_path)
    assert directive(config, "proxy_request_buffering") == ["on"]
    assert directive(config, "proxy_buffering") == ["on"]
    # Replaced in every proxied location, never appended to what the client sent.
    assert set(directive(config, "proxy_set_header X-Forwarded-For")) == {"$remote_addr"}


def test_load_balancers_before_the_front_give_the_client_address(tmp_path: Path):
    settings = load_settings({"FRONT_REAL_IP_FROM": "10.0.0.0/8, 192.0.2.7"})
    listen = f"127.0.0.1:{free_port()}"
    command = prepare(settings, listen=listen, upstream="127.0.0.1:9", folder=tmp_path)
    config = (tmp_path / "nginx.conf").read_text()
    assert directive(config, "set_real_ip_from") == ["10.0.0.0/8", "192.0.2.7"]
    assert directive(config, "real_ip_header") == ["X-Forwarded-For"]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


def test_no_load_balancer_no_real_ip(settings, tmp_path: Path):
    config = render_config(settings, listen="0.0.0.0:8000", upstream="web:8000", folder=tmp_path)
    assert directive(config, "set_real_ip_from") == []


def test_no_per_client_cap_when_set_to_zero(tmp_path: Path):
    settings = load_settings({"FRONT_MAX_CONNECTIONS_PER_CLIENT": 0})
    config = render_config(settings, listen="0.0.0.0:8000", upstream="web:8000", folder=tmp_path)
    assert directive(config, "limit_conn") == []


def test_the_command_prints_the_configuration(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("IMGSVC_FRONT_DIR", str(tmp_path))
    result = CliRunner().invoke(
        main, ["front", "--upstream", "127.0.0.1:8001", "--listen", "0.0.0.0:80", "--print-config"]
    )
    assert result.exit_code == 0, result.output
    assert directive(result.output, "server") == ["127.0.0.1:8001"]
    assert directive(result.output, "listen")[0].startswith("0.0.0.0:80 ")
    assert nginx_binary()
