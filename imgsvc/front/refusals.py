"""The front's refusals, counted for ``/metrics`` from its log.

nginx writes one line per request it refused or cut off
(``<FRONT_DIR>/refusals.log``: time, status, bytes received, seconds,
method). A web process reads only what was appended since its last scrape,
so a scrape costs what happened since the one before, not the log's length.
A log that was rotated (another inode, or shorter than what was read) is read
from its start; the counts keep growing, as a counter must.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily

LOG_NAME = "refusals.log"
# Closed set: a status the template does not log still has one label.
REASONS = {
    "408": "timeout",
    "413": "too_large",
    "429": "too_many_connections",
    "502": "app_unavailable",
    "503": "app_unavailable",
    "504": "app_unavailable",
}


class RefusalCollector:
    """``imgsvc_front_refusals_total{reason}``: timeouts, too large, too many, app down."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / LOG_NAME
        self.counts = dict.fromkeys(sorted(set(REASONS.values()) | {"other"}), 0)
        self._inode: int | None = None
        self._offset = 0
        self._lock = threading.Lock()

    def collect(self) -> Iterator[CounterMetricFamily]:
        with self._lock:
            self._read_new_lines()
            family = CounterMetricFamily(
                "imgsvc_front_refusals",
                "Requests the front (nginx) refused or cut off, by reason.",
                labels=["reason"],
            )
            for reason, count in self.counts.items():
                family.add_metric([reason], count)
        yield family

    def _read_new_lines(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                if stat.st_ino != self._inode or stat.st_size < self._offset:
                    self._inode, self._offset = stat.st_ino, 0
                handle.seek(self._offset)
                data = handle.read()
        except OSError:
            return  # no front on this machine, or it refused nothing yet
        complete = data.rfind(b"\n") + 1  # a line still being written waits for the next scrape
        self._offset += complete
        for line in data[:complete].splitlines():
            fields = line.split()
            status = fields[1].decode("ascii", "replace") if len(fields) > 1 else ""
            reason = REASONS.get(status, "other")
            self.counts[reason] += 1
