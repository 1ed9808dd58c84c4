"""``imgsvc upload``, the command-line client, as a real process against a real
stack (gunicorn + ``worker.py`` on the test's Redis): a folder of 50 images, a
crash mid-run and reruns that store nothing twice, 429s, API keys."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from imgsvc import apikeys
from tests import factories
from tests.support import wait_until
from tests.support.processes import ROOT
from tests.support.stack import LiveStack

pytestmark = pytest.mark.slow


def make_folder(folder: Path, count: int) -> list[Path]:
    """``count`` small distinct JPEGs, some in a subfolder, plus a file that is no image."""
    paths = []
    for index in range(count):
        sub = folder / ("nested" if index % 3 == 0 else "")
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"photo-{index:02d}.jpg"
        path.write_bytes(factories.encode(factories.photo(40 + index, 30, seed=index), "JPEG"))
        paths.append(path)
    (folder / "notes.txt").write_text("not an image: left out by its suffix")
    return paths


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "imgsvc", "upload", *args]


def client_env(config: Path) -> dict[str, str]:
    """The client's environment: no service settings; its secret under ``config``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGSVC_")}
    return {**env, "XDG_CONFIG_HOME": str(config)}


def stored_images(stack: LiveStack) -> set[str]:
    folder = stack.folder / "media" / "images"
    return {path.name for path in folder.iterdir()} if folder.exists() else set()


@pytest.fixture
def stack(tmp_path: Path, redis_url: str, request: pytest.FixtureRequest) -> Iterator[LiveStack]:
    settings = {"IMGSVC_REDIS_URL": redis_url, **getattr(request, "param", {})}
    live = LiveStack(tmp_path / "stack", settings).start()
    yield live
    live.stop()


def test_a_folder_of_50_images_survives_a_crash_and_reruns_store_nothing_twice(
    stack: LiveStack, tmp_path: Path
):
    folder = tmp_path / "photos"
    paths = make_folder(folder, 50)
    command = cli(str(folder), "--url", stack.url, "--parallel", "2")

    # A run killed mid-way: some images stored, their answers maybe lost.
    crashed = subprocess.Popen(
        command,
        cwd=ROOT,
        env=client_env(tmp_path / "config"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def some_stored() -> bool:
            assert crashed.poll() is None, "the client ended before it was killed"
            return len(stored_images(stack)) >= 10

        wait_until(some_stored, timeout=60, message="no uploads")
    finally:
        crashed.send_signal(signal.SIGKILL)
        crashed.wait()
    assert len(stored_images(stack)) < 50

    out = tmp_path / "results.json"
    rerun = subprocess.run(
        [*command, "--json", str(out), "--timeout", "240"],
        cwd=ROOT,
        env=client_env(tmp_path / "config"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    results = json.loads(out.read_text())
    assert sorted(r["path"] for r in results) == sorted(str(p) for p in paths)
    assert {r["status"] for r in results} == {"done"}
    ids = {r["id"] for r in results}
    assert len(ids) == 50
    assert stored_images(stack) == ids  # the crashed run's uploads were not stored again
    first = results[0]
    assert set(first["variants"]) >= {"thumb", "xs"}
    thumb = requests.get(first["variants"]["thumb"], timeout=10)
    assert thumb.status_code == 200
    assert thumb.headers["Content-Type"] == "image/jpeg"
    assert first["id"] in rerun.stdout and first["variants"]["thumb"] in rerun.stdout
    assert "sent 50/50" in rerun.stderr  # not a terminal: plain progress lines

    again = subprocess.run(
        [*command, "--no-wait", "--json", str(out)],
        cwd=ROOT,
        env=client_env(tmp_path / "config"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert {r["id"] for r in json.loads(out.read_text())} == ids
    assert stored_images(stack) == ids


def http_statuses(stack: LiveStack) -> dict[str, float]:
    text = requests.get(f"{stack.url}/metrics", timeout=10).text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "imgsvc_http_requests_total" and sample.labels["method"] == "POST":
                status = sample.labels["status"]
                found[status] = found.get(status, 0) + sample.value
    return found


SECRET = apikeys.new_key()


@pytest.mark.parametrize(
    "stack",
    [{"IMGSVC_API_KEYS": apikeys.entry("ci", SECRET, "3/2"), "IMGSVC_RATE_LIMIT_UPLOADS": "0"}],
    indirect=True,
)
def test_the_client_waits_out_429s_and_uses_its_api_key(stack: LiveStack, tmp_path: Path):
    folder = tmp_path / "photos"
    make_folder(folder, 9)
    key_file = tmp_path / "key"
    key_file.write_text(SECRET + "\n")

    refused = subprocess.run(
        cli(str(folder), "--url", stack.url, "--no-wait", "--retries", "0"),
        cwd=ROOT,
        env=client_env(tmp_path / "config"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1
    assert "unauthorized" in refused.stdout
    assert stored_images(stack) == set()

    result = subprocess.run(
        cli(str(folder), "--url", stack.url, "--key-file", str(key_file), "--parallel", "3"),
        cwd=ROOT,
        env=client_env(tmp_path / "config"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "429 rate_limited; retrying" in result.stderr
    assert http_statuses(stack).get("429", 0) >= 1
    assert len(stored_images(stack)) == 9
    assert result.stdout.count("done ") == 9
