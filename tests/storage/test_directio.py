"""Large objects written with O_DIRECT: exact bytes and size, and every fallback."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest

from imgsvc.errors import StorageUnavailable
from imgsvc.storage import FilesystemStorage, directio

BIG = os.urandom(4 * 1024 * 1024 + 1234)  # not a whole number of pages


@pytest.fixture
def storage(tmp_path: Path) -> FilesystemStorage:
    return FilesystemStorage(tmp_path / "media")


@pytest.fixture
def opened_flags(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The flags of every ``os.open`` that storage makes."""
    flags: list[int] = []
    real_open = os.open

    def recording_open(path: str, flag: int, *args: int, **kwargs: int) -> int:
        flags.append(flag)
        return real_open(path, flag, *args, **kwargs)

    monkeypatch.setattr(directio.os, "open", recording_open)
    return flags


def direct_opens(flags: list[int]) -> int:
    return sum(1 for flag in flags if flag & os.O_DIRECT)


def stored_files(storage: FilesystemStorage) -> list[str]:
    return sorted(p.name for p in storage.root.rglob("*") if p.is_file())


@pytest.mark.parametrize("source", ["bytes", "upload buffer"])
def test_a_large_object_is_written_directly_with_its_exact_bytes_and_size(
    storage: FilesystemStorage, opened_flags: list[int], source: str
) -> None:
    data = BIG if source == "bytes" else io.BytesIO(b"header" + BIG)
    if isinstance(data, io.BytesIO):
        data.seek(6)  # stored from the stream's position, as an upload is
    storage.put("images/a/original", data, "image/jpeg")
    assert direct_opens(opened_flags) == 1
    assert storage.get("images/a/original") == BIG
    assert storage.head("images/a/original").size == len(BIG)
    assert stored_files(storage) == [".original.type", "original"]  # no temp file left


def test_a_smaller_object_after_a_larger_one_gets_no_stale_bytes(
    storage: FilesystemStorage,
) -> None:
    storage.put("images/a/original", b"\xaa" * (3 * 1024 * 1024), "image/jpeg")
    smaller = b"\x55" * (2 * 1024 * 1024 + 7)
    storage.put("images/b/original", smaller, "image/jpeg")
    assert storage.get("images/b/original") == smaller


def test_small_objects_go_through_the_page_cache(
    storage: FilesystemStorage, opened_flags: list[int]
) -> None:
    storage.put("images/a/xs.jpg", b"x" * 500_000, "image/jpeg")
    assert direct_opens(opened_flags) == 0
    assert storage.get("images/a/xs.jpg") == b"x" * 500_000


@pytest.mark.parametrize("refused_at", ["open", "write"])
def test_a_file_system_refusing_o_direct_gets_a_plain_write(
    storage: FilesystemStorage, monkeypatch: pytest.MonkeyPatch, refused_at: str
) -> None:
    real_open, real_write = os.open, os.write
    direct_fds: set[int] = set()

    def refusing_open(path: str, flag: int, *args: int, **kwargs: int) -> int:
        if flag & os.O_DIRECT and refused_at == "open":
            raise OSError(errno.EINVAL, "Invalid argument")
        fd = real_open(path, flag, *args, **kwargs)
        if flag & os.O_DIRECT:
            direct_fds.add(fd)
        return fd

    def refusing_write(fd: int, data: bytes) -> int:
        if fd in direct_fds:
            real_write(fd, bytes(data)[:4096])  # a part, then refused
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(directio.os, "open", refusing_open)
    monkeypatch.setattr(directio.os, "write", refusing_write)
    storage.put("images/a/original", BIG, "image/jpeg")
    assert storage.get("images/a/original") == BIG
    assert stored_files(storage) == [".original.type", "original"]


def test_a_full_disk_is_storage_unavailable_and_leaves_nothing(
    storage: FilesystemStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(directio.os, "write", full)
    with pytest.raises(StorageUnavailable):
        storage.put("images/a/original", BIG, "image/jpeg")
    assert stored_files(storage) == []
