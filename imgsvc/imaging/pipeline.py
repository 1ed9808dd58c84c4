"""The image job's pixels: one decode, every variant, metadata stripped.

Order of work (each step in its module):

1. ``decode``: open (allowed formats only) → check pixels → decode, JPEGs
   already scaled to the smallest M/8 that covers the largest output → apply
   EXIF orientation → ``colour``: sRGB (ICC/CMYK), 8 bits, alpha kept or dropped;
2. ``resize``: each output from the smallest image at least 1.25 times its
   width (a Lanczos cascade). Opaque colour images (every output a JPEG) are
   resized as ``planes``: luma at the output size, chroma at half of it, what
   a 4:2:0 JPEG keeps; grey images as their one plane; RGBA premultiplied once;
3. ``encode``: progressive JPEG (from YCbCr or L), or WebP/PNG with alpha,
   plus extra formats (from RGB); no metadata;
4. ``placeholder``: BlurHash and dominant colour from the smallest output.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from imgsvc.imaging.decode import Decoded, decode
from imgsvc.imaging.encode import EncodeOptions, RenderedVariant, encode_variants
from imgsvc.imaging.placeholder import Placeholder, make_placeholder
from imgsvc.imaging.planes import PLANE_MODES, resize_planes
from imgsvc.imaging.resize import resize_all
from imgsvc.imaging.variants import VariantSpec


@dataclass(frozen=True)
class Rendering:
    """Every variant of one image, in the order of the specs, and its placeholder."""

    variants: list[RenderedVariant]
    placeholder: Placeholder


def render_image(
    data: bytes,
    specs: list[VariantSpec],
    *,
    allowed_formats: list[str],
    max_pixels: int,
    options: EncodeOptions | None = None,
) -> Rendering:
    """Decode ``data`` once; return every variant of ``specs``, encoded, and a placeholder.

    Raises ``InvalidImage`` when the bytes cannot be decoded and
    ``ImageTooLarge`` when the image is over ``max_pixels``.
    """
    options = options or EncodeOptions()
    source = decode(data, specs, allowed_formats, max_pixels)
    outputs = resize_outputs(source, specs)
    del source  # the decoded source is the largest buffer: free it before encoding
    variants = encode_variants([(spec.name, image) for spec, image in outputs], options)
    return Rendering(variants, make_placeholder(_smallest(outputs)))


def render_variants(
    data: bytes,
    specs: list[VariantSpec],
    *,
    allowed_formats: list[str],
    max_pixels: int,
    options: EncodeOptions | None = None,
) -> list[RenderedVariant]:
    """Decode ``data`` once and return every variant of ``specs``, encoded."""
    return render_image(
        data, specs, allowed_formats=allowed_formats, max_pixels=max_pixels, options=options
    ).variants


def resize_outputs(
    source: Decoded, specs: list[VariantSpec]
) -> list[tuple[VariantSpec, Image.Image]]:
    """Every output of ``specs`` from a decoded source: YCbCr for opaque colour
    images (see ``planes``), else the mode of the source (L, RGB or RGBA)."""
    resize = resize_planes if source.image.mode in PLANE_MODES else resize_all
    return resize(source.image, source.size, specs, source.area)


def _smallest(outputs: list[tuple[VariantSpec, Image.Image]]) -> Image.Image:
    """The smallest whole-image output (a cover crop shows only part of the image)."""
    whole = [image for spec, image in outputs if not spec.cover] or [i for _s, i in outputs]
    return min(whole, key=lambda image: image.width * image.height)
