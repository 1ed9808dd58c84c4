"""Hostile uploads made on the fly: structures whose header walks are long.

Each builder returns bytes that stay under the 20 MiB upload limit and whose
first bytes are a valid header of an allowed format, so only the walk past the
header can refuse them. ``CORPUS`` names each one with the error code the
header check must answer; the tests and ``benchmarks/hostile/`` share it.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

from PIL import Image

# --- TIFF -------------------------------------------------------------------

_TIFF_TAGS = (  # tag, type (3 SHORT, 4 LONG), value: a 1x1 grey page
    (256, 3, 1),  # ImageWidth
    (257, 3, 1),  # ImageLength
    (258, 3, 8),  # BitsPerSample
    (259, 3, 1),  # Compression: none
    (262, 3, 1),  # PhotometricInterpretation: black is zero
    (273, 4, 8),  # StripOffsets: the pixel byte right after the header
    (277, 3, 1),  # SamplesPerPixel
    (278, 3, 1),  # RowsPerStrip
    (279, 4, 1),  # StripByteCounts
)


def _ifd(tags: tuple[tuple[int, int, int], ...], next_offset: int) -> bytes:
    entries = b"".join(
        struct.pack("<HHII", tag, kind, 1, value)
        if kind == 4
        else struct.pack("<HHIHH", tag, kind, 1, value, 0)
        for tag, kind, value in tags
    )
    return struct.pack("<H", len(tags)) + entries + struct.pack("<I", next_offset)


def tiff_page_chain(pages: int = 100_000) -> bytes:
    """A little-endian TIFF of ``pages`` chained 1x1 pages (~100 bytes each)."""
    size = 2 + len(_TIFF_TAGS) * 12 + 4
    first = 10  # header (8) + the one pixel byte (+ a pad byte: IFDs start on a word)
    out = [b"II*\x00" + struct.pack("<I", first) + b"\x80\x00"]
    for page in range(pages):
        following = first + (page + 1) * size if page + 1 < pages else 0
        out.append(_ifd(_TIFF_TAGS, following))
    return b"".join(out)


def tiff_ifd_loop(pages: int = 3) -> bytes:
    """A TIFF whose last page points back to the first: a chain without an end."""
    data = bytearray(tiff_page_chain(pages))
    last_next = len(data) - 4
    data[last_next:] = struct.pack("<I", 10)
    return bytes(data)


def tiff_tag_flood(entries: int = 65_535) -> bytes:
    """One page whose directory has the most entries a TIFF allows (private tags)."""
    filler = tuple((30_000 + i % 30_000, 3, 0) for i in range(entries - len(_TIFF_TAGS)))
    return b"II*\x00" + struct.pack("<I", 10) + b"\x80\x00" + _ifd(_TIFF_TAGS + filler, 0)


def tiff_strip_flood(strips: int = 2_000_000) -> bytes:
    """A 1x1 page that lists ``strips`` strip offsets (Pillow makes a tile of each)."""
    tags = [t for t in _TIFF_TAGS if t[0] not in (273, 279)]
    array_at = 10 + 2 + (len(tags) + 2) * 12 + 4
    counts_at = array_at + 4 * strips
    entries = [struct.pack("<HHIHH", tag, kind, 1, value, 0) for tag, kind, value in tags[:5]]
    entries.append(struct.pack("<HHII", 273, 4, strips, array_at))
    entries += [struct.pack("<HHIHH", tag, kind, 1, value, 0) for tag, kind, value in tags[5:]]
    entries.append(struct.pack("<HHII", 279, 4, strips, counts_at))
    ifd = struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", 0)
    offsets = struct.pack("<I", 8) * strips
    counts = struct.pack("<I", 1) * strips
    return b"II*\x00" + struct.pack("<I", 10) + b"\x80\x00" + ifd + offsets + counts


def tiff_at_every_cap() -> bytes:
    """A TIFF at every default cap, so accepted: a first page of 2,000
    directory entries listing 100,000 strips, then 999 more 1x1 pages."""
    strips = 100_000
    filler = tuple((30_000 + i, 3, 0) for i in range(2000 - len(_TIFF_TAGS)))
    tags = tuple(t for t in _TIFF_TAGS if t[0] not in (273, 279))
    entries_count = len(tags) + 2 + len(filler)
    first = 10
    ifd_size = 2 + entries_count * 12 + 4
    arrays_at = first + ifd_size
    pages_at = arrays_at + 8 * strips
    page_size = 2 + len(_TIFF_TAGS) * 12 + 4

    def short(tag: int, kind: int, value: int) -> tuple[int, bytes]:
        return tag, struct.pack("<HHIHH", tag, kind, 1, value, 0)

    entries = [short(*t) for t in tags] + [short(*t) for t in filler]
    entries.append((273, struct.pack("<HHII", 273, 4, strips, arrays_at)))
    entries.append((279, struct.pack("<HHII", 279, 4, strips, arrays_at + 4 * strips)))
    entries.sort()
    head = struct.pack("<H", len(entries)) + b"".join(e for _t, e in entries)
    out = [b"II*\x00" + struct.pack("<I", first) + b"\x80\x00", head + struct.pack("<I", pages_at)]
    out.append(
        struct.pack("<I", 8) * strips + struct.pack("<I", 0) * (strips - 1) + b"\x01\x00\x00\x00"
    )
    for page in range(999):
        following = pages_at + (page + 1) * page_size if page < 998 else 0
        out.append(_ifd(_TIFF_TAGS, following))
    return b"".join(out)


# --- PNG --------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes = b"") -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IHDR_1X1 = _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
_IDAT_1X1 = _chunk(b"IDAT", zlib.compress(b"\x00\x00"))


def png_chunk_flood(chunks: int = 1_700_000, after_idat: bool = False) -> bytes:
    """A 1x1 PNG with ``chunks`` empty private chunks before (or after) its pixels."""
    flood = _chunk(b"prVt") * chunks
    if after_idat:
        return _PNG_SIGNATURE + _IHDR_1X1 + _IDAT_1X1 + flood + _chunk(b"IEND")
    return _PNG_SIGNATURE + _IHDR_1X1 + flood + _IDAT_1X1 + _chunk(b"IEND")


def png_text_bombs(chunks: int = 60) -> bytes:
    """A 1x1 PNG with ``chunks`` zTXt chunks of ~1 KB, each inflating to 1 MB."""
    bomb = zlib.compress(bytes(1_000_000), 9)
    texts = b"".join(_chunk(b"zTXt", b"note%d\x00\x00" % i + bomb) for i in range(chunks))
    return _PNG_SIGNATURE + _IHDR_1X1 + texts + _IDAT_1X1 + _chunk(b"IEND")


def png_at_every_cap() -> bytes:
    """A 1x1 PNG at every default cap, so accepted: 1,999 chunks before its
    pixels, 8 of them text bombs (below), then 99,999 chunks after."""
    bomb = zlib.compress(bytes(1_000_000), 9)
    texts = b"".join(_chunk(b"zTXt", b"note%d\x00\x00" % i + bomb) for i in range(8))
    before = texts + _chunk(b"prVt") * (1999 - 1 - 8)  # IHDR is one of them
    return (
        _PNG_SIGNATURE + _IHDR_1X1 + before + _IDAT_1X1 + _chunk(b"prVt") * 99_998 + _chunk(b"IEND")
    )


def png_idat_flood(chunks: int = 1_500_000) -> bytes:
    """A 1x1 PNG whose compressed pixels are split into ``chunks`` IDAT chunks."""
    stream = zlib.compress(b"\x00\x00")
    pieces = [_chunk(b"IDAT", stream)] + [_chunk(b"IDAT", b"")] * (chunks - 1)
    return _PNG_SIGNATURE + _IHDR_1X1 + b"".join(pieces) + _chunk(b"IEND")


def apng_frame_claim(frames: int = 2**31 - 1) -> bytes:
    """An APNG whose acTL claims ``frames`` frames (only one is there)."""
    actl = _chunk(b"acTL", struct.pack(">II", frames, 0))
    fctl = _chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, 1, 1, 0, 0, 1, 10, 0, 0))
    return _PNG_SIGNATURE + _IHDR_1X1 + actl + fctl + _IDAT_1X1 + _chunk(b"IEND")


# --- GIF --------------------------------------------------------------------

_GIF_HEADER = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
# An image descriptor for 1x1 at (0, 0), LZW minimum code size 2, one data
# sub-block (clear, pixel 0, end), terminator.
_GIF_FRAME = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"


def gif_frame_flood(frames: int = 1_000_000) -> bytes:
    """A 1x1 GIF of ``frames`` frames of 16 bytes each."""
    return _GIF_HEADER + _GIF_FRAME * frames + b"\x3b"


def gif_at_every_cap() -> bytes:
    """A 1x1 GIF at every default cap, so accepted: 1,999 comment blocks before
    its first frame, 1,000 frames, and one-byte sub-blocks up to 100,000 steps."""
    header = b"\x21\xfe\x00" * 1999
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02"
    # Steps so far: 1,999 comments; each frame is a descriptor + its sub-blocks.
    sub_blocks = 100_000 - 1999 - 1000 - 1  # the trailer is a step too
    first = descriptor + b"\x02\x44\x01" + b"\x01\x00" * (sub_blocks - 999 - 1) + b"\x00"
    return _GIF_HEADER + header + first + _GIF_FRAME * 999 + b"\x3b"


def gif_extension_flood(extensions: int = 2_000_000) -> bytes:
    """A 1x1 GIF whose one frame follows ``extensions`` empty comment extensions."""
    return _GIF_HEADER + b"\x21\xfe\x00" * extensions + _GIF_FRAME + b"\x3b"


def gif_subblock_flood(subblocks: int = 8_000_000) -> bytes:
    """A 1x1 GIF whose frame data is cut into ``subblocks`` one-byte sub-blocks."""
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02"
    return _GIF_HEADER + descriptor + b"\x01\x00" * subblocks + b"\x00\x3b"


# --- JPEG -------------------------------------------------------------------


def _progressive_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 90)).save(buffer, "JPEG", progressive=True)
    return buffer.getvalue()


def jpeg_scan_flood(scans: int = 100_000) -> bytes:
    """A progressive JPEG whose last scan is repeated to ``scans`` scans in all."""
    data = _progressive_jpeg()
    last_sos = data.rindex(b"\xff\xda")
    body, last = data[:last_sos], data[last_sos:-2]  # without EOI
    existing = body.count(b"\xff\xda") + 1
    return body + last * (scans - existing + 1) + b"\xff\xd9"


def jpeg_marker_flood(markers: int = 5_000_000) -> bytes:
    """A JPEG with ``markers`` empty comment segments between its header and frame."""
    data = _progressive_jpeg()
    return data[:2] + b"\xff\xfe\x00\x02" * markers + data[2:]


def jpeg_junk_flood(junk: int = 20_000_000) -> bytes:
    """A JPEG with ``junk`` bytes of zeros after its first segment (Pillow
    skips them one by one, looking for the next marker)."""
    data = _progressive_jpeg()
    first_end = 4 + struct.unpack(">H", data[4:6])[0]
    return data[:first_end] + bytes(junk) + data[first_end:]


def jpeg_fill_flood(pairs: int = 9_500_000) -> bytes:
    """A JPEG whose last scan runs on with ``pairs`` stuffed 0xFF bytes: a scan
    of that length is valid, so the check accepts it, at the cost of counting
    its scans over every byte."""
    data = _progressive_jpeg()
    return data[:-2] + b"\xff\x00" * pairs + data[-2:]


# --- WebP -------------------------------------------------------------------


def _riff(chunks: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks


def _webp_chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) & 1)


def _vp8l_1x1() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (1, 1), (0, 0, 0, 0)).save(buffer, "WEBP", lossless=True)
    data = buffer.getvalue()
    return data[12:]  # the VP8L chunk, whole


def _vp8x(flags: int, width: int = 1, height: int = 1) -> bytes:
    canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return _webp_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + canvas)


def webp_frame_flood(frames: int = 440_000) -> bytes:
    """An animated 1x1 WebP of ``frames`` frames (a VP8L bitstream each)."""
    # Offset 0,0; size 1x1 (stored minus one); duration 100 ms; no blending flags.
    header = b"\x00" * 12 + (100).to_bytes(3, "little") + b"\x00"
    frame = _webp_chunk(b"ANMF", header + _vp8l_1x1())
    return _riff(_vp8x(0x12) + _webp_chunk(b"ANIM", b"\x00" * 6) + frame * frames)


def webp_chunk_flood(chunks: int = 2_500_000) -> bytes:
    """A 1x1 WebP (extended format) with ``chunks`` empty unknown chunks before its pixels."""
    return _riff(_vp8x(0x00) + _webp_chunk(b"junk", b"") * chunks + _vp8l_1x1())


# name -> (builder, the error code the header check answers, or "accepted")
CORPUS: dict[str, tuple[Callable[[], bytes], str]] = {
    "tiff-page-chain": (tiff_page_chain, "image_too_large"),
    "tiff-ifd-loop": (tiff_ifd_loop, "invalid_image"),
    "tiff-tag-flood": (tiff_tag_flood, "invalid_image"),
    "tiff-strip-flood": (tiff_strip_flood, "invalid_image"),
    "png-chunk-flood": (png_chunk_flood, "invalid_image"),
    "png-chunk-flood-after-idat": (lambda: png_chunk_flood(after_idat=True), "invalid_image"),
    "png-idat-flood": (png_idat_flood, "invalid_image"),
    "png-text-bombs": (png_text_bombs, "invalid_image"),
    "png-text-bombs-at-cap": (lambda: png_text_bombs(8), "accepted"),
    "png-at-every-cap": (png_at_every_cap, "accepted"),
    "tiff-at-every-cap": (tiff_at_every_cap, "accepted"),
    "gif-at-every-cap": (gif_at_every_cap, "accepted"),
    "apng-frame-claim": (apng_frame_claim, "image_too_large"),
    "gif-frame-flood": (gif_frame_flood, "image_too_large"),
    "gif-extension-flood": (gif_extension_flood, "invalid_image"),
    "gif-subblock-flood": (gif_subblock_flood, "invalid_image"),
    "jpeg-scan-flood": (jpeg_scan_flood, "image_too_large"),
    "jpeg-marker-flood": (jpeg_marker_flood, "invalid_image"),
    "jpeg-junk-flood": (jpeg_junk_flood, "invalid_image"),
    "jpeg-fill-flood": (jpeg_fill_flood, "accepted"),
    "webp-frame-flood": (webp_frame_flood, "image_too_large"),
    "webp-chunk-flood": (webp_chunk_flood, "invalid_image"),
}
