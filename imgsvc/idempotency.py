"""Safe retries: the ``Idempotency-Key`` header of ``POST /api/images`` and
``POST /api/wordcounts``.

Contract. A client that sends ``Idempotency-Key: <key>`` (1 to
``MAX_KEY_LENGTH`` printable ASCII characters) may send the same request
again, as often as it likes, for ``IDEMPOTENCY_TTL`` seconds:

- the same key with the same body gets the first answer again (same status,
  same JSON, same ``Location``) plus ``Idempotent-Replayed: true``; nothing is
  stored or enqueued a second time;
- the same key with another body is refused: ``422 idempotency_key_reused``;
- while the first request with the key is still running, a second one waits
  for its answer up to ``IDEMPOTENCY_WAIT`` seconds, then gets
  ``409 idempotency_key_in_use`` with ``Retry-After`` (retrying is safe).

A request that ends in an error is not remembered (a retry runs again), except
an upload stored while the queue was down (``503`` with the image's id): its
answer is remembered, so a retry does not store the image twice (reconcile
enqueues it).

How. The key is claimed atomically before anything is stored: ``SET NX`` of a
pending marker (with the body's fingerprint and a claim token) that expires
after ``IDEMPOTENCY_PENDING_TTL`` seconds, so a web process that dies
mid-request does not hold the key for a day. The answer replaces the marker
(only while the claim is still ours) for ``IDEMPOTENCY_TTL`` seconds. Keys are
kept in Redis as SHA-256 digests, per route and per scope (the API key's name
when API keys are on; one shared scope otherwise). A key cannot be claimed
while Redis is down: ``503 queue_unavailable`` before anything is stored.
A remembered answer's ``delete_token`` is kept sealed: XORed with an
HMAC-SHA256 keystream of ``SECRET_KEY``, the raw key (Redis holds only its
digest) and the image id (so no keystream is used twice). Reading Redis alone
does not give anyone the right to delete an image; the client that replays
with its key gets the token back.

The fingerprint is a SHA-256 over what the service reads of the body, not its
bytes on the wire: for multipart, each field and each file's name, filename
and content (read in 1 MiB steps from the request's buffer); multipart
boundaries differ between two sends of the same form. JSON bodies are hashed
in a canonical form (sorted keys); anything else as raw bytes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from flask import Request, Response, jsonify

from imgsvc.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    ImgsvcError,
    InvalidIdempotencyKey,
    QueueUnavailable,
)
from imgsvc.extensions import REDIS_ERRORS, Services

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PREFIX = "imgsvc:idempotency:"
MAX_KEY_LENGTH = 255
_CHUNK = 1024 * 1024
_POLL_INTERVAL = 0.05

# Replace the pending marker by the answer only while the claim is still ours.
_COMPLETE = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current)['claim'] == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""
_RELEASE = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current)['claim'] == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _digest_file(stream: IO[bytes], into: Any) -> None:
    position = stream.tell()
    stream.seek(0)
    while chunk := stream.read(_CHUNK):
        into.update(chunk)
    stream.seek(position)


def fingerprint(request: Request) -> str:
    """The SHA-256 (hex) of what the service reads of ``request``'s body.

    Multipart forms: every field and every file (name, filename, content), in
    name order. JSON: the canonical JSON. Anything else: the raw bytes.
    """
    digest = hashlib.sha256()
    mimetype = request.mimetype
    if mimetype == "multipart/form-data" or mimetype == "application/x-www-form-urlencoded":
        for name in sorted(request.form):
            for value in request.form.getlist(name):
                digest.update(json.dumps(["field", name, value]).encode())
        for name in sorted(request.files):
            for upload in request.files.getlist(name):
                digest.update(json.dumps(["file", name, upload.filename or ""]).encode())
                _digest_file(upload.stream, digest)
                digest.update(b"\0")
    elif request.is_json:
        body = request.get_json(silent=True)
        digest.update(json.dumps(["json", body], sort_keys=True, separators=(",", ":")).encode())
    else:
        digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def key_from(request: Request) -> str | None:
    """The request's idempotency key, or ``None`` without the header.

    Raises ``InvalidIdempotencyKey`` for an empty, too long or non-printable key.
    """
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " <= ch <= "~" for ch in key):
        raise InvalidIdempotencyKey()
    return key


SECRET_FIELD = "delete_token"
SEALED_FIELD = "delete_token_sealed"


def _keystream(secret: str, key: str, image_id: str, length: int) -> bytes:
    stream = b""
    for block in range(length // 32 + 1):
        message = json.dumps(["idempotency-seal", key, image_id, block]).encode()
        stream += hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return stream[:length]


def _xor(data: bytes, pad: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, pad, strict=True))


def seal(body: dict[str, Any], secret: str, key: str) -> dict[str, Any]:
    """``body`` as Redis may keep it: its delete token replaced by a sealed copy."""
    if SECRET_FIELD not in body:
        return body
    kept = {name: value for name, value in body.items() if name != SECRET_FIELD}
    plain = str(body[SECRET_FIELD]).encode()
    pad = _keystream(secret, key, str(body.get("id", "")), len(plain))
    kept[SEALED_FIELD] = base64.b64encode(_xor(plain, pad)).decode()
    return kept


def unseal(body: dict[str, Any], secret: str, key: str) -> dict[str, Any]:
    """The answer :func:`seal` was given, from what Redis kept; without its delete
    token when ``secret`` is not the one that sealed it (the key was rotated)."""
    if SEALED_FIELD not in body:
        return body
    shown = {name: value for name, value in body.items() if name != SEALED_FIELD}
    sealed = base64.b64decode(body[SEALED_FIELD])
    pad = _keystream(secret, key, str(body.get("id", "")), len(sealed))
    opened = _xor(sealed, pad)
    if opened.isascii() and opened.decode().isprintable():  # else the secret key changed
        shown[SECRET_FIELD] = opened.decode()
    return shown


@dataclass
class Claim:
    """A claimed key: :meth:`complete` with the answer, or :meth:`release` on an error."""

    svc: Services
    redis_key: str
    token: str
    body_digest: str
    key: str

    def complete(self, body: dict[str, Any], status: int, headers: dict[str, str]) -> None:
        """Remember the answer for ``IDEMPOTENCY_TTL`` seconds (best effort: when Redis
        fails here, the pending marker expires and a retry runs again)."""
        answer: dict[str, Any] = {"state": "done", "claim": self.token}
        kept = seal(body, self.svc.config.SECRET_KEY or "", self.key)
        answer.update(fingerprint=self.body_digest, status=status, body=kept, headers=headers)
        ttl = self.svc.config.IDEMPOTENCY_TTL
        with contextlib.suppress(*REDIS_ERRORS):
            self.svc.redis.eval(_COMPLETE, 1, self.redis_key, self.token, json.dumps(answer), ttl)

    def release(self) -> None:
        """Forget the claim, so a retry runs again (best effort, as :meth:`complete`)."""
        with contextlib.suppress(*REDIS_ERRORS):
            self.svc.redis.eval(_RELEASE, 1, self.redis_key, self.token)


Answer = tuple[Response, int, dict[str, str]]


def _replay(found: dict[str, Any], secret: str, key: str) -> Answer:
    headers = {**found.get("headers", {}), REPLAYED_HEADER: "true"}
    return jsonify(unseal(found["body"], secret, key)), int(found["status"]), headers


def claim(svc: Services, route: str, scope: str, request: Request) -> Claim | Answer | None:
    """Claim the request's idempotency key for ``route`` in ``scope``.

    Returns ``None`` without the header, a :class:`Claim` when this request is
    the first with the key (it must then :meth:`Claim.complete` or
    :meth:`Claim.release`), or the first request's remembered answer.

    Raises ``InvalidIdempotencyKey``, ``IdempotencyKeyReused`` (another body),
    ``IdempotencyKeyInUse`` (the first request still runs after the wait) and
    ``QueueUnavailable`` (Redis is down: nothing is stored).
    """
    key = key_from(request)
    if key is None:
        return None
    config = svc.config
    scope_digest = hashlib.sha256(scope.encode()).hexdigest()[:16]
    key_digest = hashlib.sha256(key.encode()).hexdigest()
    redis_key = f"{KEY_PREFIX}{route}:{scope_digest}:{key_digest}"
    body_digest = fingerprint(request)
    token = secrets.token_hex(16)
    marker = json.dumps({"state": "pending", "claim": token, "fingerprint": body_digest})
    deadline = time.monotonic() + config.IDEMPOTENCY_WAIT
    try:
        while True:
            if svc.redis.set(redis_key, marker, nx=True, ex=config.IDEMPOTENCY_PENDING_TTL):
                return Claim(svc, redis_key, token, body_digest, key)
            raw = svc.redis.get(redis_key)
            if raw is None:  # released or expired between the two calls: claim again
                continue
            found = json.loads(raw)
            if found["fingerprint"] != body_digest:
                raise IdempotencyKeyReused()
            if found["state"] == "done":
                return _replay(found, config.SECRET_KEY or "", key)
            if time.monotonic() >= deadline:
                raise IdempotencyKeyInUse()
            time.sleep(_POLL_INTERVAL)  # the first request is running: wait for its answer
    except REDIS_ERRORS as exc:
        raise QueueUnavailable(
            "The Idempotency-Key cannot be checked while Redis is unavailable; nothing was "
            "stored. Try again shortly."
        ) from exc


def respond(
    svc: Services,
    route: str,
    scope: str,
    request: Request,
    produce: Callable[[], tuple[dict[str, Any], int, dict[str, str]]],
) -> Answer:
    """Answer ``request`` with ``produce()`` (body, status, headers) once per key.

    Without an ``Idempotency-Key`` this is ``produce()`` as a response. With one,
    see the module's contract: a replay, a refusal, or ``produce()`` remembered.
    ``produce``'s errors pass through; the claim is released first (or, for an
    upload stored despite the error, the error answer is remembered).
    """
    claimed = claim(svc, route, scope, request)
    if claimed is not None and not isinstance(claimed, Claim):
        return claimed
    try:
        body, status, headers = produce()
    except ImgsvcError as error:
        if claimed is not None:
            if error.details and "id" in error.details:  # stored: never store it twice
                retry = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
                answer = {"error": error.to_dict(), **error.details}
                claimed.complete(answer, error.status, {**(error.headers or {}), **retry})
            else:
                claimed.release()
        raise
    except BaseException:
        if claimed is not None:
            claimed.release()
        raise
    if claimed is not None:
        claimed.complete(body, status, headers)
    return jsonify(body), status, headers
