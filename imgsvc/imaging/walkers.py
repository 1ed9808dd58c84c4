"""One bounded walk per format (see ``structure``): each reads only lengths and
offsets, counts every step it takes, and stops at the limits.

Each walker takes the whole upload (bytes or a memoryview of them) and the
``StructureLimits``; it returns the frame count when it counts frames (GIF,
TIFF), else None. It raises ``ImageTooLarge`` past a count limit and
``InvalidImage`` past a structure cap; a file that ends early is left to
Pillow (the walk just stops), except where the walk needs what is missing.
"""

from __future__ import annotations

import re
import struct
from typing import TYPE_CHECKING

import numpy as np

from imgsvc.errors import ImageTooLarge, InvalidImage

if TYPE_CHECKING:
    from imgsvc.imaging.structure import StructureLimits

Data = bytes | memoryview

# A marker with a segment (or SOI, EOI, TEM): 0xFF followed by neither a
# stuffed 0x00, a restart marker nor another 0xFF (fill, skipped as junk).
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_SCAN_BLOCK = 1 << 20
# JPEG markers without a length: SOI, EOI, TEM.
_STANDALONE = (0xD8, 0x01)
_EOI, _SOS = 0xD9, 0xDA
_TIFF_STRIP_OFFSETS, _TIFF_TILE_OFFSETS = 273, 324
_PNG_CHUNK = struct.Struct(">I4s").unpack_from  # length, type
_RIFF_CHUNK = struct.Struct("<4sI").unpack_from  # type, length
_PNG_COMPRESSED = frozenset((b"iCCP", b"zTXt", b"iTXt"))
_PNG_NOTABLE = _PNG_COMPRESSED | {b"IEND"}


def too_many_frames(counted: int, limits: StructureLimits) -> ImageTooLarge:
    """The error for a walk that counted past the frame limit (it stops there)."""
    return ImageTooLarge(
        f"The image has at least {counted} frames; the limit is {limits.max_frames}."
    )


def too_many(what: str, cap: int) -> InvalidImage:
    """The error for a walk past a structure cap: no real image has that many."""
    return InvalidImage(f"The image has more than {cap:,} {what}; it is not accepted.")


def tiff(data: Data, limits: StructureLimits) -> int:
    """Follow the chain of page directories (IFDs): pages up to ``max_frames + 1``,
    entries per directory up to ``max_header_chunks``, no offset twice (a loop)."""
    order = "<" if data[0] == 0x49 else ">"
    size = len(data)
    if bytes(data[2:4]) in (b"+\x00", b"\x00+"):  # BigTIFF: 8-byte counts and offsets
        count_fmt, entry_size, offset_fmt, first_at = "Q", 20, "Q", 8
    else:
        count_fmt, entry_size, offset_fmt, first_at = "H", 12, "I", 4
    count_fmt, offset_fmt = order + count_fmt, order + offset_fmt
    count_size, offset_size = struct.calcsize(count_fmt), struct.calcsize(offset_fmt)
    if first_at + offset_size > size:
        raise InvalidImage("The TIFF ends inside its header.")
    (offset,) = struct.unpack_from(offset_fmt, data, first_at)
    seen: set[int] = set()
    pages = 0
    while offset:
        if offset in seen:
            raise InvalidImage("The TIFF's pages form a loop.")
        seen.add(offset)
        pages += 1
        if pages > limits.max_frames:
            raise too_many_frames(pages, limits)
        if offset + count_size > size:
            raise InvalidImage("A TIFF page directory lies outside the file.")
        (count,) = struct.unpack_from(count_fmt, data, offset)
        if count > limits.max_header_chunks:
            raise too_many("entries in a TIFF page directory", limits.max_header_chunks)
        entries = offset + count_size
        following = entries + count * entry_size
        if following + offset_size > size:
            raise InvalidImage("A TIFF page directory lies outside the file.")
        if pages == 1:  # the page Pillow reads when it opens the file
            _check_strips(data, order, entries, count, entry_size, count_size, limits)
        (offset,) = struct.unpack_from(offset_fmt, data, following)
    return pages


def _check_strips(
    data: Data,
    order: str,
    entries: int,
    count: int,
    entry_size: int,
    count_size: int,
    limits: StructureLimits,
) -> None:
    # Pillow makes a tile (in Python) of every strip or tile offset listed,
    # however many the page's size needs.
    value_count = order + ("I" if count_size == 2 else "Q")
    tag_fmt = order + "H"
    for at in range(entries, entries + count * entry_size, entry_size):
        (tag,) = struct.unpack_from(tag_fmt, data, at)
        if tag in (_TIFF_STRIP_OFFSETS, _TIFF_TILE_OFFSETS):
            (listed,) = struct.unpack_from(value_count, data, at + 4)
            if listed > limits.max_chunks:
                raise too_many("strips or tiles in a TIFF page", limits.max_chunks)


def gif(data: Data, limits: StructureLimits) -> int:
    """Count frames (image descriptors) up to ``max_frames + 1``, reading blocks
    and sub-blocks up to ``max_chunks`` (``max_header_chunks`` before the first
    frame). Stray bytes between blocks count as blocks: Pillow skips them one by one."""
    size = len(data)
    if size < 13:
        raise InvalidImage("The GIF ends inside its header.")
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    cap, header_cap = limits.max_chunks, limits.max_header_chunks
    frames = steps = 0
    while pos < size:
        introducer = data[pos]
        steps += 1
        if steps > cap:
            raise too_many("blocks", cap)
        if not frames and steps > header_cap:
            raise too_many("blocks before its first frame", header_cap)
        if introducer == 0x3B:  # trailer
            break
        if introducer == 0x21:  # extension: label, then sub-blocks
            pos += 2
        elif introducer == 0x2C:  # image: descriptor, local palette, LZW size, sub-blocks
            frames += 1
            if frames > limits.max_frames:
                raise too_many_frames(frames, limits)
            if pos + 10 > size:
                break
            local = data[pos + 9]
            pos += 11 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
        else:
            pos += 1
            continue
        while pos < size:  # sub-blocks: a length byte, that many bytes; 0 ends them
            length = data[pos]
            pos += length + 1
            if not length:
                break
            steps += 1
            if steps > cap:
                raise too_many("blocks", cap)
            if not frames and steps > header_cap:
                raise too_many("blocks before its first frame", header_cap)
    return max(frames, 1)


