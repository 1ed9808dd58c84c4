"""Per-client rate limits on uploads and word-count submissions (real Redis)."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from redis import Redis

from imgsvc import create_app, ratelimit
from tests import factories
from tests.support import free_port, wait_until
from tests.support.client import csrf_token

PAGE_SERVER = "https://example.org/"


@pytest.fixture
def storage_url(tmp_path: Path) -> str:
    """The limiter does not touch storage: one backend is enough here."""
    return "file://" + str(tmp_path / "media")


def make_app(**settings):
    return create_app({"TESTING": True, **settings})


def client_at(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def api_upload(client, **headers):
    return client.post(
        "/api/images",
        data={"file": (io.BytesIO(factories.jpeg(64, 48)), "a.jpg")},
        content_type="multipart/form-data",
        headers=headers,
    )


def form_upload(client):
    token = csrf_token(client.get("/").get_data(as_text=True))
    return client.post(
        "/",
        data={"csrf_token": token, "file": (io.BytesIO(factories.jpeg(64, 48)), "a.jpg")},
        content_type="multipart/form-data",
        headers={"Accept": "text/html"},
    )


def stored_images(app) -> int:
    keys = app.extensions["imgsvc"].storage.list_keys("images/")
    return len({key.split("/")[1] for key in keys})


def test_uploads_over_the_limit_get_429_with_retry_after_and_store_nothing(env):
    app = make_app(RATE_LIMIT_UPLOADS="3/60")
    client = client_at(app, "198.51.100.7")

    assert [api_upload(client).status_code for _ in range(3)] == [202, 202, 202]
    refused = api_upload(client)

    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert "3 per 60 s" in refused.get_json()["error"]["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert stored_images(app) == 3
    assert refused.headers["Content-Security-Policy"]  # security headers on refusals too


def test_clients_are_counted_separately(env):
    app = make_app(RATE_LIMIT_UPLOADS="1/60")
    first, second = client_at(app, "198.51.100.1"), client_at(app, "198.51.100.2")
    assert api_upload(first).status_code == 202
    assert api_upload(first).status_code == 429
    assert api_upload(second).status_code == 202


def test_form_and_api_share_the_upload_limit_and_browsers_get_a_page(env):
    app = make_app(RATE_LIMIT_UPLOADS="2/60")
    client = client_at(app, "198.51.100.9")
    assert api_upload(client).status_code == 202
    assert form_upload(client).status_code == 303

    refused = form_upload(client)

    assert refused.status_code == 429
    assert refused.mimetype == "text/html"
    assert "rate_limited" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) >= 1
    for _ in range(5):  # reading the form is never limited
        assert client.get("/").status_code == 200


def test_wordcount_submissions_are_limited_on_the_api_and_the_form(env):
    app = make_app(RATE_LIMIT_WORDCOUNTS="2/60")
    client = client_at(app, "203.0.113.5")
    assert client.post("/api/wordcounts", json={"url": PAGE_SERVER}).status_code == 202
    token = csrf_token(client.get("/add-task").get_data(as_text=True))
    form = {"csrf_token": token, "url": PAGE_SERVER}
    assert client.post("/add-task", data=form).status_code == 200

    api = client.post("/api/wordcounts", json={"url": PAGE_SERVER})
    page = client.post("/add-task", data=form, headers={"Accept": "text/html"})

    assert api.status_code == 429
    assert api.get_json()["error"]["code"] == "rate_limited"
    assert int(api.headers["Retry-After"]) >= 1
    assert page.status_code == 429
    assert "rate_limited" in page.get_data(as_text=True)
    assert len(app.extensions["imgsvc"].wordcount_queue) == 2
    # Uploads have their own budget.
    assert api_upload(client).status_code == 202


def test_the_window_resets_when_its_key_expires(env):
    app = make_app(RATE_LIMIT_UPLOADS="1/3600")
    client = client_at(app, "198.51.100.20")
    assert api_upload(client).status_code == 202
    assert api_upload(client).status_code == 429
    redis = Redis.from_url(env["IMGSVC_REDIS_URL"])
    key = f"{ratelimit.KEY_PREFIX}uploads:198.51.100.20"
    assert 3500 < redis.ttl(key) <= 3600
    assert int(redis.get(key)) == 2

    redis.pexpire(key, 1)
    wait_until(lambda: not redis.exists(key), timeout=5, message="the window did not expire")

    assert api_upload(client).status_code == 202
    assert int(redis.get(key)) == 1


def test_a_short_window_passes_on_its_own(env):
    app = make_app(RATE_LIMIT_WORDCOUNTS="1/1")
    client = client_at(app, "203.0.113.77")
    assert client.post("/api/wordcounts", json={"url": PAGE_SERVER}).status_code == 202

    def admitted() -> bool:
        response = client.post("/api/wordcounts", json={"url": PAGE_SERVER})
        assert response.status_code in (202, 429)
        return response.status_code == 202

    wait_until(admitted, timeout=5, interval=0.1, message="a 1 s window never reset")


@pytest.mark.parametrize("value", ["0", "", 0, None])
def test_a_zero_or_empty_limit_turns_it_off(env, value):
    app = make_app(RATE_LIMIT_WORDCOUNTS=value)
    client = client_at(app, "203.0.113.8")
    for _ in range(40):
        assert client.post("/api/wordcounts", json={"url": PAGE_SERVER}).status_code == 202
    assert not Redis.from_url(env["IMGSVC_REDIS_URL"]).keys(f"{ratelimit.KEY_PREFIX}*")


@pytest.mark.parametrize("value", ["60", "a/b", "0/60", "5/0", "-1/60", "1/2/3"])
def test_malformed_limits_fail_at_start(env, value):
    with pytest.raises(ValueError, match="rate limit"):
        make_app(RATE_LIMIT_UPLOADS=value)


def test_limits_come_from_the_environment(env, monkeypatch):
    monkeypatch.setenv("IMGSVC_RATE_LIMIT_UPLOADS", "1/30")
    client = client_at(create_app({"TESTING": True}), "198.51.100.30")
    assert api_upload(client).status_code == 202
    assert api_upload(client).status_code == 429


def test_ipv6_clients_are_counted_per_64(env):
    app = make_app(RATE_LIMIT_UPLOADS="1/60")
    assert api_upload(client_at(app, "2001:db8:1:2::10")).status_code == 202
    assert api_upload(client_at(app, "2001:db8:1:2:ffff::99")).status_code == 429
    assert api_upload(client_at(app, "2001:db8:1:3::10")).status_code == 202


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(env):
    direct = client_at(make_app(RATE_LIMIT_UPLOADS="1/60"), "198.51.100.40")
    assert api_upload(direct, **{"X-Forwarded-For": "192.0.2.1"}).status_code == 202
    # A client cannot buy a fresh budget by making up a header.
    assert api_upload(direct, **{"X-Forwarded-For": "192.0.2.2"}).status_code == 429


def test_trusted_proxy_forwards_the_real_client(env):
    proxy = client_at(make_app(RATE_LIMIT_UPLOADS="1/60", TRUSTED_PROXIES=1), "10.0.0.2")
    assert api_upload(proxy, **{"X-Forwarded-For": "192.0.2.1"}).status_code == 202
    assert api_upload(proxy, **{"X-Forwarded-For": "192.0.2.2"}).status_code == 202
    # With one trusted proxy only the last (proxy-added) entry counts, not the spoofable rest.
    again = api_upload(proxy, **{"X-Forwarded-For": "6.6.6.6, 192.0.2.1"})
    assert again.status_code == 429
    keys = Redis.from_url(env["IMGSVC_REDIS_URL"]).keys(f"{ratelimit.KEY_PREFIX}*")
    assert sorted(keys) == [
        b"imgsvc:ratelimit:uploads:192.0.2.1",
        b"imgsvc:ratelimit:uploads:192.0.2.2",
    ]


def test_redis_down_lets_the_request_through_to_its_own_503(env):
    app = make_app(RATE_LIMIT_UPLOADS="1/60", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    client = client_at(app, "198.51.100.50")
    for _ in range(2):
        response = api_upload(client)
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "queue_unavailable"
    assert stored_images(app) == 2  # stored, to be processed by reconcile


def test_concurrent_hits_are_all_counted(env):
    redis = Redis.from_url(env["IMGSVC_REDIS_URL"])
    limit = ratelimit.Limit(requests=100, window=60)
    with ThreadPoolExecutor(8) as pool:
        counts = list(
            pool.map(lambda _: ratelimit.hit(redis, "uploads", "x", limit)[0], range(200))
        )
    assert sorted(counts) == list(range(1, 201))
    assert sum(count <= limit.requests for count in counts) == 100
