"""The bucket's CORS rule for the upload form (imgsvc/storage/cors.py, ``imgsvc s3-cors``),
against moto's S3 server over HTTP: what a browser's preflight is then answered."""

from __future__ import annotations

import uuid

import boto3
import pytest
import requests
from click.testing import CliRunner

from imgsvc.cli import main
from imgsvc.errors import StorageUnavailable
from imgsvc.storage import S3Storage
from imgsvc.storage.cors import RULE_ID, apply_upload_cors, bucket_rules, check_origins
from tests.support.ports import free_port

PAGE = "http://127.0.0.1:5000"
CDN_RULE = {"ID": "cdn-reads", "AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}


@pytest.fixture
def bucket(s3_endpoint: str) -> S3Storage:
    """A bucket of its own: CORS is per bucket, and other tests share theirs."""
    name = f"cors-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return S3Storage(name, endpoint_url=s3_endpoint)


def preflight(storage: S3Storage, origin: str) -> requests.Response:
    """What Chromium sends before the form's POST (it watches the upload's progress)."""
    return requests.options(
        f"{storage.endpoint_url}/{storage.bucket}",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )


def test_the_rule_lets_the_pages_origin_post_and_refuses_another(bucket: S3Storage):
    apply_upload_cors(bucket, [PAGE])

    allowed = preflight(bucket, PAGE)
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == PAGE
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert preflight(bucket, "http://evil.example").status_code == 403


def test_other_rules_stay_and_applying_twice_changes_nothing(bucket: S3Storage):
    bucket.client.put_bucket_cors(Bucket=bucket.bucket, CORSConfiguration={"CORSRules": [CDN_RULE]})
    apply_upload_cors(bucket, [PAGE])
    first = bucket_rules(bucket)
    apply_upload_cors(bucket, [PAGE])

    assert bucket_rules(bucket) == first
    assert [rule.get("ID") for rule in first] == ["cdn-reads", RULE_ID]
    assert first[1]["AllowedOrigins"] == [PAGE] and first[1]["AllowedMethods"] == ["POST"]


def test_without_origins_the_rule_is_removed(bucket: S3Storage):
    apply_upload_cors(bucket, [PAGE, "https://imgsvc.example"])
    assert apply_upload_cors(bucket, []) == []
    assert bucket_rules(bucket) == []  # (moto's server then allows every origin: its own CORS)


def test_a_malformed_origin_is_refused_before_any_request(bucket: S3Storage):
    for bad in ("127.0.0.1:5000", "http://host/path", "ftp://host", "https://"):
        with pytest.raises(ValueError, match="S3_CORS_ORIGINS"):
            check_origins([bad])
    assert check_origins(["HTTPS://Imgsvc.Example/"]) == ["https://imgsvc.example"]


def test_an_unreachable_endpoint_is_storage_unavailable():
    storage = S3Storage("imgsvc-test", endpoint_url=f"http://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(StorageUnavailable):
        apply_upload_cors(storage, [PAGE])


def test_the_command_applies_the_setting(
    bucket: S3Storage, monkeypatch: pytest.MonkeyPatch, redis_url: str
):
    monkeypatch.setenv("IMGSVC_REDIS_URL", redis_url)
    monkeypatch.setenv("IMGSVC_STORAGE_URL", f"s3://{bucket.bucket}/prefix")
    monkeypatch.setenv("IMGSVC_S3_ENDPOINT_URL", bucket.endpoint_url or "")
    monkeypatch.setenv("IMGSVC_S3_CORS_ORIGINS", f"{PAGE},https://imgsvc.example")

    result = CliRunner().invoke(main, ["s3-cors"])

    assert result.exit_code == 0, result.output
    assert f"POST allowed from {PAGE}, https://imgsvc.example" in result.output
    assert preflight(bucket, "https://imgsvc.example").status_code == 200
    monkeypatch.setenv("IMGSVC_STORAGE_URL", "file:///tmp/imgsvc-media")
    refused = CliRunner().invoke(main, ["s3-cors"])
    assert refused.exit_code == 1 and "not s3://" in refused.output
