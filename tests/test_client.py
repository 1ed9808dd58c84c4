"""The upload client's own rules: which files, which idempotency key (the client
against a real stack is tests/system/test_client.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imgsvc.client import ClientError, collect, idempotency_key, local_secret


def test_folders_give_their_images_recursively_and_files_are_taken_as_given(tmp_path: Path):
    (tmp_path / "in" / "deep").mkdir(parents=True)
    for name in ("in/b.JPG", "in/deep/a.png", "in/notes.txt", "in/c.webp", "extra.dat"):
        (tmp_path / name).write_bytes(b"x")

    found = collect([str(tmp_path / "in"), str(tmp_path / "extra.dat"), str(tmp_path / "in")])

    names = [str(path.relative_to(tmp_path)) for path in found]
    assert names == ["in/b.JPG", "in/c.webp", "in/deep/a.png", "extra.dat"]


def test_a_missing_path_is_an_error_before_anything_is_sent(tmp_path: Path):
    with pytest.raises(ClientError, match="no such file or folder"):
        collect([str(tmp_path / "nope")])


def test_the_key_follows_the_content_the_absolute_path_and_the_users_secret(
    tmp_path: Path, monkeypatch
):
    secret = local_secret(tmp_path / "config")
    assert local_secret(tmp_path / "config") == secret  # kept, not made anew
    secret_file = tmp_path / "config" / "imgsvc" / "upload-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    path = tmp_path / "a.jpg"
    key = idempotency_key(path, b"one", secret)

    monkeypatch.chdir(tmp_path)
    assert idempotency_key(Path("a.jpg"), b"one", secret) == key  # the same file, named relatively
    assert idempotency_key(path, b"two", secret) != key  # an edited file is a new image
    assert idempotency_key(tmp_path / "b.jpg", b"one", secret) != key
    assert idempotency_key(path, b"one", local_secret(tmp_path / "other")) != key  # another user
    assert len(key) <= 255 and key.isascii()
    assert os.sep not in key
