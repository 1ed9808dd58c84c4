"""Loopback ports: a free one, and a listener that counts connections."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
