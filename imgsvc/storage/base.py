"""The storage protocol every backend implements, and key validation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol, runtime_checkable

from imgsvc.errors import InvalidKey

# One part of a key: a plain file name. ``fullmatch`` (not ``$``, which also
# matches before a trailing newline) so no control byte can slip through.
_KEY_PART = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,199}")
MAX_KEY_LENGTH = 512


@dataclass(frozen=True)
class ObjectInfo:
    """What a backend knows about a stored object without reading it."""

    key: str
    size: int
    content_type: str
    # When it was last written (Unix time); not part of an object's identity.
    modified: float = field(default=0.0, compare=False)


@runtime_checkable
class Storage(Protocol):
    """Keys are ``/``-separated relative paths such as ``images/<id>/original``."""

    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> None:
        """Store ``data`` (bytes, or a readable file read from its current position)
        under ``key``, replacing any object there, atomically."""

    def sync(self, prefix: str) -> None:
        """Make the objects stored under ``prefix`` (a folder) durable by name, so
        they survive a power cut; ``put`` has already made their bytes durable."""

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

    def iter_keys(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        """The keys that start with ``prefix`` and sort after the key ``start_after``,
        in key order, listed as they are consumed (stop early, and the rest is
        never listed)."""

    def ping(self) -> None:
        """Raise ``StorageUnavailable`` unless the backend answers."""


def check_key(key: str) -> str:
    """Return ``key`` if every part is a plain name; raise ``InvalidKey`` otherwise.

    This is what keeps a key like ``images/../../etc/passwd`` from ever reaching
    a backend: no empty parts, no ``.``/``..``, no hidden names, no backslashes
    or control bytes. Parts are at most 200 characters, so every key also fits a
    file system's name limit (with room for the filesystem backend's metadata).
    """
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidKey()
    if not all(is_key_part(part) for part in key.split("/")):
        raise InvalidKey()
    return key


def is_key_part(name: str) -> bool:
    """Whether ``name`` may be one ``/``-separated part of a key."""
    return _KEY_PART.fullmatch(name) is not None


def check_prefix(prefix: str) -> str:
    """Validate a listing prefix: a key, optionally followed by one ``/``."""
    if not isinstance(prefix, str):
        raise InvalidKey()
    check_key(prefix.removesuffix("/"))
    return prefix
