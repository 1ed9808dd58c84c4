"""Small helpers for tests: free ports and polling with a deadline."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TypeVar

from benchmarks.stack import free_port as free_port  # one definition for tests and benchmarks
from benchmarks.stack import wait_for

T = TypeVar("T")


def wait_until(
    check: Callable[[], T], timeout: float = 30, interval: float = 0.05, message: str = ""
) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` s."""
    try:
        return wait_for(check, timeout, message or "condition not met", interval=interval)
    except TimeoutError as exc:
        raise AssertionError(str(exc)) from None


class ConnectionCounter:
    """Listens on 127.0.0.1 and [::1] at one port and counts every connection made."""

    def __init__(self) -> None:
        import threading

        self.count = 0
        self._sockets: list[socket.socket] = []
        v4 = socket.socket(socket.AF_INET)
        v4.bind(("127.0.0.1", 0))
        self.port = v4.getsockname()[1]
        self._sockets.append(v4)
        try:
            v6 = socket.socket(socket.AF_INET6)
            v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            v6.bind(("::1", self.port))
            self._sockets.append(v6)
        except OSError:
            pass  # no IPv6 loopback here: IPv6 attempts then fail to connect at all
        for sock in self._sockets:
            sock.listen(16)
            sock.settimeout(0.2)
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.count += 1
            conn.close()

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()
