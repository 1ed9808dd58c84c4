"""Variant specs: the sizes every image is made in, parsed from ``VARIANTS``."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

_SPEC = re.compile(r"^(?P<name>[a-z][a-z0-9_]*):(?P<w>\d+)(?:x(?P<h>\d+))?(?::(?P<mode>cover))?$")
RESERVED_NAMES = {"original", "manifest"}


@dataclass(frozen=True)
class VariantSpec:
    """One output: a width-bound resize, or a crop to ``width``×``height``
    (``cover``) centred on ``focus`` (x, y in 0–1) as far as the image allows."""

    name: str
    width: int
    height: int | None = None
    cover: bool = False
    focus: tuple[float, float] = (0.5, 0.5)

    def with_focus(self, focus: tuple[float, float]) -> VariantSpec:
        """This spec, its crop centred on ``focus``."""
        return replace(self, focus=focus)

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        """The output size for a source of ``width``×``height``, never upscaled."""
        if self.cover:
            box_h = self.height or self.width
            scale = min(1.0, width / self.width, height / box_h)
            return max(1, round(self.width * scale)), max(1, round(box_h * scale))
        out_w = min(self.width, width)
        return out_w, max(1, round(height * out_w / width))


def parse_variants(text: str) -> list[VariantSpec]:
    """Parse ``"thumb:200x200:cover,xs:320,..."``; raise ``ValueError`` if malformed."""
    specs: list[VariantSpec] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        match = _SPEC.match(item)
        if not match or match["name"] in RESERVED_NAMES:
            raise ValueError(f"Bad variant spec {item!r}: use name:width or name:WxH:cover")
        width = int(match["w"])
        height = int(match["h"]) if match["h"] else None
        cover = match["mode"] == "cover"
        if width < 1 or (height is not None and height < 1) or (cover and height is None):
            raise ValueError(f"Bad variant size in {item!r}")
        specs.append(VariantSpec(match["name"], width, height, cover))
    names = [spec.name for spec in specs]
    if not specs or len(set(names)) != len(names):
        raise ValueError("VARIANTS must name at least one variant, each name once")
    return specs
