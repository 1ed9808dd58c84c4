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
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
    redis_hosts: list[Host]
    redis_master: subprocess.Popen

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
        host = self.redis_hosts[0]
        command = ["redis-cli", "-h", host.address, "HGET", key, "status"]
        return host.run(command, env=self.env, timeout=30).stdout.strip()


def create_bucket(data: Host, env: dict[str, str]) -> bool:
    """Whether the bucket could be created on the data host's S3 (run on the data host)."""
    script = (
        "import boto3; "
        f"boto3.client('s3', endpoint_url='http://{data.address}:9000')"
        f".create_bucket(Bucket='{BUCKET}')"
    )
    return data.run([sys.executable, "-c", script], env=env, timeout=60).returncode == 0


SENTINEL_CONF = """port 26379
bind {address}
dir {folder}
sentinel monitor mymaster {master} 6379 2
sentinel down-after-milliseconds mymaster 1500
sentinel failover-timeout mymaster 5000
"""


def sentinel_state(host: Host, env: dict[str, str]) -> dict[str, str]:
    """``SENTINEL MASTER mymaster`` as the sentinel on ``host`` answers it."""
    command = ["redis-cli", "-h", host.address, "-p", "26379", "SENTINEL", "MASTER", "mymaster"]
    lines = host.run(command, env=env, timeout=30).stdout.split()
    return dict(zip(lines[::2], lines[1::2], strict=False))


def start_redis(host: Host, env: dict[str, str], folder: Path, *extra: str):
    command = [
        "redis-server", "--bind", host.address, "--port", "6379", "--save", "",
        "--appendonly", "no", "--protected-mode", "no", "--dir", str(folder), *extra,
    ]  # fmt: skip
    return host.spawn(command, env=env, log=folder / f"redis-{host.name}.log")


@contextmanager
def rehearsal_network(tmp_path: Path, *, sentinel: bool) -> Iterator[Rehearsal]:
    """Data (S3, and Redis unless ``sentinel``), web and client hosts up, no worker host
    yet; with ``sentinel``, Redis is a master host and a replica host watched by three
    sentinels (on those two hosts and the data host). Everything removed after."""
    reason = available()
    assert reason is None, f"the rehearsal cannot run here: {reason}"
    with VirtualNetwork() as net:
        data, web, client = net.host("data"), net.host("web"), net.host("client")
        redis_hosts = [net.host("redis-a"), net.host("redis-b")] if sentinel else [data]
        if sentinel:
            hosts = ",".join(f"{h.address}:26379" for h in [*redis_hosts, data])
            redis_url = f"redis+sentinel://{hosts}/mymaster/0"
        else:
            redis_url = f"redis://{data.address}:6379/0"
        base = {k: v for k, v in os.environ.items() if not k.startswith("IMGSVC_")}
        env = {
            **base,
            **JAIL_ALLOW,
            "IMGSVC_REDIS_URL": redis_url,
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
            "IMGSVC_RECONCILE_INTERVAL": "2",
            "IMGSVC_STORAGE_TIMEOUT": "3",
        }
        masters = [start_redis(redis_hosts[0], env, tmp_path)]
        if sentinel:
            start_redis(
                redis_hosts[1], env, tmp_path, "--replicaof", redis_hosts[0].address, "6379"
            )
            for host in [*redis_hosts, data]:
                conf = tmp_path / f"sentinel-{host.name}.conf"
                conf.write_text(
                    SENTINEL_CONF.format(
                        address=host.address, folder=tmp_path, master=redis_hosts[0].address
                    )
                )
                command = ["redis-server", str(conf), "--sentinel"]
                host.spawn(command, env=env, log=tmp_path / f"sentinel-{host.name}.log")

            def settled() -> bool:
                state = sentinel_state(data, env)
                return state.get("num-slaves") == "1" and state.get("num-other-sentinels") == "2"

            wait_until(settled, timeout=60, interval=0.5, message="the sentinels did not settle")
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
        yield Rehearsal(net, data, web, client, env, tmp_path, redis_hosts, masters[0])
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert net.tag not in listed, "the run's namespaces were not removed"


@pytest.fixture
def rehearsal(tmp_path: Path) -> Iterator[Rehearsal]:
    with rehearsal_network(tmp_path, sentinel=False) as running:
        yield running


@pytest.fixture
def sentinel_rehearsal(tmp_path: Path) -> Iterator[Rehearsal]:
    with rehearsal_network(tmp_path, sentinel=True) as running:
        yield running


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


def test_the_redis_master_killed_mid_run_fails_over_to_the_replica_host(
    sentinel_rehearsal: Rehearsal,
) -> None:
    rehearsal = sentinel_rehearsal
    rehearsal.worker("worker")
    command = [sys.executable, "-m", "tests.support.rehearsal_client"]
    uploads = rehearsal.client.spawn(
        [*command, "upload-for", rehearsal.url, "8"],
        env=rehearsal.env,
        log=rehearsal.log("client"),
        cwd=ROOT,
    )
    web_log = rehearsal.folder / "web.log"
    wait_until(lambda: web_log.read_text().count("POST /api/images 202") >= 5, timeout=60)
    os.killpg(rehearsal.redis_master.pid, signal.SIGKILL)  # the master's host stays up
    killed_at = time.monotonic()
    replica = rehearsal.redis_hosts[1]
    wait_until(
        lambda: sentinel_state(rehearsal.data, rehearsal.env).get("ip") == replica.address,
        timeout=60,
        interval=0.2,
    )
    failover = time.monotonic() - killed_at
    assert uploads.wait(timeout=120) == 0, rehearsal.log("client").read_text()[-3000:]
    answers = json.loads(rehearsal.log("client").read_text().strip().splitlines()[-1])["answers"]

    refused = [a for a in answers if a[1] != 202]
    assert all(status == 503 and code == "queue_unavailable" for _, status, code, _ in refused)
    assert answers[-1][1] == 202  # accepted again after the failover
    ids = [image_id for _, _, _, image_id in answers]
    assert all(ids)  # every answer, 503s included, names a stored image
    report = rehearsal.client_says("collect", rehearsal.url, "180", *ids)
    assert set(report["final"].values()) == {"done"}, report
    window = (refused[-1][0] - refused[0][0]) if refused else 0.0
    print(
        f"rehearsal: Redis master killed; sentinels promoted the replica host in {failover:.1f} s; "
        f"{len(refused)} of {len(answers)} uploads got 503 over {window:.1f} s; all done"
    )
