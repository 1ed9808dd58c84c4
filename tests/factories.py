"""Test images made on the fly: photo-like content, EXIF, CMYK, alpha, bombs."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw


def photo(width: int, height: int, seed: int = 1, mode: str = "RGB") -> Image.Image:
    """Gradients, shapes and noise: something a resizer has to work on."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 255 * x / max(width - 1, 1)
    g = 255 * y / max(height - 1, 1)
    b = 128 + 100 * np.sin(x / 37.0) * np.cos(y / 53.0)
    rgb = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, (height, width, 3))
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(max(width, height) // 20 + 1, max(width, height) // 5 + 2))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        draw.ellipse([x0, y0, x0 + size, y0 + size], fill=colour)
    return image.convert(mode) if mode != "RGB" else image


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def jpeg(
    width: int = 640,
    height: int = 480,
    orientation: int | None = None,
    gps: bool = False,
    quality: int = 90,
    seed: int = 1,
) -> bytes:
    """A JPEG with optional EXIF orientation and GPS/camera metadata."""
    image = photo(width, height, seed)
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model 1"  # Model
    if orientation:
        exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {1: "N", 2: (52.0, 22.0, 12.0), 3: "E", 4: (4.0, 53.0, 30.0)}
    return encode(image, "JPEG", quality=quality, exif=exif.tobytes())


# How to store a displayed image so that EXIF orientation N shows it upright.
STORED_AS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def marked_corner(width: int, height: int, orientation: int) -> bytes:
    """A JPEG whose *displayed* top-left corner is red, stored per ``orientation``.

    The pixels are stored so that, after applying the EXIF orientation, a red
    block sits top-left on a white background.
    """
    shown = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(shown).rectangle([0, 0, width // 4, height // 4], fill=(255, 0, 0))
    stored = shown.transpose(STORED_AS[orientation]) if orientation in STORED_AS else shown
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def cmyk_jpeg(width: int = 400, height: int = 300) -> bytes:
    return encode(photo(width, height).convert("CMYK"), "JPEG", quality=90)


def png_alpha(width: int = 500, height: int = 400) -> bytes:
    image = photo(width, height).convert("RGBA")
    alpha = Image.new("L", image.size, 0)
    ImageDraw.Draw(alpha).ellipse(
        [width // 8, height // 8, width * 7 // 8, height * 7 // 8], fill=255
    )
    image.putalpha(alpha)
    return encode(image, "PNG")


def palette_png_transparent(width: int = 300, height: int = 200) -> bytes:
    image = photo(width, height).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    pixels = image.load()
    for x in range(width // 3):
        for y in range(height):
            pixels[x, y] = 0
    return encode(image, "PNG", transparency=0)


def png16(width: int = 300, height: int = 200) -> bytes:
    ramp = (np.mgrid[0:height, 0:width][1] * (65535 / max(width - 1, 1))).astype(np.uint16)
    return encode(Image.fromarray(ramp), "PNG")


def animated_gif(width: int = 120, height: int = 90, frames: int = 5) -> bytes:
    images = [Image.new("RGB", (width, height), (40 * i % 256, 80, 160)) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width``×``height`` (a decompression bomb header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def svg_document() -> bytes:
    """A small SVG drawing (a format we refuse: it is a program, not pixels)."""
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="80">'
        b'<rect width="100" height="80" fill="red"/></svg>\n'
    )


def pdf_document() -> bytes:
    """A minimal one-page PDF."""
    return (
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
        b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
        b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 80] >>\nendobj\n"
        b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )


def eps_document() -> bytes:
    """A minimal Encapsulated PostScript file."""
    return (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 80\n"
        b"newpath 0 0 moveto 100 80 lineto stroke\nshowpage\n%%EOF\n"
    )
