"""The storage contract: every test here runs unchanged on ``file://`` and ``s3://``."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from typing import Any

import pytest

from imgsvc.errors import InvalidKey, ObjectNotFound
from imgsvc.storage import ObjectInfo, Storage

PAYLOADS = {
    "empty": b"",
    "all-bytes": bytes(range(256)) * 4,
    "one-mib-odd": os.urandom(1024 * 1024 + 7),
}


@pytest.mark.parametrize("data", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_put_then_get_returns_the_same_bytes(storage: Storage, data: bytes) -> None:
    storage.put("images/abc/original", data, "application/octet-stream")
    assert storage.get("images/abc/original") == data


def test_keys_may_use_letters_digits_dot_dash_underscore(storage: Storage) -> None:
    key = "images/Ab-9_z.x/sm.v2.webp" + "x" * 190  # a 200-character last part
    storage.put(key, b"webp", "image/webp")
    assert storage.get(key) == b"webp"
    assert storage.list_keys("images/") == [key]


def test_image_ids_starting_with_a_dash_are_valid_keys(storage: Storage) -> None:
    # secrets.token_urlsafe ids start with "-" one time in 64.
    key = "images/-Ab3_xyz0123456789abcd/original"
    storage.put(key, b"jpeg", "image/jpeg")
    assert storage.get(key) == b"jpeg"
    assert storage.list_keys("images/") == [key]


def test_put_replaces_bytes_and_content_type(storage: Storage) -> None:
    storage.put("images/abc/manifest.json", b"x" * 5000, "text/plain")
    storage.put("images/abc/manifest.json", b'{"v": 2}', "application/json")
    assert storage.get("images/abc/manifest.json") == b'{"v": 2}'
    info = storage.head("images/abc/manifest.json")
    assert (info.size, info.content_type) == (8, "application/json")
    assert storage.list_keys("images/abc/") == ["images/abc/manifest.json"]


def test_head_gives_key_size_and_content_type(storage: Storage) -> None:
    storage.put("images/abc/thumb.jpg", b"\xff\xd8" + b"j" * 998, "image/jpeg")
    storage.put("images/abc/xs.png", b"", "image/png")
    thumb, xs = storage.head("images/abc/thumb.jpg"), storage.head("images/abc/xs.png")
    assert thumb == ObjectInfo("images/abc/thumb.jpg", 1000, "image/jpeg")
    assert xs == ObjectInfo("images/abc/xs.png", 0, "image/png")


def test_head_gives_when_an_object_was_written(storage: Storage) -> None:
    """Reconcile tells an abandoned upload from one being stored by its age."""
    before = time.time()
    storage.put("images/abc/original", b"x", "image/jpeg")
    modified = storage.head("images/abc/original").modified
    assert before - 2 <= modified <= time.time() + 2  # S3 keeps whole seconds


MISSING = {
    "never-written": "images/nope/original",
    "sibling-of-object": "images/abc/other",
    "a-folder-not-an-object": "images/abc",
    "below-an-object": "images/abc/original/deeper",
}


@pytest.mark.parametrize("key", MISSING.values(), ids=MISSING.keys())
def test_missing_keys_raise_object_not_found(storage: Storage, key: str) -> None:
    storage.put("images/abc/original", b"data", "image/png")
    with pytest.raises(ObjectNotFound):
        storage.get(key)
    with pytest.raises(ObjectNotFound):
        storage.head(key)
    assert storage.exists(key) is False


def test_exists_tells_stored_keys_apart(storage: Storage) -> None:
    assert storage.exists("images/abc/original") is False
    storage.put("images/abc/original", b"", "image/png")
    assert storage.exists("images/abc/original") is True
    assert storage.exists("images/abc/origina") is False


def _fill(storage: Storage, keys: list[str]) -> None:
    for key in keys:
        storage.put(key, key.encode(), "text/plain")


def test_list_keys_is_sorted_and_stays_under_the_prefix(storage: Storage) -> None:
    under = ["images/a/xs.jpg", "images/a/original", "images/a/z/deep", "images/a/manifest.json"]
    _fill(storage, [*under, "images/ab/original", "images-a/original", "other/images/a/x"])
    assert storage.list_keys("images/a/") == sorted(under)
    assert storage.list_keys("images/a") == sorted([*under, "images/ab/original"])
    assert storage.list_keys("images/a/m") == ["images/a/manifest.json"]
    assert storage.list_keys("images/a/original") == ["images/a/original"]
    assert storage.list_keys("images/zzz/") == []
    assert storage.list_keys("nothing/") == []


def test_iter_keys_goes_on_after_a_key(storage: Storage) -> None:
    """Reconcile reads every image's object names from one listing, slice by slice."""
    keys = ["images/a/x", "images/a/y", "images/a-b/x", "images/a/z/deep", "images/b/m.json"]
    _fill(storage, [*keys, "images/loose", "other/a/x"])
    every = sorted([*keys, "images/loose"])
    assert every[:2] == ["images/a-b/x", "images/a/x"]  # a folder sorts as "a/": after "a-b"
    assert list(storage.iter_keys("images/")) == every == storage.list_keys("images/")
    assert list(storage.iter_keys("images/", start_after="images/a/x")) == every[2:]
    assert list(storage.iter_keys("images/", start_after="images/a/")) == every[1:]
    assert list(storage.iter_keys("images/", start_after="images/a/~")) == every[4:]
    assert list(storage.iter_keys("images/", start_after="images/loose")) == []
    assert list(storage.iter_keys("images/a/", start_after="images/a/y")) == ["images/a/z/deep"]
    walked, cursor = [], ""
    while batch := list(itertools.islice(storage.iter_keys("images/", start_after=cursor), 2)):
        walked += batch
        cursor = batch[-1]
    assert walked == every


