"""docker-compose.yml and the Dockerfile say what the README promises.

Docker itself is not needed: the files are parsed and checked as data.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def as_args(command: str | list[str]) -> list[str]:
    """A compose ``command`` (string or list) as an argument list."""
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's ``environment`` (mapping or ``KEY=VALUE`` list) as a dict, each
    ``${VAR:-default}`` read as compose does when ``VAR`` is unset."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: unset_default("" if value is None else str(value)) for key, value in env.items()}


def unset_default(value: str) -> str:
    """``value`` with each ``${VAR:-default}`` replaced by its default."""
    return re.sub(r"\$\{[A-Z_][A-Z0-9_]*:-([^}]*)\}", r"\1", value)


def option(args: list[str], name: str) -> str | None:
    """The value of ``--name value`` in a redis-server argument list."""
    flag = f"--{name}"
    return args[args.index(flag) + 1] if flag in args[:-1] else None


def test_names_the_services(compose):
    assert {"redis", "minio", "front", "web", "worker"} <= set(services(compose))


def test_only_the_front_faces_the_network(compose):
    """Slow clients meet nginx, never gunicorn's sync processes."""
    front, web = services(compose)["front"], services(compose)["web"]
    assert as_args(front["command"]) == [
        "imgsvc",
        "front",
        "--listen",
        "0.0.0.0:8000",
        "--upstream",
        "web:8000",
    ]
    assert any(str(port).endswith(":8000") for port in front["ports"])
    assert "ports" not in web
    assert front["depends_on"]["web"]["condition"] == "service_healthy"
    assert environment(front) == environment(web)  # the same limits on both sides
    assert environment(web)["IMGSVC_TRUSTED_PROXIES"] == "1"


def test_web_reads_the_fronts_refusals_for_metrics(compose):
    front_dir = environment(services(compose)["web"])["IMGSVC_FRONT_DIR"]
    for name in ("front", "web"):
        mounts = [str(volume) for volume in services(compose)[name]["volumes"]]
        assert f"front:{front_dir}" in mounts


def test_redis_is_durable_and_never_evicts(compose):
    args = as_args(services(compose)["redis"]["command"])
    assert option(args, "appendonly") == "yes"
    assert option(args, "appendfsync") == "everysec"
    assert option(args, "maxmemory-policy") == "noeviction"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_web_and_worker_get_redis_and_storage(compose, name):
    env = environment(services(compose)[name])
    assert env.get("IMGSVC_REDIS_URL", "").startswith("redis://redis:")
    assert env.get("IMGSVC_STORAGE_URL", "").startswith("s3://")
    assert env.get("IMGSVC_S3_ENDPOINT_URL") == "http://minio:9000"


def test_the_sentinel_profile_watches_redis_with_a_replica_and_three_sentinels(compose):
    """Optional (``--profile sentinel``): a replica of ``redis`` and three sentinels
    that must agree (quorum 2) before promoting it; the app takes the Sentinel URL."""
    found = services(compose)
    sentinels = [name for name in found if name.startswith("sentinel-")]
    assert len(sentinels) == 3
    replica = found["redis-replica"]
    assert option(as_args(replica["command"]), "replicaof") == "redis"
    assert option(as_args(replica["command"]), "maxmemory-policy") == "noeviction"
    for name in [*sentinels, "redis-replica"]:
        assert found[name]["profiles"] == ["sentinel"]
    for name in sentinels:
        script = " ".join(as_args(found[name]["command"]))
        assert "sentinel monitor mymaster redis 6379 2" in script
        assert "--sentinel" in script
    assert "profiles" not in found["redis"]  # the default stack is unchanged
    url = services(compose)["web"]["environment"]["IMGSVC_REDIS_URL"]
    assert url.startswith("${IMGSVC_REDIS_URL:-")  # the Sentinel URL is given at `up`
    header = (ROOT / "docker-compose.yml").read_text().split("\nname:")[0]
    assert "redis+sentinel://" + ",".join(f"sentinel-{i}:26379" for i in (1, 2, 3)) in header


def test_web_and_worker_see_the_same_settings(compose):
    web, worker = (environment(services(compose)[name]) for name in APP_SERVICES)
    assert web == worker


def test_web_has_a_healthcheck_on_healthz(compose):
    healthcheck = services(compose)["web"]["healthcheck"]
    test = healthcheck["test"]
    assert "/healthz" in (test if isinstance(test, str) else " ".join(test))


def test_worker_runs_the_imgsvc_worker(compose):
    assert as_args(services(compose)["worker"]["command"]) == ["python", "-m", "imgsvc", "worker"]


def test_the_worker_yields_the_cpu_to_the_web(compose):
    """SCHED_IDLE counts only within a cgroup: each container is one, so the
    worker's must weigh less than the web's (docker's default is 1024)."""
    web, worker = services(compose)["web"], services(compose)["worker"]
    assert int(worker["cpu_shares"]) < int(web.get("cpu_shares", 1024)) // 100


def test_app_services_wait_for_their_dependencies(compose):
    for name in APP_SERVICES:
        depends_on = services(compose)[name]["depends_on"]
        assert depends_on["redis"]["condition"] == "service_healthy"
        assert depends_on["minio"]["condition"] == "service_healthy"
        assert depends_on["createbucket"]["condition"] == "service_completed_successfully"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuations joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def test_dockerfile_final_user_is_not_root():
    users = [rest for keyword, rest in dockerfile_instructions() if keyword == "USER"]
    assert users, "the Dockerfile never sets USER, so the image runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_dockerfile_serves_the_wsgi_app_with_gunicorn():
    cmds = [rest for keyword, rest in dockerfile_instructions() if keyword == "CMD"]
    assert cmds
    cmd = yaml.safe_load(cmds[-1])  # exec form is a JSON array
    assert cmd[0] == "gunicorn"
    assert "imgsvc.wsgi:app" in cmd
    assert "0.0.0.0:8000" in cmd
