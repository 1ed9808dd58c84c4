"""The real ``make run`` stack (``imgsvc dev``: front, gunicorn, worker, Redis) for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support import free_port, wait_until


class DevStack:
    """``imgsvc dev`` running in ``folder``; ``url`` is the front's address."""

    def __init__(self, folder: Path, port: int, proc: subprocess.Popen, log: Path) -> None:
        self.folder, self.port, self.proc, self.log = folder, port, proc, log
        self.url = f"http://127.0.0.1:{port}"

    @property
    def images(self) -> Path:
        return self.folder / "var" / "media" / "images"

    def refusals(self) -> str:
        path = self.folder / "var" / "front" / "refusals.log"
        return path.read_text() if path.exists() else ""

    def upload(self, data: bytes) -> str:
        response = requests.post(
            f"{self.url}/api/images", files={"file": ("a.jpg", data, "image/jpeg")}, timeout=10
        )
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def wait_done(self, image_id: str, timeout: float = 60) -> dict:
        def done() -> dict | None:
            body = requests.get(f"{self.url}/api/images/{image_id}", timeout=5).json()
            assert body["status"] != "failed", body
            return body if body["status"] == "done" else None

        return wait_until(done, timeout=timeout, interval=0.1, message="image not done")


@contextmanager
def dev_stack(folder: Path, settings: dict[str, str]) -> Iterator[DevStack]:
    """Start ``imgsvc dev`` with ``settings`` (``IMGSVC_*``); stop it with Ctrl-C after."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGSVC_")}
    env.update({"IMGSVC_LOG_LEVEL": "WARNING", "IMGSVC_RATE_LIMIT_UPLOADS": "0", **settings})
    log = folder / "dev.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "imgsvc", "dev", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    stack = DevStack(folder, port, proc, log)
    try:

        def healthy() -> bool:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                return requests.get(f"{stack.url}/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(healthy, timeout=60, message="imgsvc dev did not come up")
        yield stack
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
