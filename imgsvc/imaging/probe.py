"""Header-only checks of an upload: format by content, dimensions, frames.

Nothing here decodes pixels. ``Image.open`` reads only the header, and it is
restricted to the allowed formats, so no other Pillow plugin ever sees
untrusted bytes. Before it, ``structure.walk`` checks the file's structure
within the limits (frames, chunks, scans), so what the check costs depends on
the limits, not on the file: Pillow's own walks are unbounded.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from imgsvc.errors import ImageTooLarge, ImgsvcError, InvalidImage, UnsupportedFormat
from imgsvc.imaging.formats import readable
from imgsvc.imaging.isobmff import brand_format
from imgsvc.imaging.structure import StructureLimits, current_limits, header_frames, walk

MIME_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "HEIF": "image/heif",
    "AVIF": "image/avif",
}

# Recognisable formats, so a refused one is reported "unsupported", not "broken".
# The allowable ones are here too: the allowlist may be narrower than MIME_TYPES.
_KNOWN_SIGNATURES: list[tuple[bytes, str]] = [
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
    (b"%!PS", "PostScript/EPS"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"BM", "BMP"),
    (b"8BPS", "PSD"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"\x76\x2f\x31\x01", "OpenEXR"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
]


# Enough to see "<svg" past an XML declaration, a doctype or a leading comment.
_SNIFF_BYTES = 1024
# JPEG's largest side. A narrow image keeps its height in the width-bound
# variants (they are never upscaled), so a longer side could not be written.
MAX_SIDE = 65_500


@dataclass(frozen=True)
class ProbeResult:
    """What the header says about an image."""

    format: str
    width: int
    height: int
    frames: int

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.format]

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _name_unsupported(head: bytes) -> str | None:
    for signature, name in _KNOWN_SIGNATURES:
        if head.startswith(signature):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp":
        return brand_format(head) or "ISO media"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in head.lower():
        return "SVG"
    return None


def _partial_frames(image: Image.Image) -> int:
    """The frames the first bytes of a file show (at least one): Pillow's count
    stops where the bytes end, so its cost is bounded by them."""
    try:
        return max(1, header_frames(image, None))
    except Exception:  # a frame cut by the end of the bytes read
        return 1


@contextlib.contextmanager
def _contents(stream: BinaryIO | bytes) -> Iterator[bytes | memoryview]:
    """The whole upload: the bytes given, a view of an in-memory body (no
    copy; released on exit), else what the stream holds."""
    if isinstance(stream, bytes):
        yield stream
    elif isinstance(stream, io.BytesIO):
        with stream.getbuffer() as view:
            yield view
    else:
        stream.seek(0)
        yield stream.read()


def probe(
    stream: BinaryIO | bytes,
    allowed_formats: list[str],
    max_pixels: int,
    max_frames: int,
    limits: StructureLimits | None = None,
    *,
    partial: bool = False,
) -> ProbeResult:
    """Identify an image from its header and check it against the limits.

    ``limits`` bounds the structure walk (chunks, scans); its frame limit is
    ``max_frames`` and its pixel limit ``max_pixels`` (HEIF and AVIF are
    checked from their declared size before libheif or libavif parse them).
    Without it, the running app's settings are used (or the ``IMGSVC_*``
    environment's): see ``structure.current_limits``.

    Raises ``InvalidImage`` (empty, unreadable, or a structure past a cap),
    ``UnsupportedFormat`` (a real format that is not allowed) or
    ``ImageTooLarge`` (pixels, frames or JPEG scans).

    ``partial``: ``stream`` holds only the file's first bytes (an upload
    straight to storage, read with one ranged GET). Format, dimensions and
    pixels are checked from the header as always; the structure walk, which
    needs the whole file, is left to the job (it walks again before decoding,
    so a file past a structure cap still ends ``failed`` with its code), and
    the frame count is what the first bytes show.
    """
    fp = io.BytesIO(stream) if isinstance(stream, bytes) else stream
    fp.seek(0)
    head = fp.read(_SNIFF_BYTES)
    fp.seek(0)
    if not head:
        raise InvalidImage("The file is empty.")
    allowed = [name.upper() for name in allowed_formats]
    limits = replace(limits or current_limits(), max_frames=max_frames, max_pixels=max_pixels)
    walked: int | None = None
    try:
        if not partial:
            with _contents(stream) as data:
                walked = walk(data, limits, allowed)
    except ImgsvcError:
        raise
    except Exception as exc:  # a walker reading past a cut file: a broken header
        raise InvalidImage(f"The image header could not be read: {exc}") from exc
    finally:
        fp.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(fp, formats=allowed)
        with image:
            width, height = image.size
            fmt = (image.format or "").upper()
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"The image is {width}×{height} ({width * height:,} pixels); "
                    f"the limit is {max_pixels:,} pixels."
                )
            frames = _partial_frames(image) if partial else header_frames(image, walked)
            if fmt == "MPO":
                # A JPEG carrying extra images (phone depth or gain maps, a stereo
                # pair): we use the first image, so it is a one-frame JPEG.
                fmt = "JPEG"
    except Image.DecompressionBombError as exc:
        # Pillow's bomb guard fired before our check; report our limit, not Pillow's.
        raise ImageTooLarge(
            f"The image has too many pixels; the limit is {max_pixels:,} pixels."
        ) from exc
    except UnidentifiedImageError as exc:
        other = _name_unsupported(head)
        if other and (other not in allowed or not readable(other)):
            raise UnsupportedFormat(
                f"{other} files are not accepted; send one of: {', '.join(allowed)}."
            ) from exc
        raise InvalidImage("The file is not an image in a format we recognise.") from exc
    except ImgsvcError:
        raise
    except Exception as exc:
        # Hostile headers make Pillow's plugins raise almost anything (struct.error,
        # IndexError from a cut GIF, TypeError from a TIFF without dimensions).
        raise InvalidImage(f"The image header could not be read: {exc}") from exc
    finally:
        fp.seek(0)
    if fmt not in MIME_TYPES or fmt not in allowed:
        raise UnsupportedFormat(f"{fmt or 'This'} images are not accepted.")
    if width < 1 or height < 1:
        raise InvalidImage("The image has no pixels.")
    if frames > max_frames:
        raise ImageTooLarge(f"The image has {frames} frames; the limit is {max_frames}.")
    if max(width, height) > MAX_SIDE:
        raise ImageTooLarge(
            f"The image is {width}×{height}; no side may be longer than {MAX_SIDE:,} pixels."
        )
    return ProbeResult(format=fmt, width=width, height=height, frames=frames)
