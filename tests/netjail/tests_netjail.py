"""The loopback-only socket jail, for the test process and its subprocesses.

``TESTS_NETJAIL_ALLOW`` (a CIDR) also lets one private network through: the
multi-host rehearsal sets it to ``198.18.0.0/24`` for its processes, an
address range that exists only inside the network namespaces it creates.
"""

from __future__ import annotations

import ipaddress
import os
import socket

attempts: list[tuple[str, int]] = []
_ALLOWED = [
    ipaddress.ip_network(item.strip())
    for item in os.environ.get("TESTS_NETJAIL_ALLOW", "").split(",")
    if item.strip()
]
_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX paths and the like never leave the machine
    host = str(address[0]).split("%")[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or any(ip in network for network in _ALLOWED)


def _check(address: object) -> None:
    if not _is_loopback(address):
        attempts.append((str(address[0]), int(address[1])))  # type: ignore[index]
        raise PermissionError(f"test jail: connect to {address!r} refused (loopback only)")


def _connect(self: socket.socket, address: object) -> None:
    _check(address)
    return _original_connect(self, address)


def _connect_ex(self: socket.socket, address: object) -> int:
    _check(address)
    return _original_connect_ex(self, address)


def install() -> None:
    """Patch ``socket.socket`` so only loopback connects go through."""
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]


install()
