"""Counting the words of a page's visible text."""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser
from typing import Any

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
_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


class _VisibleText(HTMLParser):
    """Collects text outside script, style, head and similar invisible elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _INLINE:
            self.parts.append(" ")  # block tags separate words: "a<br>b" is two words
        if tag not in _VOID and (tag in _HIDDEN or self._hidden):
            self._hidden.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._hidden and tag in self._hidden:
            while self._hidden and self._hidden.pop() != tag:
                pass
        if tag not in _INLINE:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """The text a reader sees: no scripts, styles, head or comments."""
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def words(text: str) -> list[str]:
    """Lower-cased words: runs of letters/digits, punctuation stripped."""
    return _WORD.findall(text.casefold())


def count_words_in(url: str, text: str, is_html: bool, top: int = 20) -> dict[str, Any]:
    """The word-count result: totals and the ``top`` most frequent words (ties by word)."""
    counts = Counter(words(visible_text(text) if is_html else text))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    return {
        "url": url,
        "total_words": sum(counts.values()),
        "unique_words": len(counts),
        "top": [[word, count] for word, count in ranked],
    }
