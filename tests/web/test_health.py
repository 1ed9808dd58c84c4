"""/healthz names what is down, and nothing of how (no exception text)."""

from __future__ import annotations

from imgsvc.extensions import Services
from tests.support import free_port


def test_healthy(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"redis": "ok", "storage": "ok"}


def test_redis_down_is_503_naming_redis(app, client):
    port = free_port()
    app.extensions["imgsvc"] = Services(dict(app.config, REDIS_URL=f"redis://127.0.0.1:{port}/0"))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"redis": "down", "storage": "ok"}
    assert str(port) not in response.get_data(as_text=True)


def test_storage_down_is_503_naming_storage(app, client, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    if app.config["STORAGE_URL"].startswith("s3://"):
        broken = dict(
            app.config, S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}", STORAGE_TIMEOUT=1
        )
    else:
        broken = dict(app.config, STORAGE_URL=f"file://{blocker}/media")
    app.extensions["imgsvc"] = Services(broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"redis": "ok", "storage": "down"}
    assert str(blocker) not in response.get_data(as_text=True)
