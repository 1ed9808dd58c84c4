"""Encoding: each output without metadata, in its format and the extra formats.

Opaque outputs become progressive JPEG (from YCbCr as it is: the planes were
made at the encoder's sizes, see ``planes``); outputs with transparency become WebP
(or PNG). ``EXTRA_FORMATS`` adds the same pixels as WebP and/or AVIF. Settings
were chosen by measurement (``make bench`` prints the figures):

- WebP ``method`` 3 (``WEBP_METHOD``) for transparent primaries: the same
  bytes as libwebp's default 4 for less CPU on RGBA; 2 and 0 are cheaper
  still but make larger files. For RGBA the method also sets how hard the
  lossless alpha plane is compressed, so 6 costs far more there.
- The extra formats are a budget: at most twice the CPU of the job without
  them (issue 16), since they are made for every image on the chance that a
  client asks. So the WebP extra uses method 1 (``EXTRA_WEBP_METHOD``), and
  AVIF speed 9: method 3 and speed 8 together cost several times the job for
  a few per cent fewer bytes. One thread, because a worker runs per core.

The figures are in BENCHMARKS.md (bench, encoder settings).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field, replace

from PIL import Image, features

log = logging.getLogger(__name__)

_FORMATS = {  # format: (extension, content type)
    "JPEG": ("jpg", "image/jpeg"),
    "WEBP": ("webp", "image/webp"),
    "PNG": ("png", "image/png"),
    "AVIF": ("avif", "image/avif"),
}
EXTRA_FORMATS = {"webp": "WEBP", "avif": "AVIF"}
_PNG_COMPRESS_LEVEL = 6
# The longest side each encoder can write (the probe keeps images within JPEG's).
_MAX_SIDE = {"JPEG": 65_500, "WEBP": 16_383}


@dataclass(frozen=True)
class EncodeOptions:
    """Encoder settings for the outputs."""

    jpeg_quality: int = 85
    webp_quality: int = 80
    webp_method: int = 3
    extra_webp_method: int = 1
    transparent_format: str = "WEBP"
    extra_formats: tuple[str, ...] = ()
    avif_quality: int = 60
    avif_speed: int = 9


@dataclass(frozen=True)
class EncodedFile:
    """One encoded image: bytes and their format."""

    data: bytes
    format: str

    @property
    def extension(self) -> str:
        return file_extension(self.format)

    @property
    def content_type(self) -> str:
        return _FORMATS[self.format][1]


@dataclass(frozen=True)
class RenderedVariant:
    """One output: its primary encoding, and the same pixels in the extra formats.

    ``alternates`` maps an extension (``webp``, ``avif``) to its file; when an
    extra format is the primary format, it holds the primary file itself.
    """

    name: str
    data: bytes
    width: int
    height: int
    format: str
    alternates: dict[str, EncodedFile] = field(default_factory=dict)

    @property
    def extension(self) -> str:
        return _FORMATS[self.format][0]

    @property
    def content_type(self) -> str:
        return _FORMATS[self.format][1]


def file_extension(fmt: str) -> str:
    """The file extension of a format name: ``JPEG`` → ``jpg``, ``AVIF`` → ``avif``."""
    return _FORMATS[fmt][0]


def parse_extra_formats(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Parse ``"webp,avif"`` into format names; raise ``ValueError`` for unknown ones."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names: list[str] = []
    for item in (str(part).strip().lower() for part in items):
        if not item:
            continue
        if item not in EXTRA_FORMATS:
            raise ValueError(f"Unknown extra format {item!r}: use {', '.join(EXTRA_FORMATS)}")
        if EXTRA_FORMATS[item] not in names:
            names.append(EXTRA_FORMATS[item])
    return tuple(names)


def encode_file(image: Image.Image, fmt: str, options: EncodeOptions) -> EncodedFile:
    """Encode ``image`` (L, RGB or RGBA; YCbCr as JPEG) as ``fmt`` with no metadata at all."""
    buffer = io.BytesIO()
    image.info = {}
    if fmt == "JPEG":
        # No optimize=True: libjpeg-turbo optimises the Huffman tables of every
        # progressive JPEG anyway (the same bytes with or without it).
        image.save(buffer, "JPEG", quality=options.jpeg_quality, progressive=True)
    elif fmt == "WEBP":
        image.save(buffer, "WEBP", quality=options.webp_quality, method=options.webp_method)
    elif fmt == "AVIF":
        image.save(
            buffer, "AVIF", quality=options.avif_quality, speed=options.avif_speed, max_threads=1
        )
    else:
        image.save(buffer, "PNG", compress_level=_PNG_COMPRESS_LEVEL)
    return EncodedFile(buffer.getvalue(), fmt)


def primary_format(image: Image.Image, options: EncodeOptions) -> str:
    """JPEG for opaque outputs; WebP or PNG (``transparent_format``) with alpha."""
    if image.mode != "RGBA":
        return "JPEG"
    wanted = "WEBP" if options.transparent_format.upper() == "WEBP" else "PNG"
    return wanted if fits(wanted, image) else "PNG"  # e.g. a long transparent screenshot


def fits(fmt: str, image: Image.Image) -> bool:
    """Whether ``fmt`` can hold an image this size (WebP: at most 16383 px a side)."""
    return max(image.size) <= _MAX_SIDE.get(fmt, max(image.size))


def available(fmt: str) -> bool:
    """Whether this Pillow build can write ``fmt`` (Pillow-SIMD may lack AVIF)."""
    return fmt not in ("WEBP", "AVIF") or bool(features.check(fmt.lower()))


def encode_variants(
    outputs: list[tuple[str, Image.Image]], options: EncodeOptions
) -> list[RenderedVariant]:
    """Encode each named output; an image shared by several names is encoded once."""
    done: dict[int, tuple[EncodedFile, dict[str, EncodedFile]]] = {}
    rendered = []
    for name, image in outputs:
        if id(image) not in done:
            done[id(image)] = _encode_all(image, options)
        primary, alternates = done[id(image)]
        rendered.append(
            RenderedVariant(
                name, primary.data, image.width, image.height, primary.format, dict(alternates)
            )
        )
    return rendered


def encode_extras(
    outputs: list[tuple[str, Image.Image]],
    primaries: list[RenderedVariant],
    options: EncodeOptions,
) -> list[RenderedVariant]:
    """``primaries`` (made by ``encode_variants`` with no extra formats from the
    named ``outputs``) with their extra formats encoded; a variant without an
    output of its name is kept as it is; an image shared by several names is
    encoded once."""
    done: dict[int, dict[str, EncodedFile]] = {}
    images = dict(outputs)
    rendered = []
    for variant in primaries:
        image = images.get(variant.name)
        if image is None:
            rendered.append(variant)
            continue
        if id(image) not in done:
            primary = EncodedFile(variant.data, variant.format)
            done[id(image)] = _alternates(image, primary, options)
        rendered.append(replace(variant, alternates=dict(done[id(image)])))
    return rendered


def _encode_all(
    image: Image.Image, options: EncodeOptions
) -> tuple[EncodedFile, dict[str, EncodedFile]]:
    primary = encode_file(image, primary_format(image, options), options)
    return primary, _alternates(image, primary, options)


def _alternates(
    image: Image.Image, primary: EncodedFile, options: EncodeOptions
) -> dict[str, EncodedFile]:
    """``image`` in each of ``options.extra_formats`` (the primary's own file reused)."""
    alternates: dict[str, EncodedFile] = {}
    extra_options = replace(options, webp_method=options.extra_webp_method)
    if options.extra_formats and image.mode == "YCbCr":
        image = image.convert("RGB")  # WebP and AVIF encoders take RGB
    for fmt in options.extra_formats:
        if fmt == primary.format:
            alternates[primary.extension] = primary
        elif not fits(fmt, image):
            log.info("%s cannot hold %d×%d; extra format skipped", fmt, *image.size)
        elif available(fmt):
            file = encode_file(image, fmt, extra_options)
            alternates[file.extension] = file
        else:
            log.warning("this Pillow cannot write %s; extra format skipped", fmt)
    return alternates
