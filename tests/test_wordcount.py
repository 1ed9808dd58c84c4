"""Counting words of visible text."""

from __future__ import annotations

from imgsvc.wordcount import count_words_in, visible_text, words
from tests.pageserver import KNOWN_HTML, KNOWN_TOP, KNOWN_TOTAL


def test_known_page_counts_exactly():
    result = count_words_in("http://x/", KNOWN_HTML, is_html=True)
    assert result == {
        "url": "http://x/",
        "total_words": KNOWN_TOTAL,
        "unique_words": len(KNOWN_TOP),
        "top": KNOWN_TOP,
    }


def test_scripts_styles_head_and_comments_are_not_text():
    text = visible_text(KNOWN_HTML)
    for hidden in ("scriptWord", "hidden-css-word", "Title", "noscript", "comment"):
        assert hidden not in text


def test_words_are_lower_cased_unicode_without_punctuation():
    assert words("Hello, WORLD! Straße—ΑΘΗΝΑ 42 l'été «quoted» snake_case") == [
        "hello",
        "world",
        "strasse",
        "αθηνα",
        "42",
        "l'été",
        "quoted",
        "snake",
        "case",
    ]


def test_top_is_twenty_by_count_then_word():
    text = " ".join(f"w{i:02d}" for i in range(30)) + " zz zz aa aa"
    top = count_words_in("u", text, is_html=False)["top"]
    assert len(top) == 20
    assert top[:2] == [["aa", 2], ["zz", 2]]
    assert top[2] == ["w00", 1]


def test_inline_tags_do_not_split_words_block_tags_do():
    assert words(visible_text("<p>un<b>break</b>able</p><p>two</p><br>three<li>four")) == [
        "unbreakable",
        "two",
        "three",
        "four",
    ]
