"""The fetcher against a local page server; private ranges through a jailed socket layer."""

from __future__ import annotations

import resource
import threading
import time

import pytest

from imgsvc.errors import (
    DestinationNotAllowed,
    FetchFailed,
    FetchTimeout,
    FetchTooLarge,
    UnsupportedContentType,
)
from imgsvc.fetch import FetchLimits, charset_of, fetch_page
from imgsvc.netguard import Guard
from tests.support.pageserver import KNOWN_HTML, PageServer


@pytest.fixture
def guard(pages: PageServer) -> Guard:
    return Guard([pages.allow_entry])


def test_fetches_an_allowlisted_page(pages, guard):
    page = fetch_page(f"{pages.base}/known", guard)
    assert page.text == KNOWN_HTML
    assert page.content_type == "text/html"


def test_loopback_is_closed_without_the_allowlist(pages):
    with pytest.raises(DestinationNotAllowed):
        fetch_page(f"{pages.base}/known", Guard())


def test_redirect_to_a_blocked_address_is_refused(pages, guard, loopback_only):
    for target in (
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://127.0.0.1:1/",
        "http://[::1]/",
        "http://localhost/",
    ):
        with pytest.raises(DestinationNotAllowed):
            fetch_page(f"{pages.base}/redirect?to={target}", guard)
    assert loopback_only == []


def test_redirect_loop_fails(pages, guard):
    with pytest.raises(FetchFailed, match="redirects"):
        fetch_page(f"{pages.base}/loop", guard)


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/huge", FetchTooLarge),
        ("/huge-declared", FetchTooLarge),
        ("/gzip-bomb", FetchTooLarge),
        ("/png", UnsupportedContentType),
        ("/missing", FetchFailed),
    ],
)
def test_bad_pages_fail_with_their_code_in_bounded_time_and_memory(pages, guard, path, error):
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(error):
        fetch_page(f"{pages.base}{path}", guard, FetchLimits(max_bytes=2 * 1024 * 1024))
    assert time.monotonic() - started < 10
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown_kib < 64 * 1024  # a 50 MiB body or a 100 MiB bomb never sits in memory


def test_a_trickle_stops_at_the_deadline(pages, guard):
    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        fetch_page(f"{pages.base}/trickle", guard, FetchLimits(timeout=2))
    assert 1.5 < time.monotonic() - started < 5


def test_server_errors_are_retryable_client_errors_are_not(pages, guard):
    with pytest.raises(FetchFailed) as server_error:
        fetch_page(f"{pages.base}/error", guard)
    assert server_error.value.retryable
    with pytest.raises(FetchFailed) as client_error:
        fetch_page(f"{pages.base}/missing", guard)
    assert not client_error.value.retryable


def test_refused_connection_is_retryable_fetch_failed(guard):
    from tests.support import free_port

    port = free_port()
    with pytest.raises(FetchFailed) as info:
        fetch_page(f"http://127.0.0.1:{port}/", Guard([f"127.0.0.1:{port}"]))
    assert info.value.retryable


@pytest.mark.parametrize(
    "private",
    [
        "10.0.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "fd00::1",
        "::ffff:a9fe:a9fe",
        "fec0::1",
    ],
)
def test_names_resolving_to_private_ranges_never_connect(private, loopback_only):
    guard = Guard(resolver=lambda host, port: [private])
    with pytest.raises(DestinationNotAllowed):
        fetch_page("http://intranet.example/", guard)
    assert loopback_only == []  # the jail saw no connect attempt at all


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00::1]/",
        "http://[::ffff:a9fe:a9fe]/",
    ],
)
def test_private_literals_never_connect(url, loopback_only):
    with pytest.raises(DestinationNotAllowed):
        fetch_page(url, Guard())
    assert loopback_only == []