def png(data: Data, limits: StructureLimits) -> None:
    """Walk the chunks: up to ``max_header_chunks`` before the first image data
    (Pillow reads each of those when it opens the file), then up to
    ``max_chunks`` more (its decoder reads them one by one), of which at most
    ``max_compressed_chunks`` compressed metadata chunks in all (Pillow
    inflates each, before or after the pixels). APNG frames: Pillow reads
    their number from acTL, a cheap read."""
    size, pos, compressed = len(data), 8, 0
    for _ in range(limits.max_header_chunks):
        if pos + 8 > size:
            return None
        length, kind = _PNG_CHUNK(data, pos)
        if kind in (b"IDAT", b"fdAT"):
            break
        if kind in _PNG_COMPRESSED and _png_compressed(data, pos, length, kind):
            compressed += 1
            if compressed > limits.max_compressed_chunks:
                raise too_many("compressed metadata chunks", limits.max_compressed_chunks)
        pos += length + 12
    else:
        raise too_many("chunks before its pixels", limits.max_header_chunks)
    # The loop is the walk's whole cost: a range, not a counter, and one set
    # lookup for the chunk types that need a second look.
    last = size - 8
    for _ in range(limits.max_chunks):
        if pos > last:
            return None
        length, kind = _PNG_CHUNK(data, pos)
        if kind in _PNG_NOTABLE:
            if kind == b"IEND":
                return None
            if _png_compressed(data, pos, length, kind):
                compressed += 1
                if compressed > limits.max_compressed_chunks:
                    raise too_many("compressed metadata chunks", limits.max_compressed_chunks)
        pos += length + 12
    raise too_many("chunks", limits.max_chunks)


def _png_compressed(data: Data, pos: int, length: int, kind: bytes) -> bool:
    if kind != b"iTXt":
        return True
    # iTXt: keyword (up to 79 bytes), NUL, then its compression flag.
    start = pos + 8
    head = bytes(data[start : start + min(length, 81)])
    nul = head.find(b"\0")
    return 0 <= nul < len(head) - 1 and head[nul + 1] == 1


def jpeg(data: Data, limits: StructureLimits) -> None:
    """Walk the marker segments up to the first scan, as Pillow does when it
    opens the file: ``max_header_chunks`` segments and as many bytes skipped
    between them (Pillow skips those one by one). Then count the scans of the
    rest of the file, up to ``max_jpeg_scans``: every SOS marker, an MPO's
    other pictures included (a count that can only be too high)."""
    size, cap = len(data), limits.max_header_chunks
    pos = 2
    skipped = 0
    for _ in range(cap):
        # Searched in a window no longer than the bytes still allowed to be
        # skipped: a file of junk costs the window, not the file.
        window = min(size, pos + cap - skipped + 2)
        found = _JPEG_MARKER.search(data, pos, window)
        if found is None:
            if window >= size:
                return None  # cut short: Pillow decides
            raise too_many("bytes between marker segments", cap)
        skipped += found.start() - pos
        pos = found.start()
        marker = data[pos + 1]
        if marker == _SOS:
            break
        if marker == _EOI:
            return None
        if marker in _STANDALONE:
            pos += 2
        elif pos + 4 > size:
            return None
        else:
            pos += 2 + ((data[pos + 2] << 8) | data[pos + 3])
    else:
        raise too_many("marker segments before its first scan", cap)
    scans = _sos_markers(data, pos)
    if scans > limits.max_jpeg_scans:
        raise ImageTooLarge(f"The JPEG has {scans} scans; the limit is {limits.max_jpeg_scans}.")
    return None


def _sos_markers(data: Data, start: int) -> int:
    """How many SOS markers (0xFF 0xDA) ``data`` holds from ``start`` on.

    Entropy-coded data never holds one (a 0xFF there is followed by 0x00 or a
    restart marker), so no walk is needed: a count over the bytes, whatever
    they are, in blocks so the temporary arrays stay small.
    """
    count = 0
    for block in range(start, len(data) - 1, _SCAN_BLOCK):
        # A fresh array per block, dropped at once: the caller may release
        # the buffer under ``data`` when the walk returns.
        part = np.frombuffer(data[block : block + _SCAN_BLOCK + 1], np.uint8)
        count += int(np.count_nonzero((part[:-1] == 0xFF) & (part[1:] == _SOS)))
        del part
    return count


def webp(data: Data, limits: StructureLimits) -> None:
    """Walk the RIFF chunks: ``max_chunks`` in all, frames (ANMF) up to
    ``max_frames + 1``. libwebp parses the whole file when Pillow opens it."""
    size, pos, frames = len(data), 12, 0
    last = size - 8
    for _ in range(limits.max_chunks):
        if pos > last:
            return None
        kind, length = _RIFF_CHUNK(data, pos)
        if kind == b"ANMF":
            frames += 1
            if frames > limits.max_frames:
                raise too_many_frames(frames, limits)
        pos += 8 + length + (length & 1)
    if pos + 8 > size:
        return None
    raise too_many("chunks", limits.max_chunks)
