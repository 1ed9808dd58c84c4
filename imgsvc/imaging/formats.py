"""Which input formats this build can read, and the readers Pillow lacks.

HEIF (HEIC, the iPhone's camera format) is read by ``pillow-heif`` (libheif
with libde265, in its wheels: no system library): it is registered here
with Pillow, once per process, for the primary picture only (no thumbnails,
depth or auxiliary images are decoded) and one decoding thread (a worker
runs per core). AVIF is read by Pillow's own plugin (libavif, in Pillow's
wheels since 11.2). Both stay optional at run time: without them the upload
check refuses the format as ``unsupported_format``.
"""

from __future__ import annotations

from PIL import features


def _register_heif() -> bool:
    """Register pillow-heif's reader with Pillow; False when it is not installed."""
    try:
        import pillow_heif
    except ImportError:  # optional at run time: HEIF uploads are then refused
        return False
    pillow_heif.register_heif_opener(
        thumbnails=False, depth_images=False, aux_images=False, decode_threads=1
    )
    return True


HEIF_READER = _register_heif()


def readable(fmt: str) -> bool:
    """Whether this build can decode ``fmt`` (a Pillow format name, upper case)."""
    if fmt == "HEIF":
        return HEIF_READER
    if fmt == "AVIF":
        return bool(features.check("avif"))
    return True
