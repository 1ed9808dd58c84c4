"""Adversarial pages for the word counter, served by tests/support/pageserver.py at /hostile?kind=.

Each is as large as the default FETCH_MAX_BYTES allows: nested-tag and
comment floods, the inputs that make Python's html.parser quadratic or
raise, hostile and real charsets, and broken compression. The tests hold
what each must give (tests/wordcount/test_hostile.py).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from functools import cache

SIZE = 2 * 1024 * 1024 - 1024  # just under FETCH_MAX_BYTES' default
HTML = "text/html; charset=utf-8"
UTF16_WORDS = SIZE // 10 - 1  # two bytes a character


def _fill(unit: str, head: str = "", tail: str = "") -> bytes:
    """``head``, then ``unit`` repeated to fill SIZE bytes, then ``tail``."""
    room = SIZE - len(head.encode()) - len(tail.encode())
    return (head + unit * (room // len(unit.encode())) + tail).encode()


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def repeats(kind: str, unit: str) -> int:
    """How many times a page repeats ``unit`` (what its word count follows from)."""
    head, tail = _FRAMES.get(kind, ("", ""))
    return (SIZE - len(head.encode()) - len(tail.encode())) // len(unit.encode())


_FRAMES = {
    "nested-svg": ("<p>before</p><svg>", "</svg><p>after"),
    "unclosed-comment": ("<p>seen</p>", ""),
    "attribute-flood": ("<p ", ">word"),
    "script-false-ends": ("<script>", "</script>word"),
    "hidden-inline": ("<object>", "</object>after"),
}


def _framed(kind: str, unit: str) -> bytes:
    head, tail = _FRAMES[kind]
    return _fill(unit, head, tail)


# kind -> (Content-Type, body, extra headers)
Page = tuple[str, bytes, dict[str, str]]
_MAKERS: dict[str, Callable[[], Page]] = {
    # Markup floods.
    "nested-svg": lambda: (HTML, _framed("nested-svg", "<g>"), {}),
    "hidden-inline": lambda: (HTML, _framed("hidden-inline", "<span>x"), {}),
    "nested-div": lambda: (HTML, _fill("<div>word "), {}),
    "comment-flood": lambda: (HTML, _fill("<!-- c -->word "), {}),
    "unclosed-comment": lambda: (HTML, _framed("unclosed-comment", "<!--"), {}),
    "unclosed-tags": lambda: (HTML, _fill("<a "), {}),
    "marked-sections": lambda: (HTML, _fill("<!["), {}),
    "processing-instructions": lambda: (HTML, _fill("<?"), {}),
    "end-tag-flood": lambda: (HTML, _fill("</a"), {}),
    "lt-flood": lambda: (HTML, _fill("< "), {}),
    "entity-flood": lambda: (HTML, _fill("&#x41; "), {}),
    "misnested": lambda: (HTML, _fill("<b><i>x</b></i> "), {}),
    "table-flood": lambda: (HTML, _fill("<table><tr><td>x"), {}),
    "attribute-flood": lambda: (HTML, _framed("attribute-flood", "a=1 "), {}),
    "script-false-ends": lambda: (HTML, _framed("script-false-ends", "</scr"), {}),
    "plain-words": lambda: ("text/plain; charset=utf-8", _fill("word "), {}),
    # Charsets: labels that are no text encoding browsers know are read as UTF-8.
    **{
        f"charset-{label}": (
            lambda label=label: (f"text/html; charset={label}", _fill("word "), {})
        )
        for label in ("punycode", "idna", "utf-7", "rot13", "base64", "hex", "unicode_escape")
    },
    "charset-rfc2231": lambda: ("text/html; charset*=punycode''abc", _fill("word "), {}),
    "charset-koi8-r": lambda: (
        "text/html; charset=koi8-r",
        _fill("привет ").decode().encode("koi8-r"),
        {},
    ),
    "bom-wins": lambda: ("text/html; charset=koi8-r", b"\xef\xbb\xbf" + _fill("déjà "), {}),
    "utf-16-bom": lambda: ("text/html", ("\ufeff" + "word " * UTF16_WORDS).encode("utf-16-le"), {}),
    # Compression.
    "gzip-garbage": lambda: (
        HTML,
        b"\x1f\x8b\x08\x00" + b"\xff" * 4096,
        {"Content-Encoding": "gzip"},
    ),
    "deflate-garbage": lambda: (
        HTML,
        b"\x78\x9c" + b"\xff" * 4096,
        {"Content-Encoding": "deflate"},
    ),
    "gzip-truncated": lambda: (
        HTML,
        _half(gzip.compress(_fill("word "))),
        {"Content-Encoding": "gzip"},
    ),
    "gzip-trailing-junk": lambda: (
        HTML,
        gzip.compress(_fill("word ")) + b"junk after the stream",
        {"Content-Encoding": "gzip"},
    ),
    "raw-deflate": lambda: (
        HTML,
        zlib.compress(_fill("word "))[2:-4],  # no zlib header: what some old servers send
        {"Content-Encoding": "deflate"},
    ),
}
KINDS = tuple(_MAKERS)


@cache
def hostile_page(kind: str) -> Page:
    """The page of ``kind`` (made once per process)."""
    return _MAKERS[kind]()


COSTLY_BYTES = 16 * 1024 * 1024


@cache
def costly_page() -> Page:
    """Nested tags, 16 MiB once inflated but small on the wire: its fetch costs little
    and its parse much, so a budget test sees the parse run out (needs FETCH_MAX_BYTES
    at COSTLY_BYTES)."""
    html = "<svg>" + "<g>" * ((COSTLY_BYTES - 5) // 3)
    return HTML, gzip.compress(html.encode(), compresslevel=6), {"Content-Encoding": "gzip"}
