"""The bucket's CORS rule that lets the upload form's page POST files to it (S3 only).

Browsers send the form's file cross-origin, from the service's pages to the
bucket's endpoint, so the bucket must allow ``POST`` from those origins
(``S3_CORS_ORIGINS``). :func:`apply_upload_cors` writes one rule, identified
by :data:`RULE_ID`, and keeps every other rule of the bucket (an operator's
own, e.g. for ``GET`` from a CDN): ``PutBucketCors`` replaces the whole
configuration, so it is read first. Without origins the rule is removed.

S3 (and moto) evaluate the rule on the browser's preflight ``OPTIONS``; MinIO
has no bucket CORS API and allows the origins of its own setting
(``MINIO_API_CORS_ALLOW_ORIGIN``, every origin by default), so there
:func:`apply_upload_cors` raises ``StorageUnavailable`` naming S3's answer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from imgsvc.errors import StorageUnavailable
from imgsvc.storage.s3 import S3Storage

RULE_ID = "imgsvc-form-uploads"
# A preflight answer the browser may reuse for this long (seconds).
PREFLIGHT_MAX_AGE = 3000


def check_origins(origins: list[str]) -> list[str]:
    """``origins`` as browsers send them (``scheme://host[:port]``, no path, lower case).

    Raises ``ValueError`` naming the first that is not an http(s) origin.
    """
    checked = []
    for origin in origins:
        parts = urlsplit(origin)
        bare = f"{parts.scheme}://{parts.netloc}".lower()
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or origin.rstrip("/").lower() != bare
        ):
            raise ValueError(
                f"S3_CORS_ORIGINS: {origin!r} is not an origin like https://example.com"
            )
        checked.append(bare)
    return checked


def upload_rule(origins: list[str]) -> dict[str, Any]:
    """The CORS rule of the form's uploads: ``POST`` (and its preflight) from ``origins``."""
    return {
        "ID": RULE_ID,
        "AllowedOrigins": list(origins),
        "AllowedMethods": ["POST"],
        "AllowedHeaders": ["*"],  # the preflight may name the multipart Content-Type
        "MaxAgeSeconds": PREFLIGHT_MAX_AGE,
    }


def bucket_rules(storage: S3Storage) -> list[dict[str, Any]]:
    """The bucket's CORS rules ([] when it has none); ``StorageUnavailable`` on S3 errors."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = storage.client.get_bucket_cors(Bucket=storage.bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchCORSConfiguration":
            return []
        raise StorageUnavailable(f"S3 refused GetBucketCors on {storage.bucket}: {exc}") from exc
    except BotoCoreError as exc:
        raise StorageUnavailable(f"S3 unreachable: {exc}") from exc
    rules: list[dict[str, Any]] = answer.get("CORSRules", [])
    return rules


def apply_upload_cors(storage: S3Storage, origins: list[str]) -> list[dict[str, Any]]:
    """Make the bucket's form rule allow ``origins`` (none: remove it); the rules now set.

    Idempotent; other rules stay as they were. Raises ``ValueError`` for a malformed
    origin (before any request) and ``StorageUnavailable`` when S3 cannot be reached
    or refuses (no permission for ``s3:PutBucketCORS``, or no bucket CORS API).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    wanted = check_origins(origins)
    rules = [rule for rule in bucket_rules(storage) if rule.get("ID") != RULE_ID]
    if wanted:
        rules.append(upload_rule(wanted))
    try:
        if rules:
            storage.client.put_bucket_cors(
                Bucket=storage.bucket, CORSConfiguration={"CORSRules": rules}
            )
        else:
            storage.client.delete_bucket_cors(Bucket=storage.bucket)
    except ClientError as exc:
        raise StorageUnavailable(f"S3 refused PutBucketCors on {storage.bucket}: {exc}") from exc
    except BotoCoreError as exc:
        raise StorageUnavailable(f"S3 unreachable: {exc}") from exc
    return rules
