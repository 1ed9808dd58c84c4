"""Which network destinations the word counter may reach (the SSRF guard).

Only public unicast addresses are allowed, plus the exact ``host:port``
pairs of ``FETCH_ALLOWLIST``. Addresses are checked after resolution, and the
fetcher connects to the very address that was checked.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from urllib.parse import SplitResult, urlsplit

from imgsvc.errors import DestinationNotAllowed, FetchFailed, InvalidUrl

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
DEFAULT_PORTS = {"http": 80, "https": 443}
# inet_aton accepts 127.1, 2130706433, 0x7f000001 and 0177.0.0.1: all loopback.
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)


def parse_url(url: str) -> SplitResult:
    """Split an absolute http(s) URL; raise ``InvalidUrl`` for anything else."""
    if not isinstance(url, str) or len(url) > 2048 or any(c in url for c in "\r\n\t\x00 "):
        raise InvalidUrl()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidUrl(f"Malformed URL: {exc}") from exc
    if parts.scheme.lower() not in DEFAULT_PORTS:
        raise InvalidUrl("Only http:// and https:// URLs can be counted.")
    if not parts.hostname:
        raise InvalidUrl("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise InvalidUrl("URLs with credentials are not accepted.")
    if port == 0:
        raise InvalidUrl("Port 0 is not a valid port.")
    return parts


def url_port(parts: SplitResult) -> int:
    return parts.port or DEFAULT_PORTS[parts.scheme.lower()]


def literal_address(host: str) -> IPAddress | None:
    """The address a host names without DNS: IP literals in any legacy spelling."""
    host = host.strip("[]").lower()
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is public unicast (IPv4-mapped IPv6 is judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_public(mapped)
        if address.teredo is not None:
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


class Guard:
    """Decides whether a resolved destination may be contacted."""

    def __init__(self, allowlist: Iterable[str] = (), resolver: Resolver | None = None) -> None:
        self.allowlist = {parse_allow_entry(entry) for entry in allowlist}
        self.resolver = resolver or system_resolver

    def allowed(self, host: str, address: IPAddress, port: int) -> bool:
        host = host.strip("[]").lower()
        if (host, port) in self.allowlist or (str(address), port) in self.allowlist:
            return True
        return is_public(address)

    def check_literal(self, url: str) -> SplitResult:
        """Refuse at once what the URL alone shows: bad syntax, blocked literal hosts."""
        parts = parse_url(url)
        host, port = parts.hostname or "", url_port(parts)
        named_loopback = host == "localhost" or host.endswith(".localhost")
        if named_loopback and (host, port) not in self.allowlist:
            raise DestinationNotAllowed(f"{host} is not an allowed destination.")
        address = literal_address(host)
        if address is not None and not self.allowed(host, address, port):
            raise DestinationNotAllowed(f"{address} is not a public address.")
        return parts

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address of ``host``; all must be allowed, else ``DestinationNotAllowed``."""
        literal = literal_address(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = [
                    ipaddress.ip_address(a.split("%")[0]) for a in self.resolver(host, port)
                ]
            except (OSError, UnicodeError, ValueError) as exc:
                raise FetchFailed(f"The name {host!r} does not resolve.") from exc
        if not addresses:
            raise FetchFailed(f"The name {host!r} does not resolve.")
        for address in addresses:
            if not self.allowed(host, address, port):
                raise DestinationNotAllowed(f"{host} resolves to {address}, which is not public.")
        return addresses


def parse_allow_entry(entry: str) -> tuple[str, int]:
    """``"host:port"`` or ``"[v6]:port"`` → ``(host, port)``."""
    host, _, port = entry.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"FETCH_ALLOWLIST entries are host:port, not {entry!r}")
    return host.strip("[]").lower(), int(port)


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the system resolver (getaddrinfo), TCP addresses only."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))
