"""A fetched page's bytes as text, decoded as browsers decode them.

Only the charsets browsers decode (the WHATWG Encoding Standard's) are used;
any other label (``punycode``, ``idna``, ``utf-7``, ``rot13``, an unknown one)
is ignored as browsers ignore it, and the page is read as UTF-8 with
replacement characters. A byte-order mark wins over the label, as in browsers.
"""

from __future__ import annotations

import codecs
import re

# The WHATWG Encoding Standard's encodings, by Python's codec names; these codecs
# decode in linear time (punycode, for one, does not).
_CHARSETS = {
    *("utf-8", "utf-16", "utf-16-be", "utf-16-le", "ascii", "cp866", "koi8-r", "koi8-u"),
    *(f"iso8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)),
    *(f"cp{n}" for n in (874, 1250, 1251, 1252, 1253, 1254, 1255, 1256, 1257, 1258)),
    *("mac-roman", "mac-cyrillic", "gbk", "gb2312", "gb18030", "big5", "big5hkscs"),
    *("euc_jp", "iso2022_jp", "shift_jis", "cp932", "euc_kr", "cp949"),
}
# Standard labels Python's codec registry does not know.
_LABELS = {
    "windows-874": "cp874",
    "x-mac-cyrillic": "mac-cyrillic",
    "windows-31j": "cp932",
    "x-sjis": "shift_jis",
    "iso-8859-8-i": "iso8859-8",
}
_LABEL = re.compile(r"[a-z0-9][a-z0-9._:-]{0,39}")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)


def decode(body: bytes, content_type: str) -> str:
    """``body`` as text: its byte-order mark, else the ``charset`` of ``content_type``
    if browsers know it, else UTF-8; undecodable bytes become U+FFFD."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace")
    return body.decode(charset_of(content_type), errors="replace")


def charset_of(content_type: str) -> str:
    """The Python codec for the ``charset`` parameter of a ``Content-Type`` value,
    ``"utf-8"`` when it is missing or not a text encoding browsers decode."""
    found = re.search(r';\s*charset\s*=\s*"?([^";\s]*)', content_type, re.IGNORECASE)
    label = found.group(1).strip().lower() if found else ""
    label = _LABELS.get(label, label)
    if not _LABEL.fullmatch(label):
        return "utf-8"
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return "utf-8"
    return name if name in _CHARSETS else "utf-8"
