"""Upload buffers reused between requests, not mapped afresh for each one.

glibc's malloc serves a block of 128 KiB or more (a threshold that grows up
to 32 MiB as such blocks are freed, but only one block size at a time) with a
fresh ``mmap`` and gives it back to the kernel when freed. An upload's body
is several such blocks (the socket reads, gunicorn's buffer, the joined body,
the file part), so every request page-faulted its way through fresh zeroed
memory, a fault per page of every copy: a large share of an upload's time
(figures in BENCHMARKS.md, bench-service; see docs/performance.md).

A web process calls ``retain_freed_memory`` once: blocks up to the upload
limit come from malloc's heap, and freed heap memory is kept for the next
request instead of being trimmed. The process then stays at the size of its
largest request (a few times ``MAX_CONTENT_LENGTH``), which it reached anyway
while serving it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# mallopt(3) parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc refuses a larger mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX).
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024
# Freed heap kept, in upload limits: the body's copies alive at once in a request.
_KEPT_UPLOADS = 4


def retain_freed_memory(upload_limit: int) -> bool:
    """Serve blocks up to ``upload_limit`` (capped at 32 MiB) from malloc's heap and
    keep freed memory for reuse; whether it applied (False where malloc is not glibc's)."""
    threshold = max(128 * 1024, min(int(upload_limit) + 1024 * 1024, _MMAP_THRESHOLD_MAX))
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # musl, macOS: their allocators differ
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    applied = mallopt(_M_MMAP_THRESHOLD, threshold) == 1 and (
        mallopt(_M_TRIM_THRESHOLD, threshold * _KEPT_UPLOADS) == 1
    )
    if not applied:
        log.warning("could not tune malloc for uploads; each one maps fresh memory")
    return applied
