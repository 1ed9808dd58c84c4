"""A bounded read of a HEIF or AVIF file's boxes: what its header says, no decode.

HEIF (HEIC from phones) and AVIF are ISO base media files: a tree of boxes.
The header we need is in the ``meta`` box: the items (``iinf``), which one
is the primary picture (``pitm``), how items refer to each other (``iref``:
thumbnails ``thmb``, depth and alpha ``auxl``, the tiles of a grid ``dimg``,
gain maps) and each item's properties (``iprp``: its size ``ispe``, its
colour ``colr``, rotation ``irot`` and mirror ``imir``).

``summarize`` reads only lengths, counts every box and association it
visits and stops at the ``StructureLimits``, so what it costs depends on the
limits, not on the file. It is what the upload check and the job read before
libheif or libavif see the bytes: a picture past the pixel limit is refused
from its declared size (``ispe``), before a decoder could allocate it.

Raises ``InvalidImage`` for a structure past a cap, a box that leaves the
file, or a primary picture without a declared size, and ``ImageTooLarge``
for more top-level pictures than ``max_frames`` or a picture past
``max_pixels``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imgsvc.errors import ImageTooLarge, InvalidImage

if TYPE_CHECKING:
    from imgsvc.imaging.structure import StructureLimits

Data = bytes | memoryview

HEIF_BRANDS = frozenset((b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"))
AVIF_BRANDS = frozenset((b"avif", b"avis"))
# Items that are pictures (coded, or made of others); metadata items (Exif, mime) are not.
_PICTURE_TYPES = frozenset((b"hvc1", b"av01", b"grid", b"iden", b"iovl", b"jpeg", b"unci"))
# References that make their source a part of another picture, not a picture of its own.
_NOT_TOP_LEVEL = frozenset((b"thmb", b"auxl", b"dimg", b"base", b"prem"))
_U32 = struct.Struct(">I").unpack_from
_U16 = struct.Struct(">H").unpack_from
_BOX = struct.Struct(">I4s").unpack_from


@dataclass(frozen=True)
class Nclx:
    """A ``colr`` box of type ``nclx``: code points of ISO/IEC 23091-2 (H.273)."""

    primaries: int
    transfer: int
    matrix: int
    full_range: bool


@dataclass(frozen=True)
class Summary:
    """What the header of a HEIF/AVIF file declares about its primary picture.

    ``width`` and ``height`` are its stored size (before ``irot``); ``pictures``
    counts the top-level pictures (thumbnails, depth and alpha planes, grid
    tiles and gain maps excluded); ``sequence`` is true for an image
    sequence (an animated AVIF), whose frames the header does not count.
    """

    format: str
    width: int
    height: int
    pictures: int
    sequence: bool
    nclx: Nclx | None
    has_icc: bool


def brand_format(head: bytes) -> str | None:
    """``"AVIF"``, ``"HEIF"`` or None from a file's first bytes (its ``ftyp`` box)."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    major = head[8:12]
    if major in AVIF_BRANDS:
        return "AVIF"
    if major in HEIF_BRANDS:
        size = _U32(head, 0)[0]
        compatible = {head[at : at + 4] for at in range(16, min(size, len(head)) - 3, 4)}
        return "AVIF" if major == b"mif1" and compatible & AVIF_BRANDS else "HEIF"
    return None


class _Budget:
    """Every box and association visited counts against ``max_chunks``."""

    def __init__(self, cap: int) -> None:
        self.cap, self.spent = cap, 0

    def spend(self, steps: int = 1) -> None:
        self.spent += steps
        if self.spent > self.cap:
            raise InvalidImage(f"The image has more than {self.cap:,} boxes; it is not accepted.")


def _boxes(data: Data, start: int, end: int, budget: _Budget) -> Iterator[tuple[bytes, int, int]]:
    """Each box between ``start`` and ``end``: (type, payload start, box end)."""
    pos = start
    while pos + 8 <= end:
        budget.spend()
        size, kind = _BOX(data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise InvalidImage("A box of the image lies outside the file.")
            size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise InvalidImage("A box of the image lies outside the file.")
        yield bytes(kind), pos + header, pos + size
        pos += size


def summarize(data: Data, limits: StructureLimits) -> Summary:
    """Read the header of a HEIF/AVIF file within ``limits``; see the module's doc."""
    head = bytes(data[:64])
    fmt = brand_format(head)
    if fmt is None:
        raise InvalidImage("The file is not a HEIF or AVIF image.")
    budget = _Budget(limits.max_chunks)
    meta: tuple[int, int] | None = None
    sequence = False
    for kind, start, end in _boxes(data, 0, len(data), budget):
        if kind == b"meta":
            meta = (start + 4, end)  # a full box: version and flags first
        elif kind == b"moov":
            sequence = True
    if meta is None:
        raise InvalidImage("The image has no header (meta box).")
    return _read_meta(data, *meta, fmt, sequence, limits, budget)


def _read_meta(
    data: Data,
    start: int,
    end: int,
    fmt: str,
    sequence: bool,
    limits: StructureLimits,
    budget: _Budget,
) -> Summary:
    primary: int | None = None
    items: dict[int, bytes] = {}
    parts: set[int] = set()
    properties: list[tuple[bytes, int, int]] = []
    associations: dict[int, list[int]] = {}
    for kind, at, box_end in _boxes(data, start, end, budget):
        if kind == b"pitm":
            primary = _U16(data, at + 4)[0] if data[at] == 0 else _U32(data, at + 4)[0]
        elif kind == b"iinf":
            items = _read_items(data, at, box_end, limits, budget)
        elif kind == b"iref":
            parts = _read_parts(data, at, box_end, limits, budget)
        elif kind == b"iprp":
            for sub, sub_at, sub_end in _boxes(data, at, box_end, budget):
                if sub == b"ipco":
                    properties = list(_boxes(data, sub_at, sub_end, budget))
                elif sub == b"ipma":
                    associations = _read_associations(data, sub_at, sub_end, limits, budget)
    if primary is None or primary not in items:
        raise InvalidImage("The image names no primary picture.")
    pictures = [item for item, kind in items.items() if kind in _PICTURE_TYPES]
    top_level = [item for item in pictures if item not in parts]
    if len(top_level) > limits.max_frames:
        raise ImageTooLarge(
            f"The image has {len(top_level)} pictures; the limit is {limits.max_frames}."
        )
    width = height = 0
    nclx: Nclx | None = None
    has_icc = False
    for item in top_level:
        size: tuple[int, int] | None = None
        for index in associations.get(item, []):
            if not 0 <= index < len(properties):
                raise InvalidImage("A picture of the image names a property it does not have.")
            kind, at, box_end = properties[index]
            if kind == b"ispe" and box_end - at >= 12:
                size = (_U32(data, at + 4)[0], _U32(data, at + 8)[0])
            elif kind == b"colr" and item == primary and box_end - at >= 4:
                colour_type = bytes(data[at : at + 4])
                if colour_type == b"nclx" and box_end - at >= 11:
                    primaries, transfer, matrix = struct.unpack_from(">HHH", data, at + 4)
                    nclx = Nclx(primaries, transfer, matrix, bool(data[at + 10] & 0x80))
                elif colour_type in (b"prof", b"rICC"):
                    has_icc = True
        if size is None:
            if item == primary:
                raise InvalidImage("The image's primary picture declares no size.")
            continue
        _check_pixels(size, limits)
        if item == primary:
            width, height = size
    return Summary(fmt, width, height, len(top_level), sequence, nclx, has_icc)


def _check_pixels(size: tuple[int, int], limits: StructureLimits) -> None:
    width, height = size
    if limits.max_pixels is not None and width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"The image is {width}×{height} ({width * height:,} pixels); "
            f"the limit is {limits.max_pixels:,} pixels."
        )


