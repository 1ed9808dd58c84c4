"""The multi-host rehearsal: each part on its own host of a private virtual network.

Linux network namespaces made by the test on 198.18.0.0/24 (nothing routed
out; all torn down after, also after a failure; see tests/support/netns.py):
a data host (Redis and moto's S3 server), a web host (the front and
gunicorn), worker hosts and a client host. The client uploads through the web
host's front; a worker host makes the variants from the bucket on the data
host; the client reads them back. Each part reaches the others by address, as
on separate machines. Needs root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from imgsvc.config import load_settings
from imgsvc.front import prepare
from imgsvc.images import record
from tests.support import wait_until
from tests.support.netns import JAIL_ALLOW, Host, VirtualNetwork, available
from tests.support.processes import ROOT, gunicorn_command

pytestmark = pytest.mark.slow

BUCKET = "rehearsal"


@dataclass
class Rehearsal:
    net: VirtualNetwork
    data: Host
    web: Host
    client: Host
    env: dict[str, str]
    folder: Path

    @property
    def url(self) -> str:
        return f"http://{self.web.address}:8000"

    def worker(self, name: str) -> Host:
        """A new worker host running ``python worker.py``."""
        host = self.net.host(name)
        host.spawn([sys.executable, "worker.py"], env=self.env, log=self.log(name), cwd=ROOT)
        return host

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def client_says(self, *args: str, timeout: float = 300) -> dict:
        """Run the client program on the client host; its JSON answer."""
        command = [sys.executable, "-m", "tests.support.rehearsal_client", *args]
        done = self.client.run(command, env=self.env, cwd=ROOT, timeout=timeout)
        logs = {p.name: p.read_text()[-1500:] for p in self.folder.glob("*.log")}
        assert done.returncode == 0, (done.stderr[-3000:], logs)
        return json.loads(done.stdout.strip().splitlines()[-1])

    def job_status(self, image_id: str) -> str:
        """The image job's status in Redis, asked from the data host."""
        key = f"rq:job:{record.job_id_for(image_id)}"
        command = ["redis-cli", "-h", self.data.address, "HGET", key, "status"]
        return self.data.run(command, env=self.env, timeout=30).stdout.strip()


def create_bucket(data: Host, env: dict[str, str]) -> bool:
    """Whether the bucket could be created on the data host's S3 (run on the data host)."""
    script = (
        "import boto3; "
        f"boto3.client('s3', endpoint_url='http://{data.address}:9000')"
        f".create_bucket(Bucket='{BUCKET}')"
    )
    return data.run([sys.executable, "-c", script], env=env, timeout=60).returncode == 0


@pytest.fixture
def rehearsal(tmp_path: Path) -> Iterator[Rehearsal]:
    """Data, web and client hosts up (no worker host yet); everything removed after."""
    reason = available()
    assert reason is None, f"the rehearsal cannot run here: {reason}"
    with VirtualNetwork() as net:
        data, web, client = net.host("data"), net.host("web"), net.host("client")
        base = {k: v for k, v in os.environ.items() if not k.startswith("IMGSVC_")}
        env = {
            **base,
            **JAIL_ALLOW,
            "IMGSVC_REDIS_URL": f"redis://{data.address}:6379/0",
            "IMGSVC_STORAGE_URL": f"s3://{BUCKET}",
            "IMGSVC_S3_ENDPOINT_URL": f"http://{data.address}:9000",
            "IMGSVC_SECRET_KEY": "rehearsal-secret",
            "IMGSVC_RATE_LIMIT_UPLOADS": "0",
            "IMGSVC_LOG_LEVEL": "INFO",
            "IMGSVC_JOB_RETRY_INTERVALS": "0",
            # A worker host that falls off the network is noticed within seconds.
            "IMGSVC_WORKER_MAINTENANCE_INTERVAL": "1",
            "IMGSVC_WORKER_MONITOR_INTERVAL": "1",
            "IMGSVC_HEARTBEAT_GRACE": "2",
            "IMGSVC_STORAGE_TIMEOUT": "3",
        }
        redis = [
            "redis-server", "--bind", data.address, "--port", "6379", "--save", "",
            "--appendonly", "no", "--protected-mode", "no", "--dir", str(tmp_path),
        ]  # fmt: skip
        data.spawn(redis, env=env, log=tmp_path / "redis.log")
        s3 = [sys.executable, "-m", "moto.server", "-H", data.address, "-p", "9000"]
        data.spawn(s3, env=env, log=tmp_path / "moto.log")
        wait_until(lambda: create_bucket(data, env), timeout=60, interval=0.5)

        web.spawn(gunicorn_command(8001), env=env, log=tmp_path / "web.log", cwd=ROOT)
        front_dir = tmp_path / "front"
        front = prepare(
            load_settings({"FRONT_DIR": str(front_dir)}),
            listen=f"{web.address}:8000",
            upstream="127.0.0.1:8001",
            folder=front_dir,
        )
        web.spawn(front, env=env, log=tmp_path / "front.log")
        yield Rehearsal(net, data, web, client, env, tmp_path)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert net.tag not in listed, "the run's namespaces were not removed"


def test_an_upload_from_a_client_host_is_processed_on_a_worker_host_and_served(
    rehearsal: Rehearsal,
) -> None:
    rehearsal.worker("worker")
    uploaded = rehearsal.client_says("upload", rehearsal.url, "6")
    assert uploaded["statuses"] == [202] * 6
    report = rehearsal.client_says("collect", rehearsal.url, "120", *uploaded["ids"])

    assert set(report["final"].values()) == {"done"}, report
    for served in report["served"].values():
        assert served == {**served, "status": 200, "content_type": "image/jpeg", "jpeg": True}
    print(f"rehearsal: 6 uploads across four hosts done and served in {report['seconds']} s")


def test_a_worker_host_cut_off_mid_job_has_its_job_finished_by_another(
    rehearsal: Rehearsal,
) -> None:
    first = rehearsal.worker("worker-a")
    uploaded = rehearsal.client_says("upload", rehearsal.url, "1", "6000", "4000")
    image_id = uploaded["ids"][0]
    wait_until(lambda: rehearsal.job_status(image_id) == "started", timeout=60, interval=0.2)

    rehearsal.net.cut(first)  # the cable is pulled mid-job: no goodbye, no heartbeat
    cut_at = time.monotonic()
    rehearsal.worker("worker-b")
    report = rehearsal.client_says("collect", rehearsal.url, "120", image_id)
    healed = time.monotonic() - cut_at

    assert report["final"] == {image_id: "done"}, report
    assert report["served"][image_id]["jpeg"]
    assert "process_image" in rehearsal.log("worker-b").read_text()  # b finished it
    print(f"rehearsal: worker host cut mid-job; done on another host {healed:.1f} s later")
