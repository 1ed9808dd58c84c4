"""Redis connections from either URL form; Sentinel against real sentinels on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from imgsvc import create_app
from imgsvc.redisconn import (
    SentinelAddress,
    check_redis_url,
    connect_redis,
    is_sentinel_url,
    parse_sentinel_url,
)
from tests.support.sentinel import SentinelGroup

FILE_ONLY = pytest.mark.parametrize("storage_url", ["file"], indirect=True)


@pytest.fixture(scope="module")
def sentinels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    group = SentinelGroup(tmp_path_factory.mktemp("sentinel")).start()
    yield group
    group.stop()


def test_a_sentinel_url_names_sentinels_master_db_and_passwords() -> None:
    url = (
        "redis+sentinel://app:p%40ss@10.0.0.1:26380,[::1]:26381,sentinel-c/mymaster/3"
        "?sentinel_password=s3cret&sentinel_username=watcher"
    )
    assert parse_sentinel_url(url) == SentinelAddress(
        sentinels=(("10.0.0.1", 26380), ("::1", 26381), ("sentinel-c", 26379)),
        service="mymaster",
        db=3,
        username="app",
        password="p@ss",
        sentinel_username="watcher",
        sentinel_password="s3cret",
    )


def test_a_sentinel_url_without_user_db_or_options() -> None:
    address = parse_sentinel_url("rediss+sentinel://:pw@h1:1,h2:2/cache")
    assert address.sentinels == (("h1", 1), ("h2", 2))
    assert (address.service, address.db, address.username, address.password) == (
        "cache",
        0,
        None,
        "pw",
    )
    assert address.ssl and address.sentinel_password is None


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("redis+sentinel:///mymaster", "at least one sentinel"),
        ("redis+sentinel://h1:26379", "path"),
        ("redis+sentinel://h1:26379/m/0/extra", "path"),
        ("redis+sentinel://h1:port/mymaster", "not a number"),
        ("redis+sentinel://h1/mymaster/zero", "database"),
        ("redis+sentinel://h1/mymaster?sentinel_pasword=x", "sentinel_pasword"),
        ("redis+sentinel://:26379/mymaster", "without a host"),
    ],
)
def test_malformed_sentinel_urls_are_refused_by_name(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        check_redis_url(url)


def test_plain_urls_stay_plain_and_other_schemes_are_refused() -> None:
    assert not is_sentinel_url("redis://127.0.0.1:6379/0")
    assert is_sentinel_url("REDIS+SENTINEL://h/m")
    check_redis_url("unix:///run/redis.sock?db=2")
    with pytest.raises(ValueError):
        check_redis_url("http://127.0.0.1:6379/0")


@FILE_ONLY
def test_the_app_refuses_a_malformed_redis_url_at_start(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="path"):
        create_app({"TESTING": True, "REDIS_URL": "redis+sentinel://127.0.0.1:1"})


@FILE_ONLY
def test_the_cli_refuses_a_malformed_redis_url_before_doing_anything(env: dict[str, str]) -> None:
    environment = {**env, "IMGSVC_REDIS_URL": "redis+sentinel://127.0.0.1:1/m/x"}
    for command in (["reconcile"], ["worker", "--burst"]):
        result = subprocess.run(
            [sys.executable, "-m", "imgsvc", *command],
            env={**os.environ, **environment},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        assert "database of a Sentinel URL" in result.stderr, result.stderr[-2000:]
        assert "Traceback" not in result.stderr


def test_a_sentinel_client_writes_to_the_master_and_the_replica_follows(
    sentinels: SentinelGroup,
) -> None:
    client = connect_redis(sentinels.url)
    client.set("written-through-sentinel", b"yes")
    assert Redis(port=sentinels.master.port).get("written-through-sentinel") == b"yes"
    replica = Redis(port=sentinels.replica.port)
    assert client.execute_command("WAIT", 1, 5000) == 1  # the replica has it
    assert replica.get("written-through-sentinel") == b"yes"


@FILE_ONLY
def test_healthz_and_reconcile_reach_redis_through_sentinel(
    sentinels: SentinelGroup, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("IMGSVC_REDIS_URL", sentinels.url)
    app = create_app({"TESTING": True})
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["redis"] == "ok"
    result = subprocess.run(
        [sys.executable, "-m", "imgsvc", "reconcile"],
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("scanned 0")


@FILE_ONLY
def test_a_sentinel_url_with_no_sentinel_answering_is_redis_down(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.ports import free_port

    monkeypatch.setenv("IMGSVC_REDIS_URL", f"redis+sentinel://127.0.0.1:{free_port()}/mymaster/0")
    response = create_app({"TESTING": True}).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["redis"] == "down"
