"""API keys (``IMGSVC_API_KEYS``): on and off, per-key limits and quota, the form,
``/metrics``, ``imgsvc keys create`` (through the app and a real Redis)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from imgsvc import apikeys, create_app
from imgsvc.cli import main
from tests import factories
from tests.support.client import csrf_token, upload
from tests.support.client import stored_image_ids as stored_images

PHOTO = factories.jpeg(64, 48)


@pytest.fixture
def storage_url(tmp_path: Path) -> str:
    """Keys are checked before storage is touched: one backend is enough."""
    return "file://" + str(tmp_path / "media")


def post_image(client, data: bytes = PHOTO, key: str | None = None):
    return upload(client, data, "a.jpg", {"Authorization": f"Bearer {key}"} if key else {})


def keyed_app(*entries: str, **settings):
    return create_app({"TESTING": True, "API_KEYS": ",".join(entries), **settings})


def test_without_the_setting_the_api_is_open_as_before(client):
    assert post_image(client).status_code == 202
    assert post_image(client, key="isk_anything").status_code == 202


def test_with_keys_api_writes_need_a_valid_bearer_key_and_reads_stay_open(env):
    secret = apikeys.new_key()
    app = keyed_app(apikeys.entry("ci", secret))
    client = app.test_client()

    for answer in (post_image(client), post_image(client, key=apikeys.new_key())):
        assert answer.status_code == 401
        assert answer.get_json()["error"]["code"] == "unauthorized"
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    wordcount = client.post("/api/wordcounts", json={"url": "https://example.org/"})
    assert wordcount.status_code == 401
    assert stored_images(app) == set()

    accepted = post_image(client, key=secret)
    assert accepted.status_code == 202
    image = accepted.get_json()
    assert client.get(f"/api/images/{image['id']}").status_code == 200  # reads: no key
    token = {"X-Delete-Token": image["delete_token"]}
    assert client.delete(f"/api/images/{image['id']}", headers=token).status_code == 401
    deleted = client.delete(
        f"/api/images/{image['id']}", headers={**token, "Authorization": f"Bearer {secret}"}
    )
    assert deleted.status_code == 204


def test_each_key_has_its_own_rate_limit_whatever_the_address(env):
    fast, slow = apikeys.new_key(), apikeys.new_key()
    app = keyed_app(apikeys.entry("fast", fast), apikeys.entry("slow", slow, "2/60"))
    client = app.test_client()

    assert [post_image(client, key=slow).status_code for _ in range(3)] == [202, 202, 429]
    refused = post_image(client, key=slow)
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert [post_image(client, key=fast).status_code for _ in range(3)] == [202] * 3


def test_a_daily_quota_refuses_with_its_own_code_until_midnight(env):
    secret = apikeys.new_key()
    app = keyed_app(apikeys.entry("tiny", secret, "", 2))
    client = app.test_client()

    assert post_image(client, b"not an image", key=secret).status_code == 400  # refunded
    assert [post_image(client, key=secret).status_code for _ in range(2)] == [202, 202]
    refused = post_image(client, key=secret)

    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "quota_exceeded"
    assert 0 < int(refused.headers["Retry-After"]) <= 86_400
    assert len(stored_images(app)) == 2


def test_the_default_daily_quota_applies_to_keys_without_their_own(env):
    secret = apikeys.new_key()
    app = keyed_app(apikeys.entry("plain", secret), API_KEY_DAILY_UPLOADS=1)
    client = app.test_client()
    assert [post_image(client, key=secret).status_code for _ in range(2)] == [202, 429]


def _key_uploads(client, name: str) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "imgsvc_key_uploads_total" and sample.labels == {"key": name}:
                return sample.value
    return 0.0


def test_metrics_count_accepted_uploads_per_key_name(env):
    secret = apikeys.new_key()
    app = keyed_app(apikeys.entry("metered", secret))
    client = app.test_client()
    before = _key_uploads(client, "metered")

    post_image(client, key=secret)
    post_image(client, b"not an image", key=secret)
    client.post(
        "/api/images",
        data={"file": (io.BytesIO(PHOTO), "a.jpg")},
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "m"},
    )
    client.post(  # a replay is not a second upload
        "/api/images",
        data={"file": (io.BytesIO(PHOTO), "a.jpg")},
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "m"},
    )

    assert _key_uploads(client, "metered") == before + 2


def form_upload(client):
    token = csrf_token(client.get("/").get_data(as_text=True))
    return client.post(
        "/",
        data={"csrf_token": token, "file": (io.BytesIO(PHOTO), "a.jpg")},
        content_type="multipart/form-data",
        headers={"Accept": "text/html"},
    )


def test_the_form_keeps_working_with_keys_on_unless_turned_off(env):
    app = keyed_app(apikeys.entry("ci", apikeys.new_key()))
    app.config["WTF_CSRF_ENABLED"] = True
    assert form_upload(app.test_client()).status_code == 303

    app.config["FORM_UPLOADS"] = False
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    assert 'id="form-uploads-off"' in page
    assert 'id="upload-form"' not in page
    token = csrf_token(client.get("/add-task").get_data(as_text=True))  # the session's token
    refused = client.post(
        "/",
        data={"csrf_token": token, "file": (io.BytesIO(PHOTO), "a.jpg")},
        content_type="multipart/form-data",
        headers={"Accept": "text/html"},
    )
    assert refused.status_code == 403
    assert "Uploads through the form are turned off" in refused.get_data(as_text=True)
    assert len(stored_images(app)) == 1


def test_keys_can_come_from_a_file(env, tmp_path):
    secret = apikeys.new_key()
    path = tmp_path / "keys"
    path.write_text(f"# the CI's key\n{apikeys.entry('ci', secret, '10/60', 5)}\n")
    app = create_app({"TESTING": True, "API_KEYS": str(path)})
    assert post_image(app.test_client(), key=secret).status_code == 202


@pytest.mark.parametrize(
    "setting",
    [
        "ci",
        "CI:" + "0" * 64,
        "ci:abc",
        "ci:" + "0" * 64 + ":fast",
        "ci:" + "0" * 64 + "::many",
        f"ci:{'0' * 64},ci:{'1' * 64}",
        "/no/such/file",
    ],
)
def test_a_malformed_setting_stops_the_app_at_start(env, setting):
    with pytest.raises(ValueError, match="API_KEYS|rate limit"):
        create_app({"TESTING": True, "API_KEYS": setting})


def test_keys_create_prints_a_key_once_and_the_entry_that_accepts_it(env):
    result = CliRunner().invoke(main, ["keys", "create", "ci", "--rate", "5/60", "--daily", "9"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    secret = lines[0].rsplit(" ", 1)[1]
    entry = lines[1].rsplit(" ", 1)[1]
    assert secret.startswith("isk_")
    assert secret not in entry
    (key,) = apikeys.parse_keys(entry)
    assert (key.name, key.rate and key.rate.requests, key.daily_uploads) == ("ci", 5, 9)
    app = create_app({"TESTING": True, "API_KEYS": entry})
    assert post_image(app.test_client(), key=secret).status_code == 202
