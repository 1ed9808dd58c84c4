"""A running imgsvc for tests: gunicorn (2 processes) + ``python worker.py``.

Like ``tests/test_e2e.py``'s stack, but configurable and usable from a
module- or session-scoped fixture: the environment is built here from the
given settings instead of the test's monkeypatched ``os.environ``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from benchmarks.stack import gunicorn_command, stop_processes
from tests.support import free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]


class LiveStack:
    """Start with :meth:`start`, stop with :meth:`stop`; ``url`` is the base URL."""

    def __init__(self, folder: Path, settings: dict[str, str], web_workers: int = 2) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_dir = folder / "prometheus"
        self.metrics_dir.mkdir(parents=True, exist_ok=True)
        base = {k: v for k, v in os.environ.items() if not k.startswith("IMGSVC_")}
        self.env = {
            **base,
            "IMGSVC_STORAGE_URL": "file://" + str(folder / "media"),
            "IMGSVC_SECRET_KEY": "live-stack-secret",
            "IMGSVC_JOB_RETRY_INTERVALS": "0",
            "IMGSVC_LOG_FORMAT": "json",
            "IMGSVC_LOG_LEVEL": "INFO",
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            **settings,
        }
        self.web_workers = web_workers
        self.web_log = folder / "web.log"
        self.worker_log = folder / "worker.log"
        self.processes: list[subprocess.Popen] = []

    def _spawn(self, args: list[str], log: Path) -> subprocess.Popen:
        with open(log, "a") as out:
            proc = subprocess.Popen(
                args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.processes.append(proc)
        return proc

    def start(self) -> LiveStack:
        """Start gunicorn and one worker; return once ``/healthz`` answers 200."""
        web = self._spawn(gunicorn_command(self.port, "run:app", self.web_workers), self.web_log)
        self._spawn([sys.executable, "worker.py"], self.worker_log)

        def up() -> bool:
            assert web.poll() is None, self.web_log.read_text()
            try:
                return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except (requests.ConnectionError, requests.Timeout):
                return False  # not listening yet, or its processes are still booting

        try:
            wait_until(up, timeout=30, message="gunicorn did not come up")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM everything (workers finish their job), then wait."""
        stop_processes(self.processes)

    def wait_final(self, image_id: str, timeout: float = 90) -> dict:
        """Poll the API until the image is ``done`` or ``failed``; its body."""

        def final() -> dict | None:
            body = requests.get(f"{self.url}/api/images/{image_id}", timeout=10).json()
            return body if body["status"] in ("done", "failed") else None

        return wait_until(final, timeout=timeout, interval=0.1, message="image not processed")

    def upload(self, data: bytes, filename: str = "photo.jpg") -> dict:
        """POST one file to the API; the 202 body."""
        response = requests.post(
            f"{self.url}/api/images", files={"file": (filename, data)}, timeout=30
        )
        assert response.status_code == 202, response.text
        return response.json()
