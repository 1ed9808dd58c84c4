"""Counting the words of a page's visible text, within a time budget.

The HTML is parsed by libxml2's HTML parser through lxml's target interface:
events only, no tree. It was chosen over the standard library's
``html.parser``, which has inputs of quadratic cost (unclosed ``<a `` tags,
``<![`` and ``<?`` floods) and raises ``AssertionError`` on some; libxml2's
tokenizer follows the HTML5 one, is linear in the page, runs in C, and
closes elements the way browsers do (a ``<head>`` without ``</head>`` ends
where the body's content starts). The page is fed in pieces and the budget
is checked between them and while counting, so no page can hold a worker
past its :class:`Deadline`.
"""

from __future__ import annotations

import heapq
import re
import time
from collections import Counter
from typing import Any

from lxml import etree

from imgsvc.errors import WordCountTimeout

# Letters and digits of any script; an apostrophe or hyphen may join two parts.
_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
_HIDDEN = {"script", "style", "noscript", "template", "head", "title", "svg", "iframe", "object"}
_INLINE = {
    "a",
    "abbr",
    "b",
    "bdi",
    "bdo",
    "cite",
    "code",
    "data",
    "dfn",
    "em",
    "i",
    "kbd",
    "mark",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "time",
    "u",
    "var",
    "wbr",
}
# How much HTML is parsed, and how many words counted, between two looks at the clock.
_FEED_BYTES = 64 * 1024
_WORDS_PER_CHECK = 4096


class Deadline:
    """The moment a word count must be done by; :meth:`check` raises once it has passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left (``0`` once passed)."""
        return max(0.0, self.end - time.monotonic())

    def check(self) -> None:
        """Raise ``WordCountTimeout`` if the deadline has passed."""
        if time.monotonic() >= self.end:
            raise WordCountTimeout(
                f"Counting the page took longer than its {self.seconds:g} s budget."
            )


class _VisibleText:
    """lxml parser target: collects text outside script, style, head and the like.

    The parser reports every element's end, implied ones included, so one
    counter of open hidden elements is enough: constant work per event.
    """

    def __init__(self) -> None:
        self.parts: list[str] = []
        self._hidden = 0  # open elements at or inside a hidden one

    def start(self, tag: str, attrib: Any) -> None:
        if tag not in _INLINE:
            self.parts.append(" ")  # block tags separate words: "a<br>b" is two words
        if self._hidden or tag in _HIDDEN:
            self._hidden += 1

    def end(self, tag: str) -> None:
        if self._hidden:
            self._hidden -= 1
        if tag not in _INLINE:
            self.parts.append(" ")

    def data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)

    def close(self) -> None:
        return None


def visible_text(html: str, deadline: Deadline | None = None) -> str:
    """The text a reader sees: no scripts, styles, head or comments.

    Raises ``WordCountTimeout`` when ``deadline`` passes while parsing.
    """
    target = _VisibleText()
    # The text is already decoded: the parser must not re-decode it for a <meta charset>.
    parser = etree.HTMLParser(target=target, encoding="utf-8", no_network=True)
    data = html.encode("utf-8", "replace")
    try:
        for start in range(0, len(data), _FEED_BYTES):
            if deadline is not None:
                deadline.check()
            parser.feed(data[start : start + _FEED_BYTES])
        parser.close()
    except etree.LxmlError:
        pass  # libxml2 recovers from nearly anything; past what it cannot, the text so far counts
    return "".join(target.parts)


def words(text: str) -> list[str]:
    """Lower-cased words: runs of letters/digits, punctuation stripped."""
    return _WORD.findall(text.casefold())


def _count(text: str, deadline: Deadline | None) -> Counter[str]:
    counts: Counter[str] = Counter()
    for n, match in enumerate(_WORD.finditer(text.casefold())):
        if deadline is not None and not n % _WORDS_PER_CHECK:
            deadline.check()
        counts[match.group()] += 1
    return counts


def count_words_in(
    url: str, text: str, is_html: bool, top: int = 20, deadline: Deadline | None = None
) -> dict[str, Any]:
    """The word-count result: totals and the ``top`` most frequent words (ties by word).

    Parsing and counting take time linear in the page; ``WordCountTimeout``
    is raised when ``deadline`` passes first.
    """
    counts = _count(visible_text(text, deadline) if is_html else text, deadline)
    ranked = heapq.nsmallest(top, counts.items(), key=lambda item: (-item[1], item[0]))
    return {
        "url": url,
        "total_words": sum(counts.values()),
        "unique_words": len(counts),
        "top": [[word, count] for word, count in ranked],
    }
