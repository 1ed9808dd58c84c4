"""The Pillow pipeline: one decoded source, every variant, metadata stripped.

Order of work: open (allowed formats only) → check pixels → JPEG draft
(libjpeg's DCT scaling down to the largest size any output needs) → load →
apply EXIF orientation → convert to sRGB (ICC/CMYK) → keep or drop alpha →
resize each output from the smallest already-made image that is at least
twice its size (a cascade) → encode without metadata.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms

from imgsvc.errors import ImageTooLarge, InvalidImage
from imgsvc.imaging.variants import VariantSpec

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ENCODINGS = {
    "JPEG": ("jpg", "image/jpeg"),
    "WEBP": ("webp", "image/webp"),
    "PNG": ("png", "image/png"),
}
_SRGB = ImageCms.createProfile("sRGB")


@dataclass(frozen=True)
class EncodeOptions:
    """Encoder settings for the outputs."""

    jpeg_quality: int = 85
    webp_quality: int = 80
    transparent_format: str = "WEBP"


@dataclass(frozen=True)
class RenderedVariant:
    """One encoded output."""

    name: str
    data: bytes
    width: int
    height: int
    format: str

    @property
    def extension(self) -> str:
        return _ENCODINGS[self.format][0]

    @property
    def content_type(self) -> str:
        return _ENCODINGS[self.format][1]


def render_variants(
    data: bytes,
    specs: list[VariantSpec],
    *,
    allowed_formats: list[str],
    max_pixels: int,
    options: EncodeOptions | None = None,
) -> list[RenderedVariant]:
    """Decode ``data`` once and return every variant of ``specs``, encoded.

    Raises ``InvalidImage`` when the bytes cannot be decoded and
    ``ImageTooLarge`` when the image is over ``max_pixels``.
    """
    options = options or EncodeOptions()
    source, size = _decode(data, specs, allowed_formats, max_pixels)
    outputs = _resize_all(source, size, specs)
    return [_encode(spec.name, image, options) for spec, image in outputs]


def _too_many_pixels(max_pixels: int) -> ImageTooLarge:
    # Pillow's bomb guard can fire before our check: name our limit, not Pillow's.
    return ImageTooLarge(f"The image has too many pixels; the limit is {max_pixels:,} pixels.")


def _open(data: bytes, allowed_formats: list[str], max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[f.upper() for f in allowed_formats])
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(max_pixels) from exc
    except Exception as exc:
        raise InvalidImage(f"The image could not be opened: {exc}") from exc
    pixels = image.width * image.height
    if pixels > max_pixels:
        raise ImageTooLarge(f"The image has {pixels:,} pixels; the limit is {max_pixels:,}.")
    return image


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not sink an otherwise good image
        return 1
    return value if value in _TRANSPOSE else 1


def _needed_scale(specs: list[VariantSpec], width: int, height: int) -> float:
    """The largest scale (output/source) any variant needs from the oriented source."""
    scale = 0.0
    for spec in specs:
        out_w, _out_h = spec.target_size(width, height)
        if spec.cover:
            box_h = spec.height or spec.width
            crop_w = min(width, height * spec.width / box_h)
            scale = max(scale, out_w / crop_w)
        else:
            scale = max(scale, out_w / width)
    return min(1.0, scale)


def _draft(image: Image.Image, specs: list[VariantSpec]) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale when every output allows it."""
    width, height = image.size
    if _orientation(image) >= 5:
        width, height = height, width
    scale = _needed_scale(specs, width, height)
    request = (math.ceil(image.width * scale), math.ceil(image.height * scale))
    image.draft("RGB" if image.mode == "YCbCr" else image.mode, request)


def _decode(
    data: bytes, specs: list[VariantSpec], allowed_formats: list[str], max_pixels: int
) -> tuple[Image.Image, tuple[int, int]]:
    """The decoded, oriented sRGB source and the oriented size of the full image.

    The source may be smaller than that size (JPEG draft), but never smaller
    than any output needs; output sizes are computed from the full size.
    """
    image = _open(data, allowed_formats, max_pixels)
    width, height = image.size
    if image.format in ("JPEG", "MPO"):  # MPO: a JPEG with extra images
        _draft(image, specs)
    try:
        image.seek(0)
        image.load()
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(max_pixels) from exc
    except Exception as exc:
        raise InvalidImage(f"The image could not be decoded: {exc}") from exc
    # Read after loading: Pillow's TIFF plugin applies the orientation itself (its
    # size is already oriented when opened) and drops the tag; others leave it to us.
    orientation = _orientation(image)
    if orientation >= 5:
        width, height = height, width
    if orientation != 1:
        image = image.transpose(_TRANSPOSE[orientation])
    return _to_srgb(image), (width, height)


