"""The hosts of the multi-host rehearsal (tests/system/test_rehearsal.py).

:func:`rehearsal_network` makes a :class:`~tests.support.netns.VirtualNetwork`
and starts on it, each on its own host: Redis (on the data host, or with
``sentinel`` a master host and a replica host watched by three sentinels, on
those two hosts and the data host), moto's S3 server on the data host, and
``webs`` web hosts (the front and gunicorn each); worker hosts are added by
:meth:`Rehearsal.worker`, the client host runs ``tests.support.rehearsal_client``.
Everything is killed and the namespaces deleted when the context ends, also
after a failure, and it checks that they are gone. Needs root.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from imgsvc.config import load_settings
from imgsvc.front import prepare
from imgsvc.images import record
from tests.support import wait_until
from tests.support.netns import JAIL_ALLOW, Host, VirtualNetwork, available
from tests.support.processes import ROOT, gunicorn_command

BUCKET = "rehearsal"
SENTINEL_CONF = """port 26379
bind {address}
dir {folder}
sentinel monitor mymaster {master} 6379 2
sentinel down-after-milliseconds mymaster 1500
sentinel failover-timeout mymaster 5000
"""


def healthz_probe(url: str) -> list[str]:
    """A command that exits 0 when ``url/healthz`` answers 200 within 2 s."""
    script = f"import urllib.request; urllib.request.urlopen('{url}/healthz', timeout=2)"
    return [sys.executable, "-c", script]


@dataclass
class WebHost:
    """A web host: the front on ``address:8000`` before gunicorn on its loopback."""

    host: Host
    env: dict[str, str]
    folder: Path
    starts: int = 0
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host.address}:8000"

    def start(self) -> None:
        """gunicorn, then (once it answers /healthz) the front: a client never meets a
        front without its app (which it would answer ``503 service_unavailable``)."""
        self.starts += 1
        name = f"{self.host.name}-{self.starts}"
        app = self.host.spawn(
            gunicorn_command(8001), env=self.env, log=self.folder / f"{name}.log", cwd=ROOT
        )
        probe = healthz_probe("http://127.0.0.1:8001")
        wait_until(
            lambda: self.host.run(probe, env=self.env, timeout=10).returncode == 0,
            timeout=60,
            interval=0.2,
            message=f"gunicorn on {self.host.name} did not answer",
        )
        front_dir = self.folder / f"front-{self.host.name}"
        command = prepare(
            load_settings({"FRONT_DIR": str(front_dir)}),
            listen=f"{self.host.address}:8000",
            upstream="127.0.0.1:8001",
            folder=front_dir,
        )
        front = self.host.spawn(command, env=self.env, log=self.folder / f"front-{name}.log")
        self.processes = [front, app]

    def kill(self) -> None:
        """SIGKILL the front (its whole process group): the connections it holds are
        reset, answers in flight lost. Then stop gunicorn as a restart does (SIGTERM:
        its processes finish the request they run, within 30 s, else SIGKILL)."""
        front, app = self.processes
        with contextlib.suppress(ProcessLookupError):
            os.killpg(front.pid, signal.SIGKILL)
        front.wait(timeout=30)
        app.terminate()
        try:
            app.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(app.pid, signal.SIGKILL)
            app.wait(timeout=30)
        self.processes = []

    def serving(self) -> bool:
        """Whether a client connection to the front is open (an upload in flight)."""
        command = ["ss", "-Htn", "state", "established", "( sport = :8000 )"]
        return bool(self.host.run(command, env=self.env, timeout=10).stdout.strip())

    def answers_healthz(self, client: Host) -> bool:
        """Whether the front answers /healthz with 200, asked from ``client``."""
        return client.run(healthz_probe(self.url), env=self.env, timeout=10).returncode == 0


@dataclass
class Rehearsal:
    net: VirtualNetwork
    data: Host
    webs: list[WebHost]
    client: Host
    env: dict[str, str]
    folder: Path
    redis_hosts: list[Host]
    redis_master: subprocess.Popen
    workers: list[tuple[Host, subprocess.Popen]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.webs[0].url

    @property
    def urls(self) -> str:
        return ",".join(web.url for web in self.webs)

    def worker(self, name: str) -> Host:
        """A new worker host running ``python worker.py``."""
        host = self.net.host(name)
        proc = host.spawn([sys.executable, "worker.py"], env=self.env, log=self.log(name), cwd=ROOT)
        self.workers.append((host, proc))
        return host

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def client_command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "tests.support.rehearsal_client", *args]

    def client_says(self, *args: str, timeout: float = 300) -> dict:
        """Run the client program on the client host; its JSON answer."""
        done = self.client.run(self.client_command(*args), env=self.env, cwd=ROOT, timeout=timeout)
        logs = {p.name: p.read_text()[-1500:] for p in self.folder.glob("*.log")}
        assert done.returncode == 0, (done.stderr[-3000:], logs)
        return json.loads(done.stdout.strip().splitlines()[-1])

    def redis(self, *args: str) -> list[str]:
        """A redis-cli command on the current master (as the data host's sentinel
        names it, or the data host's Redis), run on the data host; its output lines."""
        address = self.redis_hosts[0].address
        if len(self.redis_hosts) > 1:
            address = sentinel_state(self.data, self.env).get("ip", address)
        command = ["redis-cli", "-h", address, *args]
        return self.data.run(command, env=self.env, timeout=30).stdout.splitlines()

    def job(self, image_id: str, *fields: str) -> list[str]:
        """Fields of the image's job hash in Redis ("" for a missing one)."""
        lines = self.redis("HMGET", f"rq:job:{record.job_id_for(image_id)}", *fields)
        return lines if len(lines) == len(fields) else [""] * len(fields)

    def job_status(self, image_id: str) -> str:
        return self.job(image_id, "status")[0]

    def worker_host(self, worker_name: str) -> Host | None:
        """The worker host whose ``worker.py`` is the RQ worker ``worker_name`` (RQ
        logs its name as it starts and with each job)."""
        for host, _ in self.workers:
            if f"Worker {worker_name}" in self.log(host.name).read_text():
                return host
        return None


def create_bucket(data: Host, env: dict[str, str]) -> bool:
    """Whether the bucket could be created on the data host's S3 (run on the data host)."""
    script = (
        "import boto3; "
        f"boto3.client('s3', endpoint_url='http://{data.address}:9000')"
        f".create_bucket(Bucket='{BUCKET}')"
    )
    return data.run([sys.executable, "-c", script], env=env, timeout=60).returncode == 0


def stored_images(data: Host, env: dict[str, str]) -> int:
    """How many images the bucket holds (``images/<id>/`` folders), asked on the data host."""
    script = (
        "import boto3; "
        f"s3 = boto3.client('s3', endpoint_url='http://{data.address}:9000'); "
        "pages = s3.get_paginator('list_objects_v2').paginate("
        f"Bucket='{BUCKET}', Prefix='images/', Delimiter='/'); "
        "print(sum(len(p.get('CommonPrefixes', [])) for p in pages))"
    )
    done = data.run([sys.executable, "-c", script], env=env, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.strip())


def sentinel_state(host: Host, env: dict[str, str]) -> dict[str, str]:
    """``SENTINEL MASTER mymaster`` as the sentinel on ``host`` answers it."""
    command = ["redis-cli", "-h", host.address, "-p", "26379", "SENTINEL", "MASTER", "mymaster"]
    lines = host.run(command, env=env, timeout=30).stdout.split()
    return dict(zip(lines[::2], lines[1::2], strict=False))


def start_redis(host: Host, env: dict[str, str], folder: Path, *extra: str) -> subprocess.Popen:
    command = [
        "redis-server", "--bind", host.address, "--port", "6379", "--save", "",
        "--appendonly", "no", "--protected-mode", "no", "--dir", str(folder), *extra,
    ]  # fmt: skip
    return host.spawn(command, env=env, log=folder / f"redis-{host.name}.log")


def start_sentinels(redis_hosts: list[Host], data: Host, env: dict[str, str], folder: Path) -> None:
    """The replica on the second Redis host, a sentinel on each Redis host and the
    data host; back once the sentinels see the replica and each other."""
    start_redis(redis_hosts[1], env, folder, "--replicaof", redis_hosts[0].address, "6379")
    for host in [*redis_hosts, data]:
        conf = folder / f"sentinel-{host.name}.conf"
        master = redis_hosts[0].address
        conf.write_text(SENTINEL_CONF.format(address=host.address, folder=folder, master=master))
        command = ["redis-server", str(conf), "--sentinel"]
        host.spawn(command, env=env, log=folder / f"sentinel-{host.name}.log")

    def settled() -> bool:
        state = sentinel_state(data, env)
        return state.get("num-slaves") == "1" and state.get("num-other-sentinels") == "2"

    wait_until(settled, timeout=60, interval=0.5, message="the sentinels did not settle")


def environment(redis_url: str, data: Host) -> dict[str, str]:
    """The environment of every process of the run."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("IMGSVC_")}
    return {
        **base,
        **JAIL_ALLOW,
        "IMGSVC_REDIS_URL": redis_url,
        "IMGSVC_STORAGE_URL": f"s3://{BUCKET}",
        "IMGSVC_S3_ENDPOINT_URL": f"http://{data.address}:9000",
        "IMGSVC_SECRET_KEY": "rehearsal-secret",
        "IMGSVC_RATE_LIMIT_UPLOADS": "0",
        "IMGSVC_LOG_LEVEL": "INFO",
        # Retries go through RQ's scheduler, as with the defaults (2,10,30), whose
        # lock a cut worker host may hold (imgsvc/schedulerlock.py).
        "IMGSVC_JOB_RETRY_INTERVALS": "1",
        # A worker host that falls off the network is noticed within seconds: its
        # job's heartbeat lapses after monitor + grace = 3 s, and another worker's
        # maintenance (every second) retries it; RQ's defaults take minutes.
        "IMGSVC_WORKER_MAINTENANCE_INTERVAL": "1",
        "IMGSVC_WORKER_MONITOR_INTERVAL": "1",
        "IMGSVC_HEARTBEAT_GRACE": "2",
        "IMGSVC_RECONCILE_INTERVAL": "2",
        "IMGSVC_STORAGE_TIMEOUT": "3",
        # A key held by a request whose web process was killed is free again soon.
        "IMGSVC_IDEMPOTENCY_PENDING_TTL": "10",
    }


@contextmanager
def rehearsal_network(tmp_path: Path, *, sentinel: bool, webs: int = 1) -> Iterator[Rehearsal]:
    """Data (S3, and Redis unless ``sentinel``), ``webs`` web hosts and the client
    host up, no worker host yet (see the module docstring). Everything removed after."""
    reason = available()
    assert reason is None, f"the rehearsal cannot run here: {reason}"
    with VirtualNetwork() as net:
        data, client = net.host("data"), net.host("client")
        redis_hosts = [net.host("redis-a"), net.host("redis-b")] if sentinel else [data]
        if sentinel:
            hosts = ",".join(f"{h.address}:26379" for h in [*redis_hosts, data])
            redis_url = f"redis+sentinel://{hosts}/mymaster/0"
        else:
            redis_url = f"redis://{data.address}:6379/0"
        env = environment(redis_url, data)
        master = start_redis(redis_hosts[0], env, tmp_path)
        if sentinel:
            start_sentinels(redis_hosts, data, env, tmp_path)
        s3 = [sys.executable, "-m", "moto.server", "-H", data.address, "-p", "9000"]
        data.spawn(s3, env=env, log=tmp_path / "moto.log")
        wait_until(lambda: create_bucket(data, env), timeout=60, interval=0.5)
        web_hosts = [WebHost(net.host(f"web-{n}"), env, tmp_path) for n in "ab"[:webs]]
        for web in web_hosts:
            web.start()
        yield Rehearsal(net, data, web_hosts, client, env, tmp_path, redis_hosts, master)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert net.tag not in listed, "the run's namespaces were not removed"
