"""Redis Sentinel failover under uploads: real master, replica and three sentinels,
real gunicorn and worker processes, the master SIGKILLed mid-run."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from redis import Redis
from rq.job import Job

from imgsvc.images import record
from tests import factories
from tests.support import wait_until
from tests.support.sentinel import SentinelGroup
from tests.support.stack import LiveStack
from tests.support.wait import wait_all_final

pytestmark = pytest.mark.slow

# What the 503 window may exceed the failover by: a web process's next connect
# asks the sentinels again, after redis-py's retry backoff of the failed command.
SLACK = 5.0
# More than the kernel buffers of a loopback connection hold.
BALLAST = 48 * 1024 * 1024


@dataclass
class Answer:
    sent: float
    received: float
    status: int
    body: dict


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    started = SentinelGroup(tmp_path / "sentinel", down_after_ms=1500).start()
    yield started
    started.stop()


@pytest.fixture
def stack(group: SentinelGroup, tmp_path: Path) -> Iterator[LiveStack]:
    settings = {
        "IMGSVC_REDIS_URL": group.url,
        "IMGSVC_RATE_LIMIT_UPLOADS": "0",
        "IMGSVC_WORKER_MAINTENANCE_INTERVAL": "1",
        "IMGSVC_WORKER_MONITOR_INTERVAL": "1",
        "IMGSVC_HEARTBEAT_GRACE": "2",
        "IMGSVC_RECONCILE_INTERVAL": "2",
    }
    live = LiveStack(tmp_path / "stack", settings).start()
    yield live
    live.stop()


def post(stack: LiveStack, seed: int) -> Answer:
    data = factories.jpeg(320, 240, seed=seed)
    sent = time.monotonic()
    response = requests.post(
        f"{stack.url}/api/images", files={"file": ("a.jpg", data, "image/jpeg")}, timeout=60
    )
    return Answer(sent, time.monotonic(), response.status_code, response.json())


def test_master_killed_during_uploads_every_accepted_image_ends_done(
    group: SentinelGroup, stack: LiveStack
) -> None:
    worker = stack.worker
    before = [post(stack, seed) for seed in range(3)]
    assert [a.status for a in before] == [202, 202, 202]
    for answer in before:  # the worker is past its start: a steady state is what fails over
        assert stack.wait_final(answer.body["id"])["status"] == "done"

    # Enqueues the replica never sees. The replica and the worker are frozen
    # (shorter than the sentinels' down-after, so the replica stays eligible);
    # a ballast write fills the replication link, so the three enqueues that
    # follow wait in the master's memory, and the master dies with them. The
    # frozen worker cannot take them off the master either: only storage still
    # knows these images.
    frozen = [group.replica.proc, worker]
    for proc in frozen:
        assert proc is not None
        proc.send_signal(signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        Redis(port=group.master.port).set("ballast", b"x" * BALLAST)
        unreplicated = [post(stack, seed) for seed in range(10, 13)]
        group.master.kill()
    finally:
        for proc in frozen:
            proc.send_signal(signal.SIGCONT)
    killed_at = time.monotonic()
    assert killed_at - frozen_at < 1.4, "the replica was frozen past down-after"
    assert [a.status for a in unreplicated] == [202, 202, 202]
    replica = Redis(port=group.replica.port)
    wait_until(lambda: replica.info("replication")["master_link_status"] == "down", timeout=10)
    lost = [Job.key_for(record.job_id_for(a.body["id"])) for a in unreplicated]
    assert replica.exists("ballast", *lost) == 0  # what the new master will not have

    elected: list[float] = []

    def watch() -> None:
        wait_until(lambda: group.master_port() == group.replica.port, timeout=60, interval=0.05)
        elected.append(time.monotonic())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    during: list[Answer] = []
    seed = 100
    deadline = killed_at + 90
    # Upload without pause through the failover, until five in a row are accepted after it.
    while time.monotonic() < deadline:
        during.append(post(stack, seed))
        seed += 1
        after = [a for a in during if elected and a.sent > elected[0]]
        if len(after) >= 5 and all(a.status == 202 for a in after[-5:]):
            break
    watcher.join(timeout=1)
    assert elected, "no new master was elected"
    failover = elected[0] - killed_at

    refused = [a for a in during if a.status != 202]
    for answer in refused:
        assert answer.status == 503, answer.body
        assert answer.body["error"]["code"] == "queue_unavailable"
        assert answer.body["id"]  # stored: reconcile will enqueue it
    last_refusal = max((a.received for a in refused), default=killed_at)
    assert last_refusal - killed_at <= failover + SLACK, (
        f"503s for {last_refusal - killed_at:.1f}s, failover took {failover:.1f}s"
    )

    accepted = [a.body["id"] for a in before + unreplicated + during]
    final, server_errors = wait_all_final(stack.url, accepted, timeout=120)
    assert {image_id: body["status"] for image_id, body in final.items()} == dict.fromkeys(
        accepted, "done"
    )
    assert server_errors == 0
    assert worker.poll() is None, "the worker did not ride out the failover"
    requeued = _requeued_by_reconcile(stack.worker_log)
    assert {a.body["id"] for a in unreplicated} <= requeued  # their enqueue died with the master
    print(
        f"failover {failover:.1f}s; {len(refused)} of {len(during)} uploads during it got 503, "
        f"the last {last_refusal - killed_at:.1f}s after the kill; "
        f"{len(accepted)} images done, {len(requeued)} re-enqueued from storage"
    )


def _requeued_by_reconcile(log: Path) -> set[str]:
    """The image ids the workers' periodic reconcile re-enqueued, from its log lines."""
    found: set[str] = set()
    for line in log.read_text(errors="replace").splitlines():
        try:
            message = json.loads(line).get("msg", "")
        except ValueError:
            continue
        if message.startswith("reconcile re-enqueued"):
            found.update(item.strip() for item in message.split(":", 1)[1].split(","))
    return found
