"""The ways of making one image's variants that the benchmark compares.

Each strategy turns the original's bytes into the variants, twice over:
``job`` returns the delivered files (what is timed), ``pixels`` returns the
images just before encoding (what SSIM compares, so that q85 encoding noise,
the same for every strategy, does not drown the differences of the resizing;
imgsvc's YCbCr outputs as RGB).

- ``naive``: the reference. Pillow, whole decode, Lanczos from the full image
  for every size, ``ImageOps.fit`` for the crop: what a first version does.
- ``imgsvc``: the service's pipeline (``imgsvc.imaging``), default settings.
  Variations: ``imgsvc-2x`` (cascade rule 2x instead of 1.25x),
  ``imgsvc-pillow-decode`` (neither TurboJPEG nor simplejpeg: Pillow's draft
  + load, planes split from RGB),
  ``imgsvc-rgb-resize`` (opaque photos resized as RGB, not as YCbCr planes),
  ``imgsvc-rgb-decode`` (planes split from an RGB decode, not decoded as
  stored by TurboJPEG),
  and ``imgsvc+webp,avif`` (``EXTRA_FORMATS=webp,avif``).
- ``libvips``: pyvips with shrink-on-load, one decode, the rest from memory.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageOps

from imgsvc.config import Defaults, csv_list
from imgsvc.imaging import EncodeOptions, parse_extra_formats, parse_variants, render_image

SPECS = parse_variants(Defaults.VARIANTS)
ALLOWED = csv_list(Defaults.ALLOWED_FORMATS)
MAX_PIXELS = Defaults.MAX_IMAGE_PIXELS
OPTIONS = EncodeOptions(
    jpeg_quality=Defaults.JPEG_QUALITY,
    webp_quality=Defaults.WEBP_QUALITY,
    webp_method=Defaults.WEBP_METHOD,
    transparent_format=Defaults.TRANSPARENT_FORMAT,
)
_LANCZOS = Image.Resampling.LANCZOS

Files = dict[str, bytes]  # "<name>.<ext>": bytes
Pixels = dict[str, Image.Image]  # variant name: image before encoding


# --- naive Pillow ---------------------------------------------------------------------


def _naive_pixels(data: bytes) -> Pixels:
    image = Image.open(io.BytesIO(data))
    ImageOps.exif_transpose(image, in_place=True)
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    width, height = image.size
    outputs = {}
    for spec in SPECS:
        size = spec.target_size(width, height)
        if spec.cover:
            outputs[spec.name] = ImageOps.fit(image, size, _LANCZOS)
        else:
            outputs[spec.name] = image.resize(size, _LANCZOS)
    return outputs


def _naive_job(data: bytes) -> Files:
    files = {}
    for name, image in _naive_pixels(data).items():
        buffer = io.BytesIO()
        if image.mode == "RGBA":
            image.save(buffer, "WEBP", quality=OPTIONS.webp_quality)
            files[f"{name}.webp"] = buffer.getvalue()
        else:
            image.save(
                buffer, "JPEG", quality=OPTIONS.jpeg_quality, progressive=True, optimize=True
            )
            files[f"{name}.jpg"] = buffer.getvalue()
    return files


# --- imgsvc -------------------------------------------------------------------------------


def _imgsvc_job(options: EncodeOptions) -> Callable[[bytes], Files]:
    def job(data: bytes) -> Files:
        rendering = render_image(
            data, SPECS, allowed_formats=ALLOWED, max_pixels=MAX_PIXELS, options=options
        )
        files = {}
        for variant in rendering.variants:
            files[f"{variant.name}.{variant.extension}"] = variant.data
            for extension, file in variant.alternates.items():
                files[f"{variant.name}.{extension}"] = file.data
        return files

    return job


def _imgsvc_pixels(data: bytes) -> Pixels:
    from imgsvc.imaging.pipeline import decode_start, resize_prepared

    start = decode_start(data, SPECS, ALLOWED, MAX_PIXELS)
    # Opaque photos come out as YCbCr (chroma at 4:2:0): compared as RGB.
    return {
        spec.name: image.convert("RGB") if image.mode == "YCbCr" else image
        for spec, image in resize_prepared(start, SPECS)
    }


def _cascade_2x() -> None:
    from imgsvc.imaging import resize

    resize.CASCADE_RATIO = 2.0


def _rgb_resize() -> None:
    from imgsvc.imaging import jpegplanes, pipeline

    pipeline.PLANE_MODES = ()
    jpegplanes.turbojpeg = None


def _rgb_decode() -> None:
    from imgsvc.imaging import jpegplanes

    jpegplanes.turbojpeg = None


def _pillow_decode() -> None:
    from imgsvc.imaging import decode, jpegplanes

    decode.simplejpeg = None
    jpegplanes.turbojpeg = None


# --- libvips ------------------------------------------------------------------------------


def _vips_images(data: bytes) -> dict[str, Any]:
    import pyvips

    header = pyvips.Image.new_from_buffer(data, "")
    width, height = header.width, header.height
    if header.get_typeof("orientation") and header.get("orientation") >= 5:
        width, height = height, width
    sizes = {spec.name: spec.target_size(width, height) for spec in SPECS}
    largest = max((spec for spec in SPECS if not spec.cover), key=lambda s: sizes[s.name][0])
    out_w, out_h = sizes[largest.name]
    base = pyvips.Image.thumbnail_buffer(data, out_w, height=out_h, size="force").copy_memory()
    images = {largest.name: base}
    for spec in SPECS:
        if spec is largest:
            continue
        out_w, out_h = sizes[spec.name]
        crop = {"crop": "centre"} if spec.cover else {"size": "force"}
        images[spec.name] = base.thumbnail_image(out_w, height=out_h, **crop)
    return images


def _vips_job(data: bytes) -> Files:
    files = {}
    for name, image in _vips_images(data).items():
        if image.hasalpha():
            files[f"{name}.webp"] = image.webpsave_buffer(Q=OPTIONS.webp_quality, keep="none")
        else:
            files[f"{name}.jpg"] = image.jpegsave_buffer(
                Q=OPTIONS.jpeg_quality, interlace=True, optimize_coding=True, keep="none"
            )
    return files


def _vips_pixels(data: bytes) -> Pixels:
    outputs = {}
    for name, image in _vips_images(data).items():
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[image.bands]
        outputs[name] = Image.frombytes(mode, (image.width, image.height), image.write_to_memory())
    return outputs


def _vips_setup() -> None:
    import pyvips

    pyvips.cache_set_max(0)  # repeated jobs on the same bytes must not hit libvips' cache


# --- the table ----------------------------------------------------------------------------

EXTRA = EncodeOptions(
    jpeg_quality=OPTIONS.jpeg_quality,
    webp_quality=OPTIONS.webp_quality,
    webp_method=OPTIONS.webp_method,
    transparent_format=OPTIONS.transparent_format,
    extra_formats=parse_extra_formats("webp,avif"),
)
# name: (setup, job, pixels)
STRATEGIES: dict[str, tuple[Callable[[], None] | None, Callable[[bytes], Files], Any]] = {
    "naive": (None, _naive_job, _naive_pixels),
    "imgsvc": (None, _imgsvc_job(OPTIONS), _imgsvc_pixels),
    "imgsvc-2x": (_cascade_2x, _imgsvc_job(OPTIONS), _imgsvc_pixels),
    "imgsvc-pillow-decode": (_pillow_decode, _imgsvc_job(OPTIONS), _imgsvc_pixels),
    "imgsvc-rgb-resize": (_rgb_resize, _imgsvc_job(OPTIONS), _imgsvc_pixels),
    "imgsvc-rgb-decode": (_rgb_decode, _imgsvc_job(OPTIONS), _imgsvc_pixels),
    "imgsvc+webp,avif": (None, _imgsvc_job(EXTRA), None),
    "libvips": (_vips_setup, _vips_job, _vips_pixels),
}


def vips_available() -> str | None:
    """None when pyvips works here, else why not."""
    try:
        import pyvips

        pyvips.Image.black(1, 1).avg()
    except Exception as exc:  # ImportError, or a pyvips without its library
        return f"{type(exc).__name__}: {exc}"
    return None
