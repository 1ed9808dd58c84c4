"""Made images with one plainly placed subject on a plain background (smart crop tests),
and measures of how much of the subject a crop shows."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

BACKGROUND = (120, 140, 160)
SKIN, EYES = (224, 172, 140), (40, 30, 30)


def face(image: Image.Image, centre: tuple[int, int], radius: int) -> None:
    """A face-like blob: a skin-coloured oval with two eyes and a mouth."""
    x, y = centre
    draw = ImageDraw.Draw(image)
    draw.ellipse([x - radius, y - int(radius * 1.2), x + radius, y + int(radius * 1.2)], SKIN)
    for eye in (x - radius // 2.5, x + radius // 2.5):
        draw.ellipse([eye - 12, y - radius // 3 - 8, eye + 12, y - radius // 3 + 8], EYES)
    draw.rectangle([x - radius // 2, y + radius // 2, x + radius // 2, y + radius // 2 + 8], EYES)


def with_face(size: tuple[int, int], centre: tuple[int, int], radius: int = 90) -> bytes:
    image = Image.new("RGB", size, BACKGROUND)
    face(image, centre, radius)
    return encode(image)


def with_text(size: tuple[int, int], at: tuple[int, int]) -> bytes:
    image = Image.new("RGB", size, (250, 250, 250))
    draw = ImageDraw.Draw(image)
    for line in range(6):
        draw.text((at[0], at[1] + line * 14), "IMGSVC SMART CROP", fill=(0, 0, 0))
    return encode(image)


def with_detail(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    """A chequered object (10 px squares, red and yellow) on a plain background."""
    image = Image.new("RGB", size, BACKGROUND)
    y, x = np.mgrid[0 : box[3] - box[1], 0 : box[2] - box[0]]
    odd = ((x // 10 + y // 10) % 2).astype(bool)[..., None]
    patch = np.where(odd, np.array([220, 30, 30]), np.array([240, 220, 40])).astype(np.uint8)
    image.paste(Image.fromarray(patch, "RGB"), box[:2])
    return encode(image)


def encode(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def skin_share(array: np.ndarray) -> float:
    return float((np.abs(array - SKIN).max(axis=-1) < 30).mean())


def dark_share(array: np.ndarray, below: int = 90) -> float:
    return float((array.max(axis=-1) < below).mean())


def busy_share(array: np.ndarray) -> float:
    return float((np.abs(array - BACKGROUND).max(axis=-1) > 40).mean())
