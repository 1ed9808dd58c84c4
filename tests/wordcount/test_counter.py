"""Counting words of visible text."""

from __future__ import annotations

from imgsvc.fetch import fetch_page
from imgsvc.netguard import Guard
from imgsvc.wordcount.counter import count_words_in, visible_text, words
from tests.support.pageserver import HEAD_UNCLOSED, KNOWN_HTML, KNOWN_TOP, KNOWN_TOTAL


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


def test_a_head_without_its_end_tag_ends_where_the_body_starts():
    assert words(visible_text(HEAD_UNCLOSED)) == ["counted", "heading", "and", "three", "more"]
    for page in (
        "<html><head><title>t</title>body text",  # text ends the head
        "<head><style>s{}</style><p>body text",
        "<head><meta charset=utf-8><body>body text",
    ):
        assert words(visible_text(page)) == ["body", "text"], page


def test_a_minified_page_with_an_open_head_counts_its_body(pages):
    page = fetch_page(f"{pages.base}/head-unclosed", Guard([pages.allow_entry]))
    assert count_words_in(page.url, page.text, is_html=True)["total_words"] == 5


def test_hidden_elements_end_where_the_parser_closes_them():
    assert words(visible_text("<svg><g><g><text>x</text></svg>after")) == ["after"]
    assert words(visible_text("<p>a<script>b</p>c</script>d")) == ["a", "d"]
    assert words(visible_text("<template><p>t</template>shown")) == ["shown"]


def test_a_meta_charset_does_not_decode_the_text_again():
    assert words(visible_text("<meta charset=koi8-r><p>déjà vu")) == ["déjà", "vu"]


def test_markup_the_standard_parser_chokes_on_is_just_markup():
    assert words(visible_text("<![<![<![ x")) == []
    assert words(visible_text("<p>ok</p><a <a <a ")) == ["ok"]
    assert words(visible_text("")) == []
