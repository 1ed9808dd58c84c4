"""The storage protocol every backend implements, and key validation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from imgsvc.errors import InvalidKey

_KEY_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class ObjectInfo:
    """What a backend knows about a stored object without reading it."""

    key: str
    size: int
    content_type: str


@runtime_checkable
class Storage(Protocol):
    """Keys are ``/``-separated relative paths such as ``images/<id>/original``."""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key``, replacing any object there, atomically."""

    def get(self, key: str) -> bytes:
        """Return the bytes under ``key``; raise ``ObjectNotFound`` if absent."""

    def head(self, key: str) -> ObjectInfo:
        """Return size and type of ``key``; raise ``ObjectNotFound`` if absent."""

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix``; return how many."""

    def list_keys(self, prefix: str) -> list[str]:
        """Every key that starts with ``prefix``, sorted."""

    def list_children(self, prefix: str) -> list[str]:
        """The names of the immediate "folders" under ``prefix`` (S3 common prefixes)."""

    def ping(self) -> None:
        """Raise ``StorageUnavailable`` unless the backend answers."""


def check_key(key: str) -> str:
    """Return ``key`` if every part is a plain name; raise ``InvalidKey`` otherwise.

    This is what keeps a key like ``images/../../etc/passwd`` from ever reaching
    a backend: no empty parts, no ``.``/``..``, no backslashes or control bytes.
    """
    if not isinstance(key, str) or not key or len(key) > 512:
        raise InvalidKey()
    parts = key.split("/")
    if not all(_KEY_PART.match(part) for part in parts):
        raise InvalidKey()
    return key


def check_prefix(prefix: str) -> str:
    """Validate a listing prefix: a key followed by ``/`` (or a key itself)."""
    check_key(prefix.rstrip("/"))
    return prefix