def test_connects_to_the_checked_address_without_a_second_lookup(loopback_only):
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])  # a rebinding resolver
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    with pytest.raises(FetchFailed):  # the jail refuses the public address: no packet
        fetch_page("http://rebind.example/", Guard(resolver=rebinding))
    assert calls == ["rebind.example"]
    assert loopback_only == [("93.184.216.34", 80)]
    loopback_only.clear()


def stub_resolver(table: dict[str, str]):
    """Answers for the names in ``table`` and records every name it was asked."""
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        if host not in table:
            raise OSError("Name or service not known")
        return [table[host]]

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize(
    ("name", "ascii_name"),
    [
        ("bücher.de", "xn--bcher-kva.de"),  # Latin-1 encodable: must not be sent raw
        ("例え.jp", "xn--r8jz45g.jp"),  # not Latin-1 at all
        ("BÜCHER.de", "xn--bcher-kva.de"),
        ("straße.de", "xn--strae-oqa.de"),  # UTS 46 as browsers: not strasse.de
    ],
)
def test_international_names_are_looked_up_and_sent_in_their_idna_form(pages, name, ascii_name):
    resolver = stub_resolver({ascii_name: "127.0.0.1"})
    guard = Guard([pages.allow_entry], resolver=resolver)
    page = fetch_page(f"http://{name}:{pages.port}/echo-host", guard)
    assert page.text == f"{ascii_name}:{pages.port}"
    assert resolver.asked == [ascii_name]


def test_a_redirect_to_an_international_name_is_followed_in_its_idna_form(pages):
    resolver = stub_resolver({"xn--r8jz45g.jp": "127.0.0.1"})
    guard = Guard([pages.allow_entry], resolver=resolver)
    target = f"http://例え.jp:{pages.port}/echo-host"
    page = fetch_page(f"{pages.base}/redirect?to={target}", guard)
    assert page.text == f"xn--r8jz45g.jp:{pages.port}"


def test_a_non_ascii_path_is_sent_percent_encoded(pages, guard):
    with pytest.raises(FetchFailed, match="404"):
        fetch_page(f"{pages.base}/café?q=ü", guard)
    assert pages.hits["/caf%C3%A9"] >= 1


def test_a_slow_name_lookup_ends_at_the_deadline(loopback_only):
    release = threading.Event()

    def hanging(host: str, port: int) -> list[str]:
        release.wait(60)  # a resolver that does not answer
        return ["93.184.216.34"]

    started = time.monotonic()
    try:
        with pytest.raises(FetchTimeout):
            fetch_page("http://slow-dns.example/", Guard(resolver=hanging), FetchLimits(timeout=1))
        assert time.monotonic() - started < 3
    finally:
        release.set()
    assert loopback_only == []


def test_malformed_chunked_encoding_is_fetch_failed(pages, guard):
    with pytest.raises(FetchFailed, match="IncompleteRead"):  # as a cut connection: retried
        fetch_page(f"{pages.base}/bad-chunks", guard)


@pytest.mark.parametrize(
    ("content_type", "codec"),
    [
        ("text/html; charset=UTF-8", "utf-8"),
        ('text/html; charset="koi8-r"', "koi8-r"),
        ("text/html;charset=windows-1251", "cp1251"),
        ("text/html; charset=Shift_JIS", "shift_jis"),
        ("text/html; charset=windows-874", "cp874"),
        ("text/html", "utf-8"),
        ("text/html; charset=punycode", "utf-8"),
        ("text/html; charset=idna", "utf-8"),
        ("text/html; charset=utf-7", "utf-8"),
        ("text/html; charset=rot13", "utf-8"),
        ("text/html; charset=zlib", "utf-8"),
        ("text/html; charset=no-such-charset", "utf-8"),
        ("text/html; charset=../../os", "utf-8"),
        ("text/html; charset*=punycode''x", "utf-8"),
    ],
)
def test_only_text_charsets_browsers_know_are_used(content_type, codec):
    assert charset_of(content_type) == codec
