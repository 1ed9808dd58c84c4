"""Filesystem storage: one file per key under a root folder.

Writes go to a temporary file in the same folder, fsynced, and are renamed
into place, so a reader never sees half an object; ``sync`` then makes the
names of a folder's objects durable (a rename survives a power cut once its
folder is fsynced). Content types are kept beside each
object in a small ``.<name>.type`` file, since a file system has none.

Nothing outside the root is read, written or listed: keys are checked by
``check_key``, and symbolic links below the root are never followed (a key
whose path crosses one is an ``InvalidKey``; listings skip them). The root
itself may be a link: it is resolved once, when the backend is built.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from imgsvc.errors import InvalidKey, ObjectNotFound, StorageUnavailable
from imgsvc.storage.base import ObjectInfo, check_key, check_prefix, is_key_part
from imgsvc.storage.directio import write_direct

DEFAULT_CONTENT_TYPE = "application/octet-stream"


def _fsync_folder(folder: Path) -> None:
    """Make the names in ``folder`` durable (a file system without it is skipped)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):  # no fsync of folders there
            raise
    finally:
        os.close(fd)


def _in_memory(data: bytes | BinaryIO) -> bytes | bytearray | memoryview | None:
    """The bytes of ``data`` from its position on, when they are in memory (no copy)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return data
    getbuffer = getattr(data, "getbuffer", None)  # io.BytesIO, an upload's PartFile
    return getbuffer()[data.tell() :] if getbuffer else None


class FilesystemStorage:
    """Objects stored as files under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        """The file of ``key``; ``InvalidKey`` if a symlink lies on its way."""
        path = self.root / check_key(key)
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop
            raise InvalidKey() from exc
        # check_key forbids "." and "..", so the only way the resolved path can
        # differ from the plain one is a symlink somewhere below the root.
        if resolved != path:
            raise InvalidKey()
        return path

    def _folder(self, key: str) -> Path:
        """The folder of a key prefix's leading parts ("" is the root)."""
        return self._path(key) if key else self.root

    def sync(self, prefix: str) -> None:
        """fsync the folder of ``prefix`` and its parent: a rename is durable once its
        folder is, and a new folder once its parent is.

        Each costs a journal commit, which waits for the commits of other
        writers: with workers writing, an upload that synced the folder after
        each of its objects was measurably slower (BENCHMARKS.md,
        bench-service), so callers sync once, after the last object of a group
        (``images.save_manifest``).
        """
        folder = self._folder(check_prefix(prefix).rstrip("/"))
        try:
            _fsync_folder(folder)
            if folder != self.root:
                _fsync_folder(folder.parent)
        except FileNotFoundError:
            return  # nothing stored there
        except OSError as exc:
            raise StorageUnavailable(f"Could not sync {prefix}: {exc.strerror}") from exc

    @staticmethod
    def _type_path(path: Path) -> Path:
        return path.with_name(f".{path.name}.type")

    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> None:
        """Store ``data`` under ``key`` atomically, replacing any object there."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Data first: if it fails, nothing has changed at all.
            self._write_atomic(path, data)
            # The type file is a hint (media responses take the type from the
            # manifest), so it skips the fsync that the data needs.
            self._write_atomic(self._type_path(path), content_type.encode(), durable=False)
        except OSError as exc:
            raise StorageUnavailable(f"Could not write {key}: {exc.strerror}") from exc

    @staticmethod
    def _write_atomic(path: Path, data: bytes | BinaryIO, durable: bool = True) -> None:
        """Write a temp file beside ``path`` and rename it over ``path``.

        A large object held in memory is written with ``O_DIRECT`` where the file
        system takes it (``directio``): the upload's durable write in half the time.
        """
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            payload = _in_memory(data)
            if durable and payload is not None and write_direct(tmp, payload):
                os.close(fd)
            else:
                with os.fdopen(fd, "wb") as handle:
                    handle.truncate(0)  # an O_DIRECT attempt may have left a part
                    if payload is not None:
                        handle.write(payload)
                    elif not isinstance(data, bytes):  # always: bytes are in memory
                        shutil.copyfileobj(data, handle, 1024 * 1024)
                    handle.flush()
                    if durable:
                        os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``."""
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"No object {key}") from exc
        except OSError as exc:
            raise StorageUnavailable(f"Could not read {key}: {exc.strerror}") from exc

    def head(self, key: str) -> ObjectInfo:
        """Size and content type of ``key``."""
        path = self._path(key)
        try:
            info = path.stat()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"No object {key}") from exc
        except OSError as exc:
            raise StorageUnavailable(f"Could not read {key}: {exc.strerror}") from exc
        if not stat.S_ISREG(info.st_mode):
            raise ObjectNotFound(f"No object {key}")
        try:
            content_type = self._type_path(path).read_text()
        except OSError:
            content_type = DEFAULT_CONTENT_TYPE
        return ObjectInfo(key, info.st_size, content_type, modified=info.st_mtime)

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        path = self._path(key)
        try:
            return path.is_file()
        except OSError as exc:
            raise StorageUnavailable(f"Could not read {key}: {exc.strerror}") from exc

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix``; return how many."""
        keys = self.list_keys(prefix)
        for key in keys:
            path = self._path(key)
            for victim in (path, self._type_path(path)):
                try:
                    victim.unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise StorageUnavailable(f"Could not delete {key}: {exc.strerror}") from exc
        self._prune(prefix)
        return len(keys)

    def _prune(self, prefix: str) -> None:
        """Remove the folders under ``prefix`` that are now empty, deepest first."""
        folder = self._folder(prefix.rpartition("/")[0])
        for dirpath, _dirs, _files in os.walk(folder, topdown=False):
            path = Path(dirpath)
            if path != self.root and f"{path.relative_to(self.root).as_posix()}/".startswith(
                prefix
            ):
                with contextlib.suppress(OSError):  # not empty: someone wrote meanwhile
                    path.rmdir()

    def list_keys(self, prefix: str) -> list[str]:
        """Every key that starts with ``prefix``, sorted."""
        return list(self.iter_keys(prefix))

    def iter_keys(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        """The keys under ``prefix`` after the key ``start_after``, in key order; a
        folder is read when the walk reaches it, and only if it can hold such keys."""
        parent = check_prefix(prefix).rpartition("/")[0]
        keys = self._keys_after(self._folder(parent), f"{parent}/" if parent else "", start_after)
        return (key for key in keys if key.startswith(prefix))

    def _keys_after(self, folder: Path, base: str, start_after: str) -> Iterator[str]:
        """The keys below ``folder`` (whose keys start with ``base``) after
        ``start_after``, in key order."""
        if start_after.startswith(base):
            floor = start_after[len(base) :]
        elif start_after < base:
            floor = ""
        else:  # every key here sorts before start_after
            return
        # An entry's keys all start with base + its name: one whose name sorts below
        # the floor holds none after start_after (half a big folder, mid-pass).
        kept = [e for e in _entries(folder) if e.name >= floor[: len(e.name)]]
        # A folder's keys sort as its name + "/" does: "a/x" comes after "a-b".
        named = [
            (base + e.name + ("/" if e.is_dir(follow_symlinks=False) else ""), e) for e in kept
        ]
        for key, entry in sorted(named, key=lambda pair: pair[0]):
            if not is_key_part(entry.name) or entry.is_symlink():
                continue
            if not key.endswith("/"):
                if entry.is_file(follow_symlinks=False) and key > start_after:
                    yield key
            elif key > start_after or start_after.startswith(key):
                yield from self._keys_after(Path(entry.path), key, start_after)

    def ping(self) -> None:
        """Raise ``StorageUnavailable`` unless the root is a writable folder."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise StorageUnavailable(f"{self.root} is not writable")
        except OSError as exc:
            raise StorageUnavailable(f"{self.root}: {exc.strerror}") from exc


def _entries(folder: Path) -> list[os.DirEntry]:
    """The entries of ``folder``; none if it is missing."""
    try:
        return list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise StorageUnavailable(f"Could not list {folder}: {exc.strerror}") from exc
