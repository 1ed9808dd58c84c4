"""The SSRF guard's address rules, tested without any packet leaving the machine."""

from __future__ import annotations

import ipaddress
import threading
import time

import pytest

from imgsvc.errors import DestinationNotAllowed, FetchFailed, FetchTimeout, InvalidUrl
from imgsvc.netguard import Guard, is_public, literal_address, parse_url


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.0.9",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",
        "100.127.255.254",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "239.1.2.3",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.18.0.1",
        "::1",
        "::",
        "fd00::1",
        "fc00::5",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:a9fe:a9fe",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",
        "100::1",
        "fec0::1",  # site-local, deprecated but still routed inside some networks
        "feff::1",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "1.1.1.1"])
def test_public_addresses_are_allowed(address):
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("[::1]", "::1"),
        ("0", "0.0.0.0"),
    ],
)
def test_legacy_ip_spellings_are_recognised_without_dns(host, address):
    assert literal_address(host) == ipaddress.ip_address(address)


def test_names_are_not_literals():
    assert literal_address("example.org") is None
    assert literal_address("1.2.3.example") is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost/",
        "http://LOCALHOST:8080/",
        "http://a.localhost/",
        "http://[::1]/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00::1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "https://[fe80::1%25eth0]/",
        "http://[fec0::1]/",
        "http://localhost./",
        "http://１２７.０.０.１/",  # fullwidth digits: the IDNA form is 127.0.0.1
        "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/",  # circled letters: localhost
        "http://①②⑦.0.0.1/",
    ],
)
def test_literal_blocked_hosts_are_refused_from_the_url_alone(url):
    with pytest.raises(DestinationNotAllowed):
        Guard().check_literal(url)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://x/",
        "ftp://x/",
        "javascript:alert(1)",
        "//example.org/",
        "example.org",
        "http:///path",
        "http://user:pw@example.org/",
        "http://exa mple.org/",
        "http://example.org:99999/",
        "",
        "http://example.org/\r\nHost: evil",
        "http://" + "ü" * 64 + ".de/",  # a label longer than 63 in its IDNA form
        "http://bücher\u00a0.de/",  # a no-break space: no host name character
    ],
)
def test_anything_but_absolute_http_urls_is_invalid(url):
    with pytest.raises(InvalidUrl):
        Guard().check_literal(url)


def stub_resolver(table: dict[str, list[str]]):
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize(
    "private",
    [
        "10.0.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "fd00::1",
        "::ffff:a9fe:a9fe",
        "127.0.0.1",
        "fec0::1",
    ],
)
def test_names_resolving_to_private_addresses_are_refused(private):
    guard = Guard(resolver=stub_resolver({"internal.example": [private]}))
    with pytest.raises(DestinationNotAllowed):
        guard.resolve("internal.example", 80)


def test_every_resolved_address_must_be_public():
    guard = Guard(resolver=stub_resolver({"mixed.example": ["93.184.216.34", "10.1.2.3"]}))
    with pytest.raises(DestinationNotAllowed):
        guard.resolve("mixed.example", 80)


def test_unresolvable_name_is_fetch_failed():
    with pytest.raises(FetchFailed) as info:
        Guard(resolver=stub_resolver({})).resolve("nowhere.invalid", 80)
    assert not info.value.retryable


def test_allowlist_opens_exactly_one_host_and_port():
    guard = Guard(["127.0.0.1:8123", "[::1]:9000"])
    assert guard.allowed("127.0.0.1", ipaddress.ip_address("127.0.0.1"), 8123)
    assert not guard.allowed("127.0.0.1", ipaddress.ip_address("127.0.0.1"), 8124)
    assert not guard.allowed("127.0.0.2", ipaddress.ip_address("127.0.0.2"), 8123)
    assert guard.allowed("::1", ipaddress.ip_address("::1"), 9000)
    guard.check_literal("http://127.0.0.1:8123/page")
    with pytest.raises(DestinationNotAllowed):
        guard.check_literal("http://127.0.0.1:8124/page")
    with pytest.raises(DestinationNotAllowed):
        guard.check_literal("http://localhost:8123/page")


def test_international_names_become_their_idna_form():
    parts = parse_url("https://Bücher.de:8443/p?q=1")
    assert (parts.hostname, parts.netloc, parts.port) == (
        "xn--bcher-kva.de",
        "xn--bcher-kva.de:8443",
        8443,
    )
    assert parse_url("http://例え。jp/").netloc == "xn--r8jz45g.jp"
    assert parse_url("http://example.org/").netloc == "example.org"  # ASCII names as given


def test_the_allowlist_takes_international_names():
    guard = Guard(["bücher.de:8080"])
    assert ("xn--bcher-kva.de", 8080) in guard.allowlist


def test_a_lookup_that_does_not_answer_ends_at_its_timeout():
    release = threading.Event()

    def hanging(host: str, port: int) -> list[str]:
        release.wait(60)
        return ["93.184.216.34"]

    started = time.monotonic()
    try:
        with pytest.raises(FetchTimeout):
            Guard(resolver=hanging).resolve("slow.example", 80, timeout=0.5)
        assert time.monotonic() - started < 2
    finally:
        release.set()


def test_a_lookup_within_its_timeout_is_checked_like_any_other():
    mixed = stub_resolver({"mixed.example": ["93.184.216.34", "fec0::2"]})
    with pytest.raises(DestinationNotAllowed):
        Guard(resolver=mixed).resolve("mixed.example", 80, timeout=5)
    with pytest.raises(FetchFailed):
        Guard(resolver=stub_resolver({})).resolve("nowhere.invalid", 80, timeout=5)
    public = stub_resolver({"ok.example": ["93.184.216.34"]})
    addresses = Guard(resolver=public).resolve("ok.example", 80, timeout=5)
    assert addresses == [ipaddress.ip_address("93.184.216.34")]