def _to_srgb(image: Image.Image) -> Image.Image:
    """Return the image as L, RGB or RGBA with sRGB colours and no metadata."""
    icc = image.info.get("icc_profile")
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        image = _deep_to_l(image)
    elif mode == "P":
        has_alpha = "transparency" in image.info or image.palette.mode == "RGBA"
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa") or (
        mode in ("L", "RGB") and "transparency" in image.info
    ):
        image = image.convert("RGBA")  # a tRNS colour key becomes real alpha
    elif mode == "1":
        image = image.convert("L")
    elif mode not in ("L", "RGB", "RGBA", "CMYK"):
        image = image.convert("RGB")

    if icc and image.mode in ("RGB", "RGBA", "CMYK", "L"):
        image = _apply_icc(image, icc)
    if image.mode == "CMYK":
        image = image.convert("RGB")
    if image.mode == "RGBA" and image.getchannel("A").getextrema()[0] == 255:
        image = image.convert("RGB")
    image.info = {}
    return image


def _apply_icc(image: Image.Image, icc: bytes) -> Image.Image:
    if image.mode == "L":
        return image  # grey stays grey; a grey profile only shifts the tone curve
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(
            image, profile, _SRGB, outputMode="RGBA" if image.mode == "RGBA" else "RGB"
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image  # an unreadable profile: fall back to the raw values
    return converted or image


def _deep_to_l(image: Image.Image) -> Image.Image:
    """Map 16-bit and float greys to 8 bits by scale, not by clipping."""
    if image.mode.startswith("I;16"):
        # The bit depth is known: a dark 16-bit image (all values <= 255) stays dark.
        return image.convert("I").point(lambda value: value * (255 / 65535)).convert("L")
    image = image.convert("I") if image.mode != "F" else image
    low, high = image.getextrema()
    if high <= 255 and low >= 0:
        return image.convert("L")
    top = 65535 if high <= 65535 else high
    factor = 255.0 / top
    return image.point(lambda value: value * factor).convert("L")


def _crop_box(spec: VariantSpec, width: int, height: int) -> tuple[float, float, float, float]:
    box_w, box_h = spec.width, spec.height or spec.width
    crop_w = min(width, height * box_w / box_h)
    crop_h = min(height, width * box_h / box_w)
    left, top = (width - crop_w) / 2, (height - crop_h) / 2
    return (left, top, left + crop_w, top + crop_h)


def _cascade_source(
    spec: VariantSpec, out: tuple[int, int], pool: list[Image.Image]
) -> Image.Image:
    """The smallest image in ``pool`` at least twice the output; else the source."""
    for candidate in sorted(pool, key=lambda image: image.width):
        span = candidate.width
        if spec.cover:
            left, _top, right, _bottom = _crop_box(spec, candidate.width, candidate.height)
            span = right - left
        if span >= 2 * out[0]:
            return candidate
    return pool[0]


def _resize_all(
    source: Image.Image, size: tuple[int, int], specs: list[VariantSpec]
) -> list[tuple[VariantSpec, Image.Image]]:
    """Make every output, each from the smallest image at least twice its size.

    ``size`` is the full oriented size: output sizes follow from it, not from a
    JPEG draft's rounded-up dimensions.
    """
    made: dict[str, Image.Image] = {}
    pool = [source]
    by_size = sorted(specs, key=lambda s: s.target_size(*size)[0], reverse=True)
    for spec in by_size:
        out = spec.target_size(*size)
        pick = _cascade_source(spec, out, pool)
        if spec.cover:
            box = _crop_box(spec, pick.width, pick.height)
            image = pick.resize(out, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
        elif out == pick.size:
            image = pick
        else:
            image = pick.resize(out, Image.Resampling.LANCZOS, reducing_gap=3.0)
        made[spec.name] = image
        if not spec.cover:
            pool.append(image)
    return [(spec, made[spec.name]) for spec in specs]


def _encode(name: str, image: Image.Image, options: EncodeOptions) -> RenderedVariant:
    buffer = io.BytesIO()
    image.info = {}
    if image.mode == "RGBA":
        fmt = options.transparent_format.upper()
        if fmt == "WEBP":
            image.save(buffer, "WEBP", quality=options.webp_quality, method=4)
        else:
            fmt = "PNG"
            image.save(buffer, "PNG", compress_level=6)
    else:
        fmt = "JPEG"
        image.save(buffer, "JPEG", quality=options.jpeg_quality, progressive=True, optimize=True)
    return RenderedVariant(name, buffer.getvalue(), image.width, image.height, fmt)
