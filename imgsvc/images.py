"""Image records: ids, delete tokens, and the manifest kept in storage.

The manifest (``images/<id>/manifest.json``) is the system of record for an
image's state: ``queued`` → ``processing`` → ``done`` or ``failed``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from imgsvc.errors import InvalidImage, NotFound, ObjectNotFound
from imgsvc.imaging.probe import ProbeResult
from imgsvc.storage import Storage

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22}$")
FINAL_STATUSES = ("done", "failed")
# The marker object's name (see settled_key); variant names start with a letter,
# so no variant key starts with it.
SETTLED = "_settled"


def new_image_id() -> str:
    """A random URL-safe id of 128 bits (22 characters)."""
    return secrets.token_urlsafe(16)


def is_image_id(value: str) -> bool:
    """Whether ``value`` has the shape of an id this service issues."""
    return bool(ID_PATTERN.match(value))


def prefix(image_id: str) -> str:
    return f"images/{image_id}/"


def original_key(image_id: str) -> str:
    return f"images/{image_id}/original"


def manifest_key(image_id: str) -> str:
    return f"images/{image_id}/manifest.json"


def variant_key(image_id: str, name: str, extension: str) -> str:
    return f"images/{image_id}/{name}.{extension}"


def settled_key(image_id: str) -> str:
    """An empty object written once the manifest is final: a reconcile pass sees in
    its listing that the image needs nothing, without reading the manifest."""
    return f"images/{image_id}/{SETTLED}"


def job_id_for(image_id: str) -> str:
    """The RQ job id of an image's processing job (one per image, reused)."""
    return f"image-{image_id}"


def tombstone_key(image_id: str) -> str:
    """Redis key that tells a running job its image was deleted meanwhile."""
    return f"imgsvc:deleted:{image_id}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(manifest: dict[str, Any], token: str | None) -> bool:
    """Compare a presented delete token with the stored hash in constant time."""
    expected = manifest.get("delete_token_sha256", "")
    return bool(token) and hmac.compare_digest(hash_token(token or ""), expected)


def new_manifest(image_id: str, info: ProbeResult, size: int, delete_token: str) -> dict[str, Any]:
    """The manifest of a just-uploaded image."""
    return {
        "id": image_id,
        "status": "queued",
        "error": None,
        "original": {
            "width": info.width,
            "height": info.height,
            "format": info.format,
            "frames": info.frames,
            "bytes": size,
            "content_type": info.mime_type,
        },
        "variants": {},
        "created_at": now_iso(),
        "processed_at": None,
        "delete_token_sha256": hash_token(delete_token),
    }


def read_manifest(storage: Storage, image_id: str) -> dict[str, Any]:
    """Load an image's manifest; ``NotFound`` for an unknown (or malformed) id."""
    if not is_image_id(image_id):
        raise NotFound("No such image.")
    try:
        raw = storage.get(manifest_key(image_id))
    except ObjectNotFound as exc:
        raise NotFound("No such image.") from exc
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidImage("The image's manifest is corrupt.") from exc


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The manifest as stored: indented, sorted JSON."""
    return json.dumps(manifest, indent=2, sort_keys=True).encode()


def write_manifest(storage: Storage, manifest: dict[str, Any]) -> None:
    """Store the manifest (atomically replacing the previous one)."""
    storage.put(manifest_key(manifest["id"]), manifest_bytes(manifest), "application/json")
