"""Choosing a variant's format from the request's ``Accept`` header.

A variant made in extra formats (``EXTRA_FORMATS``) is answered at its
extension-less URLs (``/images/<id>/<name>-<tag>`` and the alias
``/images/<id>/<name>``) in the best format the client asks for: the formats
of ``ACCEPT_FORMATS`` (AVIF, then WebP, by default) when the client names
them, else the primary (JPEG, or WebP/PNG with alpha). A format is taken only
when ``Accept`` names it explicitly (``image/avif``), never through ``*/*`` or
``image/*``: a client that sends only wildcards (curl, old browsers) may not
decode it. Each format has its own ETag, and every answer of a variant that
has more than one format carries ``Vary: Accept``, its fallback included, so
a shared cache keeps one copy per ``Accept`` instead of serving AVIF to a
client that asked for JPEG. ``<name>[-<tag>].<ext>`` always answers in that
one format.
"""

from __future__ import annotations

from typing import Any

from imgsvc.imaging import file_extension, parse_extra_formats
from imgsvc.settings import Settings

VARY_ACCEPT = {"Vary": "Accept"}


def negotiate(
    entry: dict[str, Any], preferred: list[str], accept: Any
) -> tuple[dict[str, Any], bool]:
    """The format of a variant's manifest ``entry`` to answer with, and whether
    the answer depends on ``Accept`` at all (it has more than one format).

    ``preferred`` lists extensions best first (``["avif", "webp"]``); the
    primary comes after them. The client's quality for each format is what
    ``accept`` (a werkzeug ``MIMEAccept``) names explicitly, or for the primary
    alone also through wildcards; the highest quality wins, ties go to the
    order of ``preferred``. When the client accepts none, the primary answers.
    """
    formats = entry.get("formats") or {}
    choices = [formats[ext] for ext in preferred if ext in formats]
    choices = [f for f in choices if f["content_type"] != entry["content_type"]]
    if not choices:
        return entry, False
    best, best_quality = entry, accept.quality(entry["content_type"])
    for choice in choices:
        quality = _named_quality(accept, choice["content_type"])
        if quality > best_quality or (quality == best_quality and quality > 0 and best is entry):
            best, best_quality = choice, quality
    return best, True


def _named_quality(accept: Any, content_type: str) -> float:
    """The quality ``accept`` gives ``content_type`` by name (0 if only by a wildcard)."""
    qualities = [q for value, q in accept if value.lower() == content_type]
    return max(qualities, default=0)


def preferred_extensions(config: Settings) -> list[str]:
    """The extensions of ``ACCEPT_FORMATS``, best first (none if malformed)."""
    try:
        return [file_extension(fmt) for fmt in parse_extra_formats(config.ACCEPT_FORMATS)]
    except ValueError:
        return []