def _read_items(
    data: Data, at: int, end: int, limits: StructureLimits, budget: _Budget
) -> dict[int, bytes]:
    """item id → item type, from ``iinf`` (infe versions 2 and 3; older ones are skipped)."""
    count = _U16(data, at + 4)[0] if data[at] == 0 else _U32(data, at + 4)[0]
    if count > limits.max_header_chunks:
        raise InvalidImage(
            f"The image has more than {limits.max_header_chunks:,} items; it is not accepted."
        )
    first = at + (6 if data[at] == 0 else 8)
    items: dict[int, bytes] = {}
    for kind, infe, box_end in _boxes(data, first, end, budget):
        if kind != b"infe" or box_end - infe < 12:
            continue
        version = data[infe]
        if version == 2:
            items[_U16(data, infe + 4)[0]] = bytes(data[infe + 8 : infe + 12])
        elif version == 3 and box_end - infe >= 14:
            items[_U32(data, infe + 4)[0]] = bytes(data[infe + 10 : infe + 14])
    return items


def _read_parts(
    data: Data, at: int, end: int, limits: StructureLimits, budget: _Budget
) -> set[int]:
    """The items that ``iref`` makes part of another picture (thumbnails, tiles, …)."""
    id_size = 2 if data[at] == 0 else 4
    read_id = _U16 if id_size == 2 else _U32
    parts: set[int] = set()
    for kind, ref, box_end in _boxes(data, at + 4, end, budget):
        if kind not in _NOT_TOP_LEVEL or ref + id_size + 2 > box_end:
            continue
        count = _U16(data, ref + id_size)[0]
        budget.spend(count)
        if kind == b"dimg":  # the grid refers to its tiles: they are the parts
            first = ref + id_size + 2
            if first + count * id_size > box_end:
                raise InvalidImage("A reference box of the image lies outside the file.")
            parts.update(read_id(data, first + i * id_size)[0] for i in range(count))
        else:  # a thumbnail, depth/alpha plane or gain map refers to what it belongs to
            parts.add(read_id(data, ref)[0])
    if len(parts) > limits.max_header_chunks:
        raise InvalidImage("The image has too many references; it is not accepted.")
    return parts


def _read_associations(
    data: Data, at: int, end: int, limits: StructureLimits, budget: _Budget
) -> dict[int, list[int]]:
    """item id → the indexes (0-based) of its properties, from ``ipma``."""
    version, flags = data[at], data[at + 3]
    count = _U32(data, at + 4)[0]
    if count > limits.max_header_chunks:
        raise InvalidImage("The image has too many property lists; it is not accepted.")
    pos = at + 8
    associations: dict[int, list[int]] = {}
    for _ in range(count):
        budget.spend()
        if version < 1:
            item, pos = _U16(data, pos)[0], pos + 2
        else:
            item, pos = _U32(data, pos)[0], pos + 4
        listed = data[pos]
        pos += 1
        budget.spend(listed)
        wide = flags & 1
        if pos + listed * (2 if wide else 1) > end:
            raise InvalidImage("A property list of the image lies outside the file.")
        indexes = []
        for _ in range(listed):
            if wide:
                value, pos = _U16(data, pos)[0] & 0x7FFF, pos + 2
            else:
                value, pos = data[pos] & 0x7F, pos + 1
            if value:  # 0 means "no property"
                indexes.append(value - 1)
        associations[item] = indexes
    return associations


def walk(data: Data, limits: StructureLimits) -> int | None:
    """The structure walk of ``structure.walk`` for HEIF and AVIF: the count of
    top-level pictures, or None for an image sequence (the header's count,
    read by the decoder's parse, is then used)."""
    summary = summarize(data, limits)
    return None if summary.sequence else summary.pictures
