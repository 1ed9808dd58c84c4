"""Filesystem backend specifics: confinement to the root, atomic writes, URLs."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imgsvc.errors import InvalidKey, ObjectNotFound, StorageUnavailable
from imgsvc.storage import FilesystemStorage, storage_from_url

SECRET = b"top secret, outside the root"
ESCAPES = ["../secret.txt", "images/../../secret.txt", "media/../secret.txt", "..\\secret.txt"]

EVERY_METHOD: dict[str, Callable[[FilesystemStorage, str], Any]] = {
    "put": lambda storage, key: storage.put(key, b"evil", "text/plain"),
    "get": lambda storage, key: storage.get(key),
    "head": lambda storage, key: storage.head(key),
    "exists": lambda storage, key: storage.exists(key),
    "list_keys": lambda storage, key: storage.list_keys(key + "/"),
    "iter_keys": lambda storage, key: list(storage.iter_keys(key + "/")),
    "delete_prefix": lambda storage, key: storage.delete_prefix(key + "/"),
}


@pytest.fixture
def secret(tmp_path: Path, fs_root: Path) -> Path:
    """A file beside the root that no key may reach."""
    fs_root.mkdir()
    path = tmp_path / "secret.txt"
    path.write_bytes(SECRET)
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` with its content (symlinks not followed)."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


@pytest.mark.parametrize("method", EVERY_METHOD.values(), ids=EVERY_METHOD.keys())
@pytest.mark.parametrize("key", ESCAPES)
def test_no_key_reaches_a_file_beside_the_root(
    fs_storage: FilesystemStorage, secret: Path, tmp_path: Path, key: str, method: Callable
) -> None:
    before = _snapshot(tmp_path)
    with pytest.raises(InvalidKey):
        method(fs_storage, key)
    assert _snapshot(tmp_path) == before


def test_a_symlinked_file_pointing_outside_is_not_followed(
    fs_storage: FilesystemStorage, fs_root: Path, secret: Path
) -> None:
    (fs_root / "images" / "a").mkdir(parents=True)
    (fs_root / "images" / "a" / "original").symlink_to(secret)
    for method in EVERY_METHOD.values():
        with pytest.raises(InvalidKey):
            method(fs_storage, "images/a/original")
    assert secret.read_bytes() == SECRET
    assert fs_storage.list_keys("images/") == []
    assert list(fs_storage.iter_keys("images/", start_after="images/")) == []
    assert fs_storage.delete_prefix("images/") == 0
    assert secret.read_bytes() == SECRET


def test_a_symlinked_folder_pointing_outside_is_not_followed(
    fs_storage: FilesystemStorage, fs_root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "original").write_bytes(SECRET)
    (fs_root / "images").mkdir(parents=True)
    (fs_root / "images" / "evil").symlink_to(outside, target_is_directory=True)
    fs_storage.put("images/good/original", b"fine", "image/png")

    for method in EVERY_METHOD.values():
        with pytest.raises(InvalidKey):
            method(fs_storage, "images/evil/original")
        with pytest.raises(InvalidKey):
            method(fs_storage, "images/evil/new")
    assert fs_storage.list_keys("images/") == ["images/good/original"]
    assert list(fs_storage.iter_keys("images/", start_after="images/e")) == ["images/good/original"]
    assert fs_storage.delete_prefix("images/") == 1
    assert _snapshot(outside) == {"original": SECRET}


def test_a_symlink_loop_is_an_invalid_key(fs_storage: FilesystemStorage, fs_root: Path) -> None:
    fs_root.mkdir()
    (fs_root / "loop").symlink_to(fs_root / "loop")
    with pytest.raises(InvalidKey):
        fs_storage.get("loop/x")


def test_put_renames_a_complete_temp_file_over_the_old_object(
    fs_storage: FilesystemStorage, fs_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    final = fs_root / "images" / "a" / "original"
    seen: list[tuple[bytes | None, bytes]] = []
    real_replace = os.replace

    def observing_replace(src: str, dst: str) -> None:
        if Path(dst) == final:
            assert Path(src).parent == final.parent  # same folder: rename is atomic
            assert Path(src).name.startswith(".")  # never listed as a key
            seen.append((final.read_bytes() if final.exists() else None, Path(src).read_bytes()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", observing_replace)
    fs_storage.put("images/a/original", b"first" * 1000, "image/png")
    fs_storage.put("images/a/original", b"second", "image/png")

    assert seen == [(None, b"first" * 1000), (b"first" * 1000, b"second")]
    assert fs_storage.get("images/a/original") == b"second"


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_a_failed_write_changes_nothing_and_leaves_no_temp_file(
    fs_storage: FilesystemStorage, fs_root: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    fs_storage.put("images/a/original", b"old", "image/png")
    before = _snapshot(fs_root)

    def disk_full(*args: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, failing, disk_full)
    with pytest.raises(StorageUnavailable):
        fs_storage.put("images/a/original", b"new", "text/plain")
    with pytest.raises(StorageUnavailable):
        fs_storage.put("images/a/sm.jpg", b"new", "image/jpeg")
    monkeypatch.undo()

    assert _snapshot(fs_root) == before
    assert fs_storage.get("images/a/original") == b"old"
    assert fs_storage.head("images/a/original").content_type == "image/png"
    with pytest.raises(ObjectNotFound):
        fs_storage.get("images/a/sm.jpg")


def test_a_concurrent_reader_only_ever_sees_whole_objects(fs_storage: FilesystemStorage) -> None:
    versions = [bytes([n]) * (512 * 1024) for n in range(4)]
    fs_storage.put("images/a/original", versions[0], "image/png")
    done = threading.Event()
    torn: list[int] = []

    def write() -> None:
        for n in range(60):
            fs_storage.put("images/a/original", versions[n % 4], "image/png")
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    deadline = time.monotonic() + 20
    reads = 0
    while not done.is_set() and time.monotonic() < deadline:
        data = fs_storage.get("images/a/original")
        reads += 1
        if data not in versions:
            torn.append(len(data))
    writer.join(timeout=20)
    assert done.is_set() and reads > 0
    assert torn == []


def test_leftover_empty_folders_and_temporary_files_are_not_listed(
    fs_storage: FilesystemStorage, fs_root: Path
) -> None:
    (fs_root / "images" / "crashed" / "deep").mkdir(parents=True)
    (fs_root / "images" / "crashed" / ".tmp-abc").write_bytes(b"partial")
    fs_storage.put("images/real/original", b"x", "image/png")
    assert list(fs_storage.iter_keys("images/")) == ["images/real/original"]
    assert fs_storage.list_keys("images") == ["images/real/original"]


def test_delete_prefix_removes_the_emptied_folders(
    fs_storage: FilesystemStorage, fs_root: Path
) -> None:
    fs_storage.put("images/a/x/original", b"x", "image/png")
    fs_storage.put("images/b/original", b"x", "image/png")
    assert fs_storage.delete_prefix("images/a/") == 1
    assert sorted(path.name for path in (fs_root / "images").iterdir()) == ["b"]


def test_content_type_defaults_when_its_record_is_lost(
    fs_storage: FilesystemStorage, fs_root: Path
) -> None:
    fs_storage.put("images/a/original", b"x", "image/png")
    (fs_root / "images" / "a" / ".original.type").unlink()
    assert fs_storage.head("images/a/original").content_type == "application/octet-stream"


def test_ping_fails_when_the_root_cannot_be_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageUnavailable):
        FilesystemStorage(tmp_path / "file").ping()
    with pytest.raises(StorageUnavailable):
        FilesystemStorage(tmp_path / "file" / "media").ping()


def test_ping_creates_the_root(fs_storage: FilesystemStorage, fs_root: Path) -> None:
    fs_storage.ping()
    assert fs_root.is_dir()


def test_storage_from_url_builds_a_filesystem_backend(tmp_path: Path) -> None:
    built = storage_from_url("file://" + str(tmp_path / "a%20b"))
    assert isinstance(built, FilesystemStorage)
    assert built.root == tmp_path / "a b"


@pytest.mark.parametrize(
    "url",
    [
        "file://relative/path",
        "file:relative/path",
        "file:./media",
        "file://localhost/srv/media",
        "file:///srv/media#frag",
        "file:///srv/media?x=1",
        "var/media",
        "/srv/media",
        "",
        "ftp://host/media",
        "http://127.0.0.1/media",
        "gs://bucket/prefix",
    ],
)
def test_storage_from_url_rejects_relative_paths_and_other_schemes(url: str) -> None:
    with pytest.raises(ValueError):
        storage_from_url(url)


def test_sync_makes_a_folders_names_durable(fs_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``put`` fsyncs the data before its rename; ``sync`` fsyncs the folder and
    its parent after the renames: otherwise a power cut could undo them."""
    storage = FilesystemStorage(fs_root)
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def recording_fsync(fd: int) -> None:
        real_fsync(fd)
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))

    def recording_replace(source: str, target: str) -> None:
        real_replace(source, target)
        events.append(("rename", str(target)))

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    storage.put("images/abc/original", b"y", "image/jpeg")
    storage.put("images/abc/manifest.json", b"{}", "application/json")
    root = str(storage.root)
    folders = [f"{root}/images/abc", f"{root}/images"]
    assert not [path for kind, path in events if kind == "fsync" and path in folders]
    storage.sync("images/abc/")
    last_rename = max(i for i, (kind, _path) in enumerate(events) if kind == "rename")
    assert [path for kind, path in events[last_rename:] if kind == "fsync"] == folders


def test_sync_of_a_folder_never_written_is_harmless(fs_root: Path) -> None:
    FilesystemStorage(fs_root).sync("images/none/")
