"""With EXTRA_FORMATS, the primary variants are served before the extras are made.

A real worker makes an image whose AVIF encodes are slow on purpose
(``IMGSVC_AVIF_SPEED=3``); while it works, the test sees the primaries served
over HTTP, the manifest saying the extras are pending, the bare URL answered
for a short while only (with ``Vary``), and the extras absent; then all of it
done.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imgsvc.images import record
from tests import factories
from tests.support import wait_until
from tests.support.client import upload, wait_final
from tests.support.processes import WorkerProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("storage_url", ["file"], indirect=True),
]


@pytest.fixture
def env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    extra = {"IMGSVC_EXTRA_FORMATS": "webp,avif", "IMGSVC_AVIF_SPEED": "3"}
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    return {**env, **extra}


def test_primaries_are_served_while_the_extras_are_made(app, client, tmp_path: Path):
    image_id = upload(client, factories.jpeg(1200, 900)).get_json()["id"]
    # INFO: WorkerProcess waits for the worker's "Listening on".
    worker = WorkerProcess(dict(os.environ, IMGSVC_LOG_LEVEL="INFO"), tmp_path / "worker.log")
    try:
        early = wait_until(
            lambda: (r := client.get(f"/images/{image_id}/xl")).status_code == 200 and r,
            timeout=60,
            interval=0.01,
            message="the primary never appeared",
        )
        manifest = record.read_manifest(app.extensions["imgsvc"].storage, image_id)
        versioned = manifest["variants"]["xl"]["url"]
        versioned_then = client.get(versioned, headers={"Accept": "image/avif,*/*"})
        avif_then = client.get(f"/images/{image_id}/xl.avif")
        status_then = client.get(f"/api/images/{image_id}").get_json()["status"]
        done = wait_final(client, image_id, timeout=110)
    finally:
        worker.stop()

    assert early.headers["Content-Type"] == "image/jpeg"
    assert early.headers["Vary"] == "Accept"
    assert "immutable" not in early.headers["Cache-Control"]
    assert manifest["status"] == "processing" and manifest["extras"] == "pending"
    assert set(manifest["variants"]) == {"thumb", "xs", "sm", "md", "lg", "xl"}
    assert all(entry["formats"] == {} for entry in manifest["variants"].values())
    assert (avif_then.status_code, status_then) == (404, "processing")
    # The versioned URL too: not cached as immutable while it can only answer the primary.
    assert versioned_then.headers["Content-Type"] == "image/jpeg"
    assert versioned_then.headers["Vary"] == "Accept"
    assert versioned_then.headers["Cache-Control"] == "public, max-age=10"

    assert done["status"] == "done"
    final = record.read_manifest(app.extensions["imgsvc"].storage, image_id)
    assert "extras" not in final
    assert set(final["variants"]["xl"]["formats"]) == {"webp", "avif"}
    answer = client.get(versioned, headers={"Accept": "image/avif,*/*"})
    assert answer.headers["Content-Type"] == "image/avif"
    assert "immutable" in answer.headers["Cache-Control"]
    alias = client.get(f"/images/{image_id}/xl", headers={"Accept": "image/avif,*/*"})
    assert alias.headers["Content-Type"] == "image/avif"
    assert (alias.headers["Cache-Control"], alias.headers["Vary"]) == ("no-cache", "Accept")
