"""The operators' page behind its password, and the /metrics gate."""

from __future__ import annotations

import base64

import pytest

from tests import factories
from tests.support.client import csrf_token, upload

pytestmark = pytest.mark.parametrize("storage_url", ["file"], indirect=True)


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_ops_does_not_exist_without_a_password(client):
    assert client.get("/ops", headers=basic("ops", "")).status_code == 404
    assert client.get("/ops.json").status_code == 404


def test_ops_asks_for_the_password(app, client):
    app.config["OPS_PASSWORD"] = "s3cret-ops"

    missing = client.get("/ops", headers={"Accept": "text/html"})
    wrong = client.get("/ops", headers=basic("ops", "guess"))
    wrong_user = client.get("/ops", headers=basic("admin", "s3cret-ops"))

    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith('Basic realm="imgsvc operators"')
    assert "Sign in needed" in missing.get_data(as_text=True)
    assert wrong.status_code == 401 and wrong_user.status_code == 401
    assert client.get("/ops.json", headers=basic("ops", "guess")).get_json()["error"]["code"] == (
        "unauthorized"
    )


def test_numeric_password_from_the_environment_works(app, client):
    app.config["OPS_PASSWORD"] = 123456  # IMGSVC_OPS_PASSWORD=123456 is parsed as JSON
    assert client.get("/ops", headers=basic("ops", "123456")).status_code == 200


def test_ops_shows_queues_workers_and_failures(app, client, run_worker):
    app.config["OPS_PASSWORD"] = "s3cret-ops"
    good = upload(client, factories.jpeg(300, 200)).get_json()
    data = factories.jpeg(300, 200)
    bad = upload(client, data[: len(data) // 3]).get_json()
    upload(client, factories.jpeg(300, 200, seed=9))
    run_worker()
    upload(client, factories.jpeg(300, 200, seed=10))  # left in the queue

    page = client.get("/ops", headers=basic("ops", "s3cret-ops"))
    state = client.get("/ops.json", headers=basic("ops", "s3cret-ops")).get_json()

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<tr data-queue="default">' in html
    assert '<td data-state="queued">1</td>' in html and '<td data-state="failed">1</td>' in html
    assert bad["job_id"] in html and 'data-code="invalid_image"' in html
    assert "No worker is running" in html  # the burst worker has exited
    assert state["queues"]["default"]["finished"] == 2
    assert state["queues"]["default-wordcounts"]["queued"] == 0
    assert [job["id"] for job in state["failures"]] == [bad["job_id"]]
    assert good["job_id"] not in [job["id"] for job in state["failures"]]


def test_metrics_are_open_unless_metrics_auth(app, client):
    assert client.get("/metrics").status_code == 200
    app.config.update(METRICS_AUTH=True, OPS_PASSWORD="s3cret-ops")
    assert client.get("/metrics").status_code == 401
    allowed = client.get("/metrics", headers=basic("ops", "s3cret-ops"))
    assert allowed.status_code == 200
    assert "imgsvc_queue_depth" in allowed.get_data(as_text=True)


def test_wrong_guesses_are_rate_limited_per_client(env):
    from imgsvc import create_app

    app = create_app({"TESTING": True, "OPS_PASSWORD": "s3cret-ops", "RATE_LIMIT_OPS_AUTH": "3/60"})
    guesser, other = app.test_client(), app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.7"

    assert client_statuses(guesser, "/ops", [basic("ops", "no")] * 3) == [401, 401, 401]
    refused = guesser.get("/ops.json", headers=basic("ops", "s3cret-ops"))  # even the right one

    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert guesser.get("/metrics").status_code == 200  # open /metrics is not a sign-in
    assert other.get("/ops", headers=basic("ops", "s3cret-ops")).status_code == 200


def test_metrics_sign_in_is_rate_limited_too(env):
    from imgsvc import create_app

    app = create_app(
        {
            "TESTING": True,
            "OPS_PASSWORD": "s3cret-ops",
            "METRICS_AUTH": True,
            "RATE_LIMIT_OPS_AUTH": "2/60",
        }
    )
    client = app.test_client()
    bare = client.get("/metrics")  # a first visit without credentials is not a guess

    statuses = client_statuses(client, "/metrics", [basic("ops", "a"), basic("ops", "b"), {}])

    assert bare.status_code == 401
    assert statuses == [401, 401, 429]


def client_statuses(client, path: str, attempts: list[dict[str, str]]) -> list[int]:
    return [client.get(path, headers=headers).status_code for headers in attempts]


def test_ops_retries_failed_images_by_code_behind_its_auth_and_csrf(app, client, run_worker):
    app.config["OPS_PASSWORD"] = "s3cret-ops"
    auth = basic("ops", "s3cret-ops")
    data = factories.jpeg(300, 200)
    bad = upload(client, data[: len(data) // 3]).get_json()["id"]
    run_worker()

    html = client.get("/ops", headers=auth).get_data(as_text=True)
    assert '<tr data-code="invalid_image">' in html
    assert client.get("/ops.json", headers=auth).get_json()["failed_images"] == {"invalid_image": 1}
    token = csrf_token(html)
    no_auth = client.post("/ops/retry-failed", data={"code": "invalid_image", "csrf_token": token})
    assert no_auth.status_code == 401
    no_token = client.post("/ops/retry-failed", headers=auth, data={"code": "invalid_image"})
    assert no_token.status_code == 403
    assert client.get(f"/api/images/{bad}").get_json()["status"] == "failed"

    done = client.post(
        "/ops/retry-failed",
        headers=auth,
        data={"code": "invalid_image", "csrf_token": token},
    )

    assert done.status_code == 200
    assert "Retried 1 image(s)" in done.get_data(as_text=True)
    assert client.get(f"/api/images/{bad}").get_json()["status"] == "queued"
    assert app.extensions["imgsvc"].queue.count == 1
    run_worker()  # the same bytes fail the same way: back in the index
    assert client.get("/ops.json", headers=auth).get_json()["failed_images"] == {"invalid_image": 1}
