"""Signing webhooks as the Standard Webhooks specification says.

Every request carries ``webhook-id`` (the message's id, the same on every
attempt: receivers deduplicate with it), ``webhook-timestamp`` (the attempt's
time, whole seconds since the epoch) and ``webhook-signature``: ``v1,`` and the
base64 of HMAC-SHA256 over ``f"{id}.{timestamp}.{body}"``, keyed with the
secret's bytes. The secret is written ``whsec_`` + base64 of those bytes, as
the specification's libraries take it, so a receiver can verify with any of
them (``standardwebhooks.Webhook(secret).verify(body, headers)``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"


def parse_secret(value: str) -> bytes:
    """The key bytes of a ``whsec_<base64>`` secret (the prefix may be left out).

    Raises ``ValueError`` for text that is not base64 or decodes to nothing,
    so a mistyped ``IMGSVC_WEBHOOK_SECRET`` stops the service at start.
    """
    encoded = value.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"a webhook secret is {SECRET_PREFIX}<base64>: {exc}") from None
    if len(key) < 16:
        raise ValueError("a webhook secret needs at least 16 bytes (24 base64 characters)")
    return key


def new_secret() -> str:
    """A fresh secret of 32 random bytes, in the ``whsec_`` form."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    """A message id for ``webhook-id``: random, URL-safe, 128 bits."""
    return "msg_" + secrets.token_urlsafe(16)


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value of ``body`` sent as ``message_id`` at ``timestamp``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signed_headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, message_id, timestamp, body),
    }
