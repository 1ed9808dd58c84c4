"""Filesystem storage: one file per key under a root folder.

Writes go to a temporary file in the same folder and are renamed into place,
so a reader never sees half an object. Content types are kept beside each
object in a small ``.<name>.type`` file, since a file system has none.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from imgsvc.errors import ObjectNotFound, StorageUnavailable
from imgsvc.storage.base import ObjectInfo, check_key, check_prefix


class FilesystemStorage:
    """Objects stored as files under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        # check_key already forbids "..", but resolve() also follows symlinks.
        if self.root not in path.parents:
            raise ObjectNotFound()
        return path

    @staticmethod
    def _type_path(path: Path) -> Path:
        return path.with_name(f".{path.name}.type")

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._write_atomic(self._type_path(path), content_type.encode())
            self._write_atomic(path, data)
        except OSError as exc:
            raise StorageUnavailable(f"Could not write {key}: {exc.strerror}") from exc

    @staticmethod
    def _write_atomic(path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"No object {key}") from exc
        except OSError as exc:
            raise StorageUnavailable(f"Could not read {key}: {exc.strerror}") from exc

    def head(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise ObjectNotFound(f"No object {key}")
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"No object {key}") from exc
        try:
            content_type = self._type_path(path).read_text()
        except OSError:
            content_type = "application/octet-stream"
        return ObjectInfo(key=key, size=size, content_type=content_type)

    def exists(self, key: str) -> bool:
        try:
            return self._path(key).is_file()
        except ObjectNotFound:
            return False

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list_keys(prefix)
        for key in keys:
            path = self._path(key)
            for victim in (path, self._type_path(path)):
                with contextlib.suppress(FileNotFoundError):
                    victim.unlink()
        folder = self.root / check_prefix(prefix).rstrip("/")
        if prefix.endswith("/") and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
        return len(keys)

    def list_keys(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root / base
        if not start.is_dir():
            return []
        keys = []
        for dirpath, _dirs, files in os.walk(start):
            for name in files:
                if name.startswith("."):
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def list_children(self, prefix: str) -> list[str]:
        folder = self.root / check_prefix(prefix).rstrip("/")
        if not folder.is_dir():
            return []
        return sorted(entry.name for entry in folder.iterdir() if entry.is_dir())

    def ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise StorageUnavailable(f"{self.root} is not writable")
        except OSError as exc:
            raise StorageUnavailable(f"{self.root}: {exc.strerror}") from exc
