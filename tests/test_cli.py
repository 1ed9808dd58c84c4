"""`imgsvc dev` (what `make run` starts): Redis, gunicorn and a worker; Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests import factories
from tests.support import free_port, wait_until

pytestmark = pytest.mark.slow


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_dev_runs_everything_and_ctrl_c_stops_it(tmp_path: Path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGSVC_")}
    env["IMGSVC_LOG_LEVEL"] = "WARNING"
    log = tmp_path / "dev.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "imgsvc", "dev", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: f"running at {url}/" in log.read_text(),
            timeout=60,
            message="imgsvc dev printed no URL",
        )

        def healthy() -> bool:
            try:
                return requests.get(f"{url}/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(healthy, timeout=30)
        image_id = requests.post(
            f"{url}/api/images",
            files={"file": ("a.jpg", factories.jpeg(), "image/jpeg")},
            timeout=10,
        ).json()["id"]
        wait_until(
            lambda: (
                requests.get(f"{url}/api/images/{image_id}", timeout=5).json()["status"] == "done"
            ),
            timeout=60,
        )
        assert (tmp_path / "var" / "media" / "images" / image_id / "xl.jpg").exists()
        redis_port = int(log.read_text().split("redis redis://127.0.0.1:")[1].split("/")[0])
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()[-3000:]
    assert not listening(port)
    assert not listening(redis_port)
    assert (tmp_path / "var" / "redis").is_dir()
