"""Large objects written to disk with ``O_DIRECT``: durable in less time.

An upload answers only once its original is durable (written and fsynced).
Through the page cache, a new multi-megabyte file costs the kernel a fresh
cache page per 4 KiB and delayed-allocation bookkeeping, and its fsync then
writes them all out, slower still while workers write their variants; with
``O_DIRECT`` the bytes go from one aligned buffer to the device, and the fsync
only commits the metadata (figures in BENCHMARKS.md, bench-service; see
docs/performance.md).

``O_DIRECT`` wants the buffer, the file offset and the length aligned to the
device's block size: the data is copied into a page-aligned buffer (kept for
the next write), padded to whole pages, and the file is truncated back to its
real length. A file system that refuses ``O_DIRECT`` (tmpfs on older kernels,
some network file systems) or a platform without it gets ``False``, and the
caller writes through the page cache as before. Objects under
``DIRECT_MIN_BYTES`` always go through the cache: for them the saving is
nothing, and readers (a worker reading an original, a variant being served)
find them there.
"""

from __future__ import annotations

import errno
import mmap
import os
import threading

# Below this a buffered write + fsync is already cheap (see BENCHMARKS.md, bench-service).
DIRECT_MIN_BYTES = 1024 * 1024
_PAGE = mmap.PAGESIZE

_local = threading.local()  # one aligned buffer per thread, grown as needed


def write_direct(path: str, data: bytes | bytearray | memoryview) -> bool:
    """Write ``data`` as the whole content of the existing empty file ``path`` with
    ``O_DIRECT`` and fsync it; False where that is not possible (the file may
    then hold part of ``data``: the caller truncates it and writes it again).

    Other errors of the disk (no space, I/O errors) are raised as ``OSError``.
    """
    flag = getattr(os, "O_DIRECT", 0)
    size = len(data)
    if not flag or size < DIRECT_MIN_BYTES:
        return False
    padded = -(-size // _PAGE) * _PAGE
    buffer = _aligned_buffer(padded)
    buffer[:size] = data
    buffer[size:padded] = bytes(padded - size)  # no earlier upload's bytes in the padding
    try:
        fd = os.open(path, os.O_WRONLY | flag)
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # this file system does not take O_DIRECT
            return False
        raise
    try:
        with memoryview(buffer) as view:
            written = 0
            while written < padded:
                written += os.write(fd, view[written:padded])
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # an alignment this device does not take
            return False
        raise
    finally:
        os.close(fd)
    return True


def _aligned_buffer(size: int) -> mmap.mmap:
    """A page-aligned buffer of at least ``size`` bytes (anonymous mmap), reused."""
    buffer = getattr(_local, "buffer", None)
    if buffer is None or len(buffer) < size:
        if buffer is not None:
            buffer.close()
        buffer = _local.buffer = mmap.mmap(-1, size)
    return buffer