def test_delete_prefix_removes_one_image_and_counts_it(storage: Storage) -> None:
    victim = ["images/a/original", "images/a/manifest.json", "images/a/xs.jpg", "images/a/t/x"]
    others = ["images/ab/original", "images/b/original", "imagesa/original"]
    _fill(storage, victim + others)

    assert storage.delete_prefix("images/a/") == len(victim)

    for key in victim:
        assert not storage.exists(key)
        with pytest.raises(ObjectNotFound):
            storage.get(key)
    assert storage.list_keys("images/a/") == []
    assert storage.list_keys("images/") == ["images/ab/original", "images/b/original"]
    assert [storage.get(key) for key in others] == [key.encode() for key in others]
    assert storage.delete_prefix("images/a/") == 0


def test_a_deleted_image_can_be_written_again(storage: Storage) -> None:
    storage.put("images/a/original", b"one", "image/png")
    assert storage.delete_prefix("images/a/") == 1
    storage.put("images/a/original", b"two", "image/png")
    assert storage.get("images/a/original") == b"two"
    assert storage.list_keys("images/") == ["images/a/original"]


def test_ping_answers(storage: Storage) -> None:
    storage.ping()
    storage.put("images/a/original", b"x", "image/png")
    storage.ping()


BAD_KEYS = {
    "parent": "../x",
    "parent-inside": "images/../../etc/passwd",
    "dot-part": "images/./x",
    "dot": ".",
    "absolute": "/abs",
    "double-slash": "a//b",
    "trailing-slash": "images/a/",
    "hidden": ".hidden",
    "hidden-part": "images/.x/original",
    "backslash": "images\\a",
    "backslash-parent": "..\\..\\x",
    "empty": "",
    "nul": "images/a\x00b",
    "newline-end": "images/a\n",
    "control": "images/\x1b[31m",
    "space": "images/a b",
    "too-long": "images/" + "a/" * 300,
    "part-too-long": "images/" + "a" * 201,
}

BAD_PREFIXES = {
    "parent": "../",
    "parent-inside": "images/../../",
    "absolute": "/etc/",
    "double-slash": "images//",
    "hidden": ".hidden/",
    "backslash": "images\\",
    "empty": "",
    "nul": "a\x00/",
    "newline-end": "images\n/",
}

KEY_METHODS: dict[str, Callable[[Storage, str], Any]] = {
    "put": lambda storage, key: storage.put(key, b"evil", "text/plain"),
    "get": lambda storage, key: storage.get(key),
    "head": lambda storage, key: storage.head(key),
    "exists": lambda storage, key: storage.exists(key),
}

PREFIX_METHODS: dict[str, Callable[[Storage, str], Any]] = {
    "list_keys": lambda storage, prefix: storage.list_keys(prefix),
    "iter_keys": lambda storage, prefix: list(storage.iter_keys(prefix)),
    "delete_prefix": lambda storage, prefix: storage.delete_prefix(prefix),
}


def test_invalid_key_is_not_a_missing_object() -> None:
    assert not issubclass(InvalidKey, ObjectNotFound)
    assert not issubclass(ObjectNotFound, InvalidKey)


@pytest.mark.parametrize("method", KEY_METHODS.values(), ids=KEY_METHODS.keys())
@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_bad_keys_raise_invalid_key(storage: Storage, key: str, method: Callable) -> None:
    with pytest.raises(InvalidKey) as caught:
        method(storage, key)
    assert not isinstance(caught.value, ObjectNotFound)


@pytest.mark.parametrize("method", PREFIX_METHODS.values(), ids=PREFIX_METHODS.keys())
@pytest.mark.parametrize("prefix", BAD_PREFIXES.values(), ids=BAD_PREFIXES.keys())
def test_bad_prefixes_raise_invalid_key(storage: Storage, prefix: str, method: Callable) -> None:
    storage.put("images/a/original", b"keep", "image/png")
    with pytest.raises(InvalidKey):
        method(storage, prefix)
    assert storage.get("images/a/original") == b"keep"


def test_rejected_writes_store_nothing(storage: Storage) -> None:
    for key in BAD_KEYS.values():
        with pytest.raises(InvalidKey):
            storage.put(key, b"evil", "text/plain")
    assert storage.list_keys("images") == []


def test_put_streams_from_a_file_object(storage: Storage, tmp_path) -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB, read from the file, not held as bytes
    source = tmp_path / "upload.bin"
    source.write_bytes(payload)
    with open(source, "rb") as stream:
        storage.put("images/streamed/original", stream, "image/jpeg")
    assert storage.get("images/streamed/original") == payload
    assert storage.head("images/streamed/original").size == len(payload)


def test_sync_keeps_what_was_stored(storage: Storage) -> None:
    storage.put("images/abc/original", b"bytes", "image/jpeg")
    storage.sync("images/abc/")
    assert storage.get("images/abc/original") == b"bytes"
