"""Corrupted images for the fuzz test, all deterministic.

``random_cases`` mutates real files made by :mod:`tests.factories` with a seeded
RNG (bit flips anywhere or in the header, truncation, a slice duplicated or
cut, "interesting" values written over header bytes). ``crafted_cases`` are
hand-made lies: PNG IHDR, JPEG SOF and GIF logical screens edited to claim
other sizes, GIFs with thousands of frames either side of the frame limit,
zlib bombs in PNG text and ICC chunks, a TIFF whose IFD chain loops.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from tests import factories


@dataclass(frozen=True)
class Case:
    """One upload: its bytes, and (for crafted cases) the outcomes allowed.

    An outcome is ``"<status>:<code>"`` for a refused upload, ``"done"`` or
    ``"failed:<code>"`` for an accepted one. ``None`` allows any outcome that
    keeps the contract.
    """

    name: str
    data: bytes
    expect: frozenset[str] | None = None


def base_files() -> dict[str, bytes]:
    """Small valid files of every accepted format and the common variants of each."""
    photo = factories.photo(96, 72, seed=3)
    return {
        "jpeg-exif": factories.jpeg(96, 72, orientation=6, gps=True),
        "jpeg-progressive": factories.encode(photo, "JPEG", quality=80, progressive=True),
        "jpeg-cmyk": factories.encode(photo.convert("CMYK"), "JPEG"),
        "jpeg-grey": factories.encode(photo.convert("L"), "JPEG"),
        "png": factories.encode(photo, "PNG"),
        "png-alpha": factories.png_alpha(96, 72),
        "png-palette": factories.palette_png_transparent(96, 64),
        "png-16bit": factories.png16(96, 64),
        "gif-animated": factories.animated_gif(64, 48, 4),
        "webp": factories.encode(photo, "WEBP", quality=70),
        "webp-alpha": factories.encode(photo.convert("RGBA"), "WEBP", lossless=True),
        "webp-animated": factories.encode(
            photo, "WEBP", save_all=True, append_images=[photo.rotate(90)]
        ),
        "tiff": factories.encode(photo, "TIFF"),
        "tiff-lzw": factories.encode(photo, "TIFF", compression="tiff_lzw"),
    }


def _flip(data: bytes, rng: random.Random, window: int | None = None) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        index = rng.randrange(min(len(out), window or len(out)))
        out[index] ^= 1 << rng.randrange(8)
    return bytes(out)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(1, len(data))]


def _duplicate(data: bytes, rng: random.Random) -> bytes:
    start = rng.randrange(len(data))
    end = start + rng.randint(1, min(2048, len(data) - start))
    at = rng.randrange(len(data))
    return data[:at] + data[start:end] + data[at:]


def _cut(data: bytes, rng: random.Random) -> bytes:
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, 512) :]


def _interesting(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        size = rng.choice([1, 2, 4])
        value = rng.choice([0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF])
        at = rng.randrange(min(len(out), 512) - size)
        out[at : at + size] = value.to_bytes(8, rng.choice(["big", "little"]))[-size:]
    return bytes(out)


MUTATORS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "flip": _flip,
    "flip-header": lambda data, rng: _flip(data, rng, window=128),
    "truncate": _truncate,
    "duplicate": _duplicate,
    "cut": _cut,
    "interesting": _interesting,
}


def random_cases(count: int, seed: int) -> list[Case]:
    """``count`` mutants, the bases and mutators taken in turn, positions from ``seed``."""
    rng = random.Random(seed)
    bases = base_files()
    names, mutators = sorted(bases), sorted(MUTATORS)
    cases = []
    for index in range(count):
        base = names[index % len(names)]
        mutator = mutators[(index // len(names)) % len(mutators)]
        cases.append(Case(f"{base}/{mutator}/{index}", MUTATORS[mutator](bases[base], rng)))
    return cases


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_ihdr(data: bytes, width: int, height: int, depth: int = 8, colour: int = 2) -> bytes:
    """``data`` (a PNG) with its IHDR claiming other fields, CRC recomputed."""
    body = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return data[:8] + _png_chunk(b"IHDR", body) + data[33:]


def _png_insert(data: bytes, kind: bytes, body: bytes) -> bytes:
    return data[:33] + _png_chunk(kind, body) + data[33:]


def jpeg_sof(data: bytes, width: int, height: int) -> bytes:
    """``data`` (a JPEG) with its start-of-frame claiming ``width``×``height``."""
    at = 2
    while data[at + 1] not in (0xC0, 0xC1, 0xC2):
        at += 2 + struct.unpack(">H", data[at + 2 : at + 4])[0]
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


def gif_screen(data: bytes, width: int, height: int) -> bytes:
    """``data`` (a GIF) with its logical screen claiming ``width``×``height``."""
    return data[:6] + struct.pack("<HH", width, height) + data[10:]


def gif_frames(count: int, screen: tuple[int, int] = (64, 64)) -> bytes:
    """A hand-built animated GIF: ``count`` one-pixel frames walking across the screen."""
    out = b"GIF89a" + struct.pack("<HH", *screen) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for index in range(count):
        x, y = index % screen[0], (index // screen[0]) % screen[1]
        out += b"\x21\xf9\x04\x04\x01\x00\x00\x00"  # 10 ms, keep the previous frame
        out += b"\x2c" + struct.pack("<HHHH", x, y, 1, 1) + b"\x00\x02\x02\x44\x01\x00"
    return out + b"\x3b"


def _tiff_ifd_loop() -> bytes:
    data = factories.encode(factories.photo(32, 24), "TIFF")
    first = struct.unpack("<I", data[4:8])[0]
    next_at = first + 2 + 12 * struct.unpack("<H", data[first : first + 2])[0]
    return data[:next_at] + struct.pack("<I", first) + data[next_at + 4 :]


def _tiff_second_page_without_width() -> bytes:
    pages = factories.photo(32, 24)
    data = bytearray(factories.encode(pages, "TIFF", save_all=True, append_images=[pages]))
    first = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[first : first + 2])[0]
    second = struct.unpack("<I", data[first + 2 + 12 * count : first + 6 + 12 * count])[0]
    for entry in range(struct.unpack("<H", data[second : second + 2])[0]):
        at = second + 2 + 12 * entry
        if data[at : at + 2] == struct.pack("<H", 256):  # ImageWidth → an unknown tag
            data[at : at + 2] = struct.pack("<H", 0xFFFE)
    return bytes(data)


def crafted_cases(max_frames: int) -> list[Case]:
    """Headers that lie, frame counts either side of ``max_frames``, bombs."""
    png = factories.encode(factories.photo(96, 72, seed=3), "PNG")
    jpeg = factories.jpeg(96, 72)
    gif = factories.animated_gif(64, 48, 4)
    bomb = zlib.compress(b"\x00" * (64 * 1024 * 1024), 9)
    second_frame = gif.find(b"\x21\xf9", gif.find(b"\x2c") + 1)
    too_large, invalid = "400:image_too_large", "400:invalid_image"
    table: list[tuple[str, bytes, set[str]]] = [
        ("png-ihdr-60000x60000", png_ihdr(png, 60000, 60000), {too_large}),
        ("png-ihdr-7000x7000", png_ihdr(png, 7000, 7000), {"failed:invalid_image"}),
        ("png-ihdr-48x36", png_ihdr(png, 48, 36), {"done", "failed:invalid_image"}),
        ("png-ihdr-0x0", png_ihdr(png, 0, 0), {invalid}),
        ("png-ihdr-16bit-rgba", png_ihdr(png, 96, 72, 16, 6), {"failed:invalid_image"}),
        ("png-ihdr-bad-crc", png[:16] + struct.pack(">I", 7000) + png[20:], {invalid}),
        ("png-ztxt-bomb", _png_insert(png, b"zTXt", b"k\x00\x00" + bomb), {invalid, "done"}),
        ("png-iccp-bomb", _png_insert(png, b"iCCP", b"p\x00\x00" + bomb), {invalid, "done"}),
        (
            "png-actl-2^31-frames",
            _png_insert(png, b"acTL", struct.pack(">II", 2**31 - 1, 0)),
            {too_large},
        ),
        ("png-7000x7000-zeros", factories.encode(Image.new("L", (7000, 7000)), "PNG"), {"done"}),
        ("png-header-8000x8000", factories.png_header(8000, 8000), {too_large}),
        # Taller than WebP allows (16383 px): its transparent variants fall back to PNG.
        ("png-alpha-64x17000", factories.encode(Image.new("LA", (64, 17000)), "PNG"), {"done"}),
        ("png-header-100x70000", factories.png_header(100, 70000), {too_large}),
        ("jpeg-sof-60000x60000", jpeg_sof(jpeg, 60000, 60000), {too_large}),
        ("jpeg-sof-7000x7000", jpeg_sof(jpeg, 7000, 7000), {"done", "failed:invalid_image"}),
        ("jpeg-sof-1x1", jpeg_sof(jpeg, 1, 1), {"done", "failed:invalid_image"}),
        ("jpeg-sof-0x0", jpeg_sof(jpeg, 0, 0), {invalid}),
        ("gif-screen-60000x60000", gif_screen(gif, 60000, 60000), {too_large}),
        ("gif-screen-65535x1", gif_screen(gif, 65535, 1), {too_large}),
        ("gif-screen-1x1", gif_screen(gif, 1, 1), {"done", "failed:invalid_image"}),
        (f"gif-{max_frames - 1}-frames", gif_frames(max_frames - 1), {"done"}),
        (f"gif-{max_frames}-frames-1x1", gif_frames(max_frames, (1, 1)), {"done"}),
        (f"gif-{max_frames + 1}-frames", gif_frames(max_frames + 1), {too_large}),
        (f"gif-{max_frames * 3}-frames", gif_frames(max_frames * 3), {too_large}),
        # Found by this fuzzer: Pillow raised IndexError, struct.error and TypeError
        # while counting frames, which the probe let through as a 500. The bounded
        # walk (imaging/structure.py) counts frames without reading them, so a file
        # whose first frame is whole may be accepted and made from that frame.
        ("gif-cut-in-frame-2-extension", gif[: second_frame + 1], {invalid, "done"}),
        ("gif-cut-in-frame-2-descriptor", gif[: second_frame + 10], {invalid, "done"}),
        ("tiff-page-2-without-width", _tiff_second_page_without_width(), {invalid, "done"}),
        ("tiff-ifd-loop", _tiff_ifd_loop(), {"done", invalid}),
        ("empty", b"", {invalid}),
        ("png-signature-only", png[:8], {invalid}),
    ]
    return [Case(name, data, frozenset(expect)) for name, data, expect in table]
