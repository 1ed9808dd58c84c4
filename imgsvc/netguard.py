"""Which network destinations the word counter may reach (the SSRF guard).

Only public unicast addresses are allowed, plus the exact ``host:port``
pairs of ``FETCH_ALLOWLIST``. Addresses are checked after resolution, and the
fetcher connects to the very address that was checked. Host names are
handled in their ASCII form: an internationalised name becomes its IDNA
(UTS 46, as browsers do) form before any check, lookup or request, so
``http://１２７.０.０.１/`` is the loopback literal it spells.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Iterable
from urllib.parse import SplitResult, urlsplit

import idna

from imgsvc.errors import DestinationNotAllowed, FetchFailed, FetchTimeout, InvalidUrl

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
DEFAULT_PORTS = {"http": 80, "https": 443}
# inet_aton accepts 127.1, 2130706433, 0x7f000001 and 0177.0.0.1: all loopback.
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)


def parse_url(url: str) -> SplitResult:
    """Split an absolute http(s) URL; raise ``InvalidUrl`` for anything else.

    A non-ASCII host name comes back in its ASCII (IDNA) form, in ``netloc``
    and ``hostname`` alike.
    """
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
    if not parts.hostname.isascii():
        host = ascii_host(parts.hostname)
        parts = parts._replace(netloc=host if parts.port is None else f"{host}:{parts.port}")
    return parts


def ascii_host(host: str) -> str:
    """``host`` as DNS and the ``Host`` header carry it: IDNA (UTS 46, non-transitional,
    like browsers: ``straße.de`` is not ``strasse.de``) for a non-ASCII name."""
    if host.isascii():
        return host.lower()
    try:
        return idna.encode(host, uts46=True, transitional=False).decode("ascii")
    except UnicodeError as exc:  # idna.IDNAError is one
        raise InvalidUrl(f"The host name is not a valid international name: {exc}") from exc


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
        if address.teredo is not None or address.is_site_local:  # fec0::/10, deprecated
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
        name = host.rstrip(".")
        named_loopback = name == "localhost" or name.endswith(".localhost")
        if named_loopback and (host, port) not in self.allowlist:
            raise DestinationNotAllowed(f"{host} is not an allowed destination.")
        address = literal_address(host)
        if address is not None and not self.allowed(host, address, port):
            raise DestinationNotAllowed(f"{address} is not a public address.")
        return parts

    def resolve(self, host: str, port: int, timeout: float | None = None) -> list[IPAddress]:
        """Every address of ``host``; all must be allowed, else ``DestinationNotAllowed``.

        A name that does not resolve is ``FetchFailed``; one whose lookup takes
        longer than ``timeout`` seconds is ``FetchTimeout``.
        """
        literal = literal_address(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = [
                    ipaddress.ip_address(a.split("%")[0]) for a in self._lookup(host, port, timeout)
                ]
            except (OSError, UnicodeError, ValueError) as exc:
                raise FetchFailed(f"The name {host!r} does not resolve.") from exc
        if not addresses:
            raise FetchFailed(f"The name {host!r} does not resolve.")
        for address in addresses:
            if not self.allowed(host, address, port):
                raise DestinationNotAllowed(f"{host} resolves to {address}, which is not public.")
        return addresses

    def _lookup(self, host: str, port: int, timeout: float | None) -> list[str]:
        """The resolver's answer, waited for at most ``timeout`` seconds.

        getaddrinfo cannot be interrupted, so it runs in a daemon thread that
        is left behind on a timeout; the system resolver's own timeouts end it.
        """
        if timeout is None:
            return self.resolver(host, port)
        answer: list[list[str]] = []
        failure: list[BaseException] = []
        done = threading.Event()

        def run() -> None:
            try:
                answer.append(self.resolver(host, port))
            except BaseException as exc:  # handed to the waiting caller
                failure.append(exc)
            finally:
                done.set()

        threading.Thread(target=run, name=f"resolve {host}", daemon=True).start()
        if not done.wait(timeout):
            raise FetchTimeout(f"Looking up {host!r} took longer than the fetch may take.")
        if failure:
            raise failure[0]
        return answer[0]


def parse_allow_entry(entry: str) -> tuple[str, int]:
    """``"host:port"`` or ``"[v6]:port"`` → ``(host, port)``."""
    host, _, port = entry.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"FETCH_ALLOWLIST entries are host:port, not {entry!r}")
    try:
        return ascii_host(host.strip("[]")), int(port)
    except InvalidUrl as exc:
        raise ValueError(f"FETCH_ALLOWLIST: {exc.message}") from exc


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the system resolver (getaddrinfo), TCP addresses only."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
