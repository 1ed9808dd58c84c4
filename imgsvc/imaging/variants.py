"""Variant specs: the sizes every image is made in, parsed from ``VARIANTS``.

A spec is the identity of a variant's bytes: its ``tag`` (a short hash of the
size, the fit, for a cover crop how the crop is chosen, and
:data:`PIPELINE_VERSION`) names the stored object and the immutable URL, so
bytes made under another spec never share a URL.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import Any

_SPEC = re.compile(r"^(?P<name>[a-z][a-z0-9_]*):(?P<w>\d+)(?:x(?P<h>\d+))?(?::(?P<mode>cover))?$")
RESERVED_NAMES = {"original", "manifest"}
# Bump when the pipeline's output changes for the same spec (another resize
# filter, colour handling, encoder defaults): every variant then counts as
# stale, and backfill or the next request makes it again under a new URL.
PIPELINE_VERSION = 1
TAG_LENGTH = 10


@dataclass(frozen=True)
class VariantSpec:
    """One output: a width-bound resize, or a crop to ``width``×``height``
    (``cover``) centred on ``focus`` (x, y in 0–1) as far as the image allows.

    ``crop`` says how a cover crop's focus is chosen (``"centre"``, ``"smart"``
    or ``"focus=x,y"``: see ``imaging.smartcrop.crop_identity``); it is part of
    the identity, so the tag changes whenever the crop would. ``focus`` is the
    point a render settled on (the automatic one differs per image) and is not.
    """

    name: str
    width: int
    height: int | None = None
    cover: bool = False
    focus: tuple[float, float] = (0.5, 0.5)
    crop: str = "centre"

    def with_focus(self, focus: tuple[float, float]) -> VariantSpec:
        """This spec, its crop centred on ``focus``."""
        return replace(self, focus=focus)

    def with_crop(self, crop: str) -> VariantSpec:
        """This spec with its crop chosen as ``crop`` (a width-bound spec is unchanged)."""
        return replace(self, crop=crop) if self.cover else self

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        """The output size for a source of ``width``×``height``, never upscaled."""
        if self.cover:
            box_h = self.height or self.width
            scale = min(1.0, width / self.width, height / box_h)
            return max(1, round(self.width * scale)), max(1, round(box_h * scale))
        out_w = min(self.width, width)
        return out_w, max(1, round(height * out_w / width))

    @property
    def fit(self) -> str:
        """``"cover"`` (centre crop to the box) or ``"width"`` (width-bound, aspect kept)."""
        return "cover" if self.cover else "width"

    def identity(self) -> dict[str, Any]:
        """What makes the bytes: ``{"width", "height", "fit"}``, and a cover crop's
        ``crop`` (a width-bound spec has no height: a height given without
        ``cover`` changes nothing)."""
        if not self.cover:
            return {"width": self.width, "height": None, "fit": self.fit}
        return {
            "width": self.width,
            "height": self.height or self.width,
            "fit": self.fit,
            "crop": self.crop,
        }

    def tag(self, pipeline: int = PIPELINE_VERSION) -> str:
        """A short hex hash of :meth:`identity` and the pipeline version: the part
        of the key and URL that changes whenever the bytes would. A width-bound
        spec hashes as it did before crops were part of the identity, so its
        URLs stay; a cover spec's hash includes its ``crop``."""
        spec = self.identity()
        text = f"{spec['width']}x{spec['height'] or ''}:{spec['fit']}:p{pipeline}"
        if self.cover:
            text += f":{self.crop}"
        return hashlib.sha256(text.encode()).hexdigest()[:TAG_LENGTH]


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
