"""The progress of ``imgsvc upload``: a bar on a terminal, plain lines otherwise.

On a terminal one line is redrawn in place (at most ``REDRAWS_PER_SECOND``
times a second): a bar of the bytes sent, images sent of all, images finished.
Anywhere else (a pipe, a CI log) every event is one line of its own, so the
output reads well in a log. Thread-safe: the upload threads report through it.
"""

from __future__ import annotations

import threading
import time
from typing import IO

REDRAWS_PER_SECOND = 10
BAR_WIDTH = 24
MiB = 1024 * 1024


class Progress:
    """Counts of ``files`` images and ``total_bytes`` bytes, shown on ``out``."""

    def __init__(self, files: int, total_bytes: int, out: IO[str]) -> None:
        self.files, self.total_bytes, self.out = files, total_bytes, out
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.bytes_sent = self.uploaded_count = self.finished_count = self.failed_count = 0
        self._lock = threading.Lock()
        self._drawn_at = 0.0

    def sent(self, size: int) -> None:
        """``size`` more bytes sent (negative: an attempt's bytes, to be sent again)."""
        with self._lock:
            self.bytes_sent += size
            self._draw()

    def uploaded(self, path: str, status: str) -> None:
        """One upload answered (``status`` is the image's, or ``error``)."""
        with self._lock:
            self.uploaded_count += 1
            if status == "error":
                self.failed_count += 1
            self._event(f"sent {self.uploaded_count}/{self.files}: {status} {path}")

    def finished(self, path: str, status: str) -> None:
        """One image ended ``done`` or ``failed``."""
        with self._lock:
            self.finished_count += 1
            self.failed_count += status == "failed"
            self._event(f"{status} {self.finished_count}/{self.files}: {path}")

    def message(self, line: str) -> None:
        """A note (a retry, a lost connection): its own line either way."""
        with self._lock:
            self._event(line, always=True)

    def close(self) -> None:
        """End the bar's line (on a terminal)."""
        with self._lock:
            if self.tty:
                self._draw(force=True)
                self.out.write("\n")
                self.out.flush()

    def line(self) -> str:
        """The bar as text."""
        share = self.bytes_sent / self.total_bytes if self.total_bytes else 1.0
        filled = round(max(0.0, min(share, 1.0)) * BAR_WIDTH)
        return (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
            f"{self.bytes_sent / MiB:.1f}/{self.total_bytes / MiB:.1f} MiB  "
            f"sent {self.uploaded_count}/{self.files}  finished {self.finished_count}"
            f"  failed {self.failed_count}"
        )

    def _event(self, text: str, always: bool = False) -> None:
        if not self.tty:
            self.out.write(text + "\n")
            self.out.flush()
        elif always:
            self.out.write("\r\033[K" + text + "\n")
            self._draw(force=True)
        else:
            self._draw()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.tty or (not force and now - self._drawn_at < 1 / REDRAWS_PER_SECOND):
            return
        self._drawn_at = now
        self.out.write("\r\033[K" + self.line())
        self.out.flush()
