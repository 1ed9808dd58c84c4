"""Shared fixtures: a real redis-server, moto's S3 server over HTTP, the app.

Both servers are started once per session on free loopback ports; each test
gets a clean Redis database and its own storage (a temp folder, or a fresh key
prefix in the session's bucket). Tests that need the storage backend take
``storage_url``, which is parametrized over ``file`` and ``s3``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from tests.support.moto import MotoServer
from tests.support.pageserver import PageServer
from tests.support.receiver import Receiver
from tests.support.redis import RedisServer

# Loopback only, here and in every subprocess the tests start (workers, gunicorn):
# a connect to any other address fails before a packet leaves the machine.
_JAIL = str(Path(__file__).parent / "netjail")
sys.path.insert(0, _JAIL)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [_JAIL, os.environ.get("PYTHONPATH")]))
import tests_netjail  # noqa: E402

# boto3 must never find real credentials or talk to AWS from the test suite.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_EC2_METADATA_DISABLED="true",
)
for _name in [name for name in os.environ if name.startswith("IMGSVC_")]:
    del os.environ[_name]
# Workers started by tests run at normal CPU priority. Under the default SCHED_IDLE a
# worker gets no CPU while any other task of its scheduling group is busy: on a loaded
# CI machine a test waited 90 s for a job that never started. How a worker yields to
# the web is tests/system/test_priority.py's subject, which sets the policy itself.
os.environ["IMGSVC_WORKER_PRIORITY"] = "normal"

BUCKET = "imgsvc-test"


@pytest.fixture(autouse=True)
def loopback_only() -> Iterator[list[tuple[str, int]]]:
    """Every test: no connect left loopback (tests that expect a refusal clear the list)."""
    tests_netjail.attempts.clear()
    yield tests_netjail.attempts
    leaked = list(tests_netjail.attempts)
    tests_netjail.attempts.clear()
    assert not leaked, f"code under test tried to connect outside loopback: {leaked}"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server for the whole session; yields its URL."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: run the suite with `make test`")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start(timeout=10)
    yield server.url
    server.stop(timeout=10)


@pytest.fixture(scope="session")
def pages() -> Iterator[PageServer]:
    """The word counter's test pages on a local HTTP server (see tests/support/pageserver.py)."""
    server = PageServer()
    yield server
    server.close()


@pytest.fixture
def allowlisted(pages: PageServer, app, monkeypatch: pytest.MonkeyPatch) -> PageServer:
    """The page server, on the app's fetch allowlist (its loopback address is
    otherwise refused as private), in this process and in workers started now."""
    monkeypatch.setenv("IMGSVC_FETCH_ALLOWLIST", pages.allow_entry)
    app.config["FETCH_ALLOWLIST"] = pages.allow_entry
    return pages


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session's Redis, flushed for this test."""
    Redis.from_url(redis_server).flushdb()
    return redis_server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback (see tests/support/receiver.py)."""
    server = Receiver()
    yield server
    server.hold.set()
    server.stop()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto in server mode on loopback, with the test bucket; yields its URL."""
    server = MotoServer(BUCKET).start()
    yield server.endpoint
    server.stop()


@pytest.fixture(params=["file", "s3"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty storage location on each backend."""
    backend = getattr(request, "param", "file")
    if backend == "file":
        return "file://" + str(tmp_path / "media")
    request.getfixturevalue("s3_endpoint")
    return f"s3://{BUCKET}/t-{uuid.uuid4().hex}"


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    storage_url: str,
    request: pytest.FixtureRequest,
) -> dict[str, str]:
    """``IMGSVC_*`` settings for this test, also exported for worker subprocesses."""
    values = {
        "IMGSVC_REDIS_URL": redis_url,
        "IMGSVC_STORAGE_URL": storage_url,
        "IMGSVC_SECRET_KEY": "test-secret",
        "IMGSVC_JOB_RETRY_INTERVALS": "0",
        "IMGSVC_LOG_LEVEL": "WARNING",
    }
    if storage_url.startswith("s3://"):
        values["IMGSVC_S3_ENDPOINT_URL"] = request.getfixturevalue("s3_endpoint")
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def app(env: dict[str, str]):
    """The Flask app configured from ``env``."""
    from imgsvc import create_app

    app = create_app({"TESTING": True})
    yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def run_worker(env: dict[str, str]):
    """Run a real forking RQ worker (``imgsvc worker --burst``) until the queue is empty."""

    def run(timeout: float = 120) -> subprocess.CompletedProcess:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "imgsvc", "worker", "--burst"],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        assert time.monotonic() - started < timeout
        return result

    return run
