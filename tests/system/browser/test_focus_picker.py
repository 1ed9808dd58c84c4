"""The upload form's focal point, set by clicking the chosen file's preview (Chromium)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import requests
from PIL import Image
from playwright.sync_api import expect

from imgsvc.imaging.smartcrop import automatic_focus, detail_map
from imgsvc.imaging.variants import VariantSpec
from tests.imaging.subjects import BACKGROUND, encode, face, skin_share
from tests.support.stack import LiveStack

pytestmark = [pytest.mark.slow, pytest.mark.browser]
IMAGE_PAGE = re.compile(r"/images/[A-Za-z0-9_-]{22}$")
SIZE = (2000, 800)
FACE = (300, 400)  # a face-like blob on the left: the subject the person clicks
CHEQUERS = (1450, 250, 1750, 550)  # high detail on the right, which an automatic crop would favour
RED, YELLOW = (220, 30, 30), (240, 220, 40)
THUMB = VariantSpec("thumb", 200, 200, cover=True)


def two_subjects() -> bytes:
    """A face on the left and a red and yellow chequered object (50 px squares) on the
    right, far apart on a plain background: a square crop (800×800) shows one or the
    other, never both, and the automatic crop picks the chequers."""
    image = Image.new("RGB", SIZE, BACKGROUND)
    face(image, FACE, radius=120)
    x0, y0, x1, y1 = CHEQUERS
    y, x = np.mgrid[0 : y1 - y0, 0 : x1 - x0]
    odd = ((x // 50 + y // 50) % 2).astype(bool)[..., None]
    patch = np.where(odd, np.array(RED), np.array(YELLOW)).astype(np.uint8)
    image.paste(Image.fromarray(patch, "RGB"), (x0, y0))
    return encode(image)


def chequer_share(array: np.ndarray) -> float:
    """The share of pixels in the chequers' red or yellow."""
    near = [np.abs(array - np.array(colour)).max(axis=-1) < 40 for colour in (RED, YELLOW)]
    return float((near[0] | near[1]).mean())


def choose(page, data: bytes, name: str = "two.jpg") -> None:
    page.set_input_files("#file", files=[{"name": name, "mimeType": "image/jpeg", "buffer": data}])
    page.wait_for_function(
        "(() => { const i = document.getElementById('focus-preview'); "
        "return i.complete && i.naturalWidth > 0; })()"
    )


def click_at(page, fx: float, fy: float) -> tuple[float, float]:
    """Click the preview at (fx, fy) of its displayed size; the page coordinates clicked."""
    preview = page.locator("#focus-preview")
    box = preview.bounding_box()
    assert box is not None and box["width"] > 100, box
    position = {"x": fx * box["width"], "y": fy * box["height"]}
    preview.click(position=position)
    return box["x"] + position["x"], box["y"] + position["y"]


def typed_point(page) -> tuple[float, float]:
    x, y = page.locator("#focus").input_value().split(",")
    assert len(x.split(".")[-1]) <= 3 and len(y.split(".")[-1]) <= 3  # 3 decimals at most
    return float(x), float(y)


def marker_centre(page) -> tuple[float, float]:
    box = page.locator("#focus-marker").bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_clicking_the_subject_in_the_preview_makes_the_thumbnail_keep_it(page, stack: LiveStack):
    source = Image.open(io.BytesIO(two_subjects()))
    automatic = automatic_focus(detail_map(source, (0, 0, *SIZE)), THUMB)
    assert automatic[0] > 0.5  # without the click, the thumbnail would show the chequers
    page.goto("/")
    choose(page, two_subjects())

    click_at(page, FACE[0] / SIZE[0], FACE[1] / SIZE[1])
    expect(page.locator("#focus-marker")).to_be_visible()
    x, y = typed_point(page)
    assert x == pytest.approx(0.15, abs=0.01) and y == pytest.approx(0.5, abs=0.01)
    page.get_by_role("button", name="Upload two.jpg").click()

    page.wait_for_url(IMAGE_PAGE)
    image_id = page.url.rsplit("/", 1)[-1]
    view = stack.wait_final(image_id)
    assert view["status"] == "done", view
    assert view["focus"] == [x, y]  # the clicked point, as the form sent it
    thumb_url = view["variants"]["thumb"]["url"]
    thumb = requests.get(f"{stack.url}{thumb_url}", timeout=10)
    assert thumb.status_code == 200
    pixels = np.asarray(Image.open(io.BytesIO(thumb.content)).convert("RGB"), dtype=np.int16)
    assert skin_share(pixels) > 0.04  # the face is in the thumbnail
    assert chequer_share(pixels) < 0.001  # and the busier object is not


def test_a_second_click_moves_the_point_and_clear_empties_it(page):
    page.goto("/")
    choose(page, two_subjects())
    marker = page.locator("#focus-marker")
    expect(marker).to_be_hidden()

    first = click_at(page, 0.25, 0.25)
    assert typed_point(page) == pytest.approx((0.25, 0.25), abs=0.01)
    assert marker_centre(page) == pytest.approx(first, abs=2)
    second = click_at(page, 0.8, 0.6)
    assert typed_point(page) == pytest.approx((0.8, 0.6), abs=0.01)
    assert marker_centre(page) == pytest.approx(second, abs=2)

    page.get_by_role("button", name="Clear").click()
    expect(page.get_by_label(re.compile("Focal point"))).to_have_value("")
    expect(marker).to_be_hidden()

    # The keyboard's way: the labelled field moves the marker as well.
    page.get_by_label(re.compile("Focal point")).fill("0.5,0.25")
    expect(marker).to_be_visible()
    box = page.locator("#focus-preview").bounding_box()
    assert box is not None
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 4)
    assert marker_centre(page) == pytest.approx(centre, abs=2)
