"""4:2:0 JPEGs decoded straight to the planes they store, already scaled.

A colour JPEG holds luma at full size and, in the usual 4:2:0 layout, Cb and
Cr at half size: exactly the ``planes`` an opaque photo is resized as. Decoding
to RGB first (libjpeg upsamples the chroma and converts every pixel) and then
splitting back (luma from RGB, chroma from a 2x reduced RGB) is work done only
to be undone. libjpeg-turbo's TurboJPEG API decodes to the stored planes at
any M/8 scale (``tjDecompressToYUVPlanes``), reached through PyTurboJPEG.
Decoding to planes is cheaper than decoding to RGBX, and the split (luma, 2x
reduce, chroma conversion) is gone too (figures in BENCHMARKS.md, bench).
The chroma is also the JPEG's own, not rebuilt from an upsampled copy.

Only what the planes path would take anyway comes this way: an opaque
YCbCr JPEG with 4:2:0 sampling and no ICC profile (a profile means a colour
conversion in RGB), when ``planes.wants_planes`` says so. Anything else, a
machine without libturbojpeg, and any JPEG libjpeg-turbo only warns about
(a truncated scan, say) goes to ``decode``, which decides and reports.
"""

from __future__ import annotations

import functools
import warnings
from fractions import Fraction

from PIL import Image

from imgsvc.imaging.colour import is_srgb
from imgsvc.imaging.decode import (
    TRANSPOSE,
    jpeg_eighths,
    needed_decode_size,
    orientation_of,
    scaled_size,
    transpose_box,
)
from imgsvc.imaging.planes import Planes, wants_planes
from imgsvc.imaging.variants import VariantSpec

try:
    import turbojpeg
except ImportError:  # optional at run time: decode + split_planes do the same job
    turbojpeg = None


def preload() -> bool:
    """Load libturbojpeg now, as a worker does before forking its work-horses
    (each work-horse would load it again otherwise); whether the planes decode
    is available."""
    return _decoder() is not None


def _decoder() -> turbojpeg.TurboJPEG | None:
    """One TurboJPEG per process, or None where PyTurboJPEG or libturbojpeg is missing."""
    return None if turbojpeg is None else _loaded_decoder()


@functools.cache
def _loaded_decoder() -> turbojpeg.TurboJPEG | None:
    try:
        return turbojpeg.TurboJPEG()
    except (OSError, RuntimeError):  # no libturbojpeg.so.0, or one of another major version
        return None


def decode_planes(data: bytes, header: Image.Image, specs: list[VariantSpec]) -> Planes | None:
    """The oriented planes of a 4:2:0 JPEG whose header ``decode.open_image`` read,
    decoded at the smallest M/8 that serves ``specs``; None when this path does
    not apply (then ``decode`` and ``split_planes`` do the job)."""
    decoder = _decoder()
    if decoder is None or header.format not in ("JPEG", "MPO") or header.mode != "RGB":
        return None
    icc = header.info.get("icc_profile")
    if icc and not is_srgb(icc):  # a colour conversion: done on RGB
        return None
    orientation = orientation_of(header)
    width, height = header.size
    oriented = (height, width) if orientation >= 5 else (width, height)
    eighths = jpeg_eighths(
        header.size, needed_decode_size(specs, header.size, swapped=orientation >= 5)
    )
    scaled = scaled_size(header.size, eighths)
    if not wants_planes(oriented, specs, scaled[0] * scaled[1]):
        return None
    planes = _stored_planes(decoder, data, eighths)
    if planes is None:
        return None
    luma, chroma = planes
    if luma.size[0] < scaled[0] or luma.size[1] < scaled[1]:
        return None  # not the scale asked for: let decode do it
    area = transpose_box((0, 0, width * eighths / 8, height * eighths / 8), luma.size, orientation)
    if orientation != 1:
        luma = luma.transpose(TRANSPOSE[orientation])
        chroma = chroma.transpose(TRANSPOSE[orientation])
    return Planes(luma, chroma, oriented, area)


def _stored_planes(
    decoder: turbojpeg.TurboJPEG, data: bytes, eighths: int
) -> tuple[Image.Image, Image.Image] | None:
    """Y (L) and Cb, Cr (La at half size) as stored, at ``eighths``/8, or None.

    TurboJPEG pads a 4:2:0 plane to even sides: the luma may have one more row
    or column than the picture (the area excludes it), the chroma is exactly
    half of the luma.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # libjpeg's warnings: Pillow decides
            _w, _h, sampling, colourspace = decoder.decode_header(data)
            if sampling != turbojpeg.TJSAMP_420 or colourspace != turbojpeg.TJCS_YCbCr:
                return None
            factor = Fraction(eighths, 8)  # in lowest terms, as TurboJPEG lists them: 4/8 is 1/2
            y, cb, cr = decoder.decode_to_yuv_planes(
                data, scaling_factor=(factor.numerator, factor.denominator)
            )
    except (OSError, ValueError, Warning):
        return None
    luma = Image.frombuffer("L", (y.shape[1], y.shape[0]), y, "raw", "L", 0, 1)
    cb_image, cr_image = (
        Image.frombuffer("L", (c.shape[1], c.shape[0]), c, "raw", "L", 0, 1) for c in (cb, cr)
    )
    # "La", not "LA": Pillow would premultiply Cr by Cb.
    return luma, Image.merge("La", (cb_image, cr_image))
