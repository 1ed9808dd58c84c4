"""The safe part of an original's metadata, for the API: when, with what, how turned.

Read from the header the job opens anyway (no second parse): the capture
time, the camera's make and model, the stored orientation and the colour
profile's name. It is a list of what may be shown, not of what must be
hidden: GPS, serial numbers, owner names, maker notes and everything else is
never read. Each text is cleaned (printable characters, at most
``MAX_TEXT`` of them). The variants keep no metadata at all (``encode``).

Nothing here raises: a broken EXIF block or profile leaves its field None.
"""

from __future__ import annotations

import io
import re
from typing import Any

from PIL import Image, ImageCms

MAX_TEXT = 64
_EXIF_IFD = 0x8769
_MAKE, _MODEL, _ORIENTATION, _DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
_DATETIME_ORIGINAL, _OFFSET_ORIGINAL = 0x9003, 0x9011
_EXIF_TIME = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$")
_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")
_UNPRINTABLE = re.compile(r"[^\x20-\x7e\u00a0-\uffff]")
# nclx colour primaries (ISO/IEC 23091-2) that name a colour space.
_NCLX_NAMES = {1: "sRGB / BT.709 (nclx)", 9: "BT.2020 (nclx)", 12: "Display P3 (nclx)"}


def safe_metadata(header: Image.Image, nclx_primaries: int | None = None) -> dict[str, Any]:
    """``{"captured_at", "camera_make", "camera_model", "orientation",
    "colour_profile"}`` of an opened (not yet transposed) image; None where unknown.

    ``orientation`` is the original's (1-8) as stored: EXIF's, or for HEIF
    the ``irot``/``imir`` its reader applied. ``nclx_primaries`` names the
    colour space of a HEIF/AVIF without an ICC profile.
    """
    try:
        exif = _exif_of(header)
        details = exif.get_ifd(_EXIF_IFD)
    except Exception:  # a broken EXIF block hides only the EXIF fields
        exif, details = Image.Exif(), {}
    return {
        "captured_at": _capture_time(details, exif),
        "camera_make": _text(exif.get(_MAKE)),
        "camera_model": _text(exif.get(_MODEL)),
        "orientation": _orientation(header, exif),
        "colour_profile": _profile_name(header, nclx_primaries),
    }


def _exif_of(header: Image.Image) -> Image.Exif:
    """The EXIF the header holds, read without decoding: Pillow's PNG reader
    decodes the whole image in ``getexif()`` to look past the pixels, which
    here would decode a broken file before the job's own decode reports it."""
    raw = header.info.get("exif")
    if isinstance(raw, bytes) and raw:
        exif = Image.Exif()
        exif.load(raw)
        return exif
    if header.format == "TIFF":  # its tags are the header: no decode
        return header.getexif()
    return Image.Exif()


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = _UNPRINTABLE.sub("", value).strip()[:MAX_TEXT].strip()
    return cleaned or None


def _capture_time(details: Any, exif: Image.Exif) -> str | None:
    """ISO 8601 from DateTimeOriginal (else DateTime), with its offset when stated."""
    stamp = _text(details.get(_DATETIME_ORIGINAL)) or _text(exif.get(_DATETIME))
    match = _EXIF_TIME.match(stamp or "")
    if match is None:
        return None
    year, month, day, hour, minute, second = match.groups()
    iso = f"{year}-{month}-{day}T{hour}:{minute}:{second}"
    offset = _text(details.get(_OFFSET_ORIGINAL))
    return iso + offset if offset and _OFFSET.match(offset) else iso


def _orientation(header: Image.Image, exif: Image.Exif) -> int:
    original = header.info.get("original_orientation")  # pillow-heif: what it applied
    if isinstance(original, int) and 1 <= original <= 8:
        return original
    value = exif.get(_ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _profile_name(header: Image.Image, nclx_primaries: int | None) -> str | None:
    icc = header.info.get("icc_profile")
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return _text(ImageCms.getProfileDescription(profile))
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            return None
    if nclx_primaries is not None:
        return _NCLX_NAMES.get(nclx_primaries)
    return None
