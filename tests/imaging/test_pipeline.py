"""render_variants(): the outputs a user downloads, checked pixel by pixel."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageDraw, PngImagePlugin

from imgsvc.config import Defaults, csv_list
from imgsvc.errors import ImageTooLarge, InvalidImage
from imgsvc.imaging import EncodeOptions, RenderedVariant, parse_variants, render_variants
from tests import factories
from tests.imaging.icc import display_p3_icc, p3_to_srgb

# Every golden test runs with both JPEG decoders (simplejpeg's M/8 scaling, Pillow's draft).
pytestmark = pytest.mark.usefixtures("jpeg_decoder")

SPECS = parse_variants(Defaults.VARIANTS)
ALLOWED = csv_list(Defaults.ALLOWED_FORMATS)
NAMES = ["thumb", "xs", "sm", "md", "lg", "xl"]
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="Secret Person"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def render(
    data: bytes,
    specs: str | None = None,
    max_pixels: int = Defaults.MAX_IMAGE_PIXELS,
    **options: object,
) -> dict[str, RenderedVariant]:
    rendered = render_variants(
        data,
        parse_variants(specs) if specs else SPECS,
        allowed_formats=ALLOWED,
        max_pixels=max_pixels,
        options=EncodeOptions(**options),
    )
    return {variant.name: variant for variant in rendered}


def opened(variant: RenderedVariant) -> Image.Image:
    image = Image.open(io.BytesIO(variant.data))
    image.load()
    assert image.format == variant.format
    assert image.size == (variant.width, variant.height)
    return image


def pixels(variant: RenderedVariant) -> np.ndarray:
    return np.asarray(opened(variant)).astype(np.int32)


def corner(array: np.ndarray, bottom: bool, right: bool, fraction: int = 10) -> np.ndarray:
    """The mean colour of a corner block 1/``fraction`` of each side."""
    height, width = array.shape[:2]
    dy, dx = max(1, height // fraction), max(1, width // fraction)
    rows = slice(height - dy, None) if bottom else slice(0, dy)
    cols = slice(width - dx, None) if right else slice(0, dx)
    return array[rows, cols].reshape(-1, array.shape[2]).mean(axis=0)


def sizes(rendered: dict[str, RenderedVariant]) -> dict[str, tuple[int, int]]:
    return {name: (variant.width, variant.height) for name, variant in rendered.items()}


def assert_red(colour: np.ndarray) -> None:
    assert colour[0] > 220 and colour[1] < 40 and colour[2] < 40, colour


def assert_white(colour: np.ndarray) -> None:
    assert min(colour) > 230, colour


def white_disc_on_transparent(width: int = 1000, height: int = 800) -> bytes:
    """A white ellipse on transparent black: a naive resize makes its edge dark."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse(
        [width // 10, height // 8, width * 9 // 10, height * 7 // 8], fill=(255, 255, 255, 255)
    )
    return factories.encode(image, "PNG")


def big_jpeg(width: int, height: int, orientation: int) -> bytes:
    """A large JPEG that is cheap to make (no per-pixel noise)."""
    ramp = Image.linear_gradient("L").resize((width, height))
    image = Image.merge("RGB", (ramp, ramp.transpose(Image.Transpose.ROTATE_180), ramp))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return factories.encode(image, "JPEG", quality=80, exif=exif.tobytes())


# --- orientation and sizes -------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_to_every_variant(orientation: int) -> None:
    data = factories.marked_corner(800, 600, orientation)
    stored = Image.open(io.BytesIO(data)).size
    assert stored == ((600, 800) if orientation >= 5 else (800, 600))

    rendered = render(data)
    assert list(rendered) == NAMES
    assert sizes(rendered) == {
        "thumb": (200, 200),
        "xs": (320, 240),
        "sm": (640, 480),
        "md": (800, 600),
        "lg": (800, 600),
        "xl": (800, 600),
    }
    for variant in rendered.values():
        array = pixels(variant)
        assert_red(corner(array, bottom=False, right=False))
        assert_white(corner(array, bottom=True, right=True))
        assert_white(corner(array, bottom=False, right=True))
        assert_white(corner(array, bottom=True, right=False))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_orientation_survives_reduced_jpeg_decoding(orientation: int) -> None:
    # Small outputs let libjpeg decode at 1/8 scale; orientation must still apply.
    data = factories.marked_corner(800, 600, orientation)
    rendered = render(data, "tiny:100,box:40x40:cover")
    assert sizes(rendered) == {"tiny": (100, 75), "box": (40, 40)}
    for variant in rendered.values():
        array = pixels(variant)
        assert_red(corner(array, bottom=False, right=False))
        assert_white(corner(array, bottom=True, right=True))


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied_in_other_formats(fmt: str, orientation: int) -> None:
    stored = Image.open(io.BytesIO(factories.marked_corner(400, 300, orientation)))
    params = {"lossless": True} if fmt == "WEBP" else {}
    data = factories.encode(stored, fmt, exif=stored.getexif().tobytes(), **params)
    rendered = render(data, "tiny:100,box:40x40:cover")
    assert sizes(rendered) == {"tiny": (100, 75), "box": (40, 40)}
    for variant in rendered.values():
        array = pixels(variant)
        assert_red(corner(array, bottom=False, right=False))
        assert_white(corner(array, bottom=True, right=True))


def test_twelve_megapixel_portrait_from_exif_orientation() -> None:
    rendered = render(big_jpeg(4000, 3000, orientation=6))
    assert sizes(rendered) == {
        "thumb": (200, 200),
        "xs": (320, 427),
        "sm": (640, 853),
        "md": (1024, 1365),
        "lg": (1600, 2133),
        "xl": (2048, 2731),
    }
    for spec in SPECS:
        if not spec.cover:
            assert rendered[spec.name].height == round(4000 * spec.width / 3000)


@pytest.mark.parametrize("size", [(803, 397), (999, 333), (809, 1211), (1001, 251)])
def test_sizes_follow_the_original_not_the_reduced_decode(size: tuple[int, int]) -> None:
    width, height = size
    data = factories.encode(factories.photo(width, height), "JPEG")
    rendered = render(data, "a:100,b:150,c:77")
    for name, out_w in [("a", 100), ("b", 150), ("c", 77)]:
        assert (rendered[name].width, rendered[name].height) == (
            out_w,
            round(height * out_w / width),
        )
        opened(rendered[name])


def test_one_pixel_image_gives_one_pixel_variants() -> None:
    data = factories.encode(Image.new("RGB", (1, 1), (10, 200, 30)), "PNG")
    rendered = render(data)
    assert set(sizes(rendered).values()) == {(1, 1)}
    for variant in rendered.values():
        assert np.abs(pixels(variant)[0, 0] - (10, 200, 30)).max() <= 8


def test_panorama_keeps_its_aspect_and_thumb_is_a_centre_crop() -> None:
    image = Image.new("RGB", (10000, 300), (0, 0, 255))
    image.paste((255, 0, 0), (4850, 0, 5150, 300))  # a red band exactly where the crop goes
    rendered = render(factories.encode(image, "PNG"))
    assert sizes(rendered) == {
        "thumb": (200, 200),
        "xs": (320, 10),
        "sm": (640, 19),
        "md": (1024, 31),
        "lg": (1600, 48),
        "xl": (2048, 61),
    }
    thumb = pixels(rendered["thumb"])
    assert_red(thumb[5:-5, 5:-5].reshape(-1, 3).mean(axis=0))


def test_small_images_are_never_upscaled() -> None:
    rendered = render(factories.jpeg(500, 375))
    assert sizes(rendered) == {
        "thumb": (200, 200),
        "xs": (320, 240),
        "sm": (500, 375),
        "md": (500, 375),
        "lg": (500, 375),
        "xl": (500, 375),
    }


# --- metadata and encoding ---------------------------------------------------


def _tagged_jpeg() -> bytes:
    data = factories.jpeg(300, 200, orientation=1, gps=True)
    image = Image.open(io.BytesIO(data))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return factories.encode(
        image, "JPEG", exif=image.info["exif"], icc_profile=srgb, xmp=XMP, quality=90
    )


def _tagged_png_alpha() -> bytes:
    image = Image.open(io.BytesIO(factories.png_alpha(300, 200)))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 12.0)}
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    text = PngImagePlugin.PngInfo()
    text.add_itxt("XML:com.adobe.xmp", XMP.decode())
    return factories.encode(image, "PNG", exif=exif, icc_profile=srgb, pnginfo=text)


@pytest.mark.parametrize("make", [_tagged_jpeg, _tagged_png_alpha], ids=["jpeg", "png-alpha"])
def test_metadata_is_stripped_from_every_variant(make: Callable[[], bytes]) -> None:
    data = make()
    assert b"TestCam" in data and b"Secret Person" in data
    for variant in render(data).values():
        image = opened(variant)
        assert dict(image.getexif()) == {}
        for key in ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp"):
            assert key not in image.info, (variant.name, key)
        # JPEG APP1/APP2 markers, PNG and WebP chunk names, and the values themselves.
        markers = [b"TestCam", b"Secret Person", b"Exif\0\0", b"ICC_PROFILE"]
        markers += [b"iCCP", b"eXIf", b"iTXt", b"ICCP", b"EXIF", b"XMP "]
        for marker in markers:
            assert marker not in variant.data, (variant.name, marker)


def test_opaque_outputs_are_progressive_jpeg() -> None:
    for variant in render(factories.jpeg(700, 500, gps=True)).values():
        assert (variant.format, variant.extension, variant.content_type) == (
            "JPEG",
            "jpg",
            "image/jpeg",
        )
        image = opened(variant)
        assert image.mode == "RGB"
        assert image.info.get("progressive") or image.info.get("progression")


def test_rendering_is_deterministic() -> None:
    for data in (factories.jpeg(700, 500, orientation=6), factories.png_alpha(400, 300)):
        first = render(data)
        second = render(data)
        assert {n: v.data for n, v in first.items()} == {n: v.data for n, v in second.items()}


# --- colour ------------------------------------------------------------------


PATCH_COLOURS = [(200, 100, 50), (90, 110, 210), (128, 128, 128), (230, 200, 80), (40, 60, 90)]


def patches(mode: str, colours: list[tuple[int, int, int]] = PATCH_COLOURS) -> Image.Image:
    """Flat 100×100 colour patches side by side (flat, so JPEG keeps them exact)."""
    image = Image.new(mode, (100 * len(colours), 100))
    for i, colour in enumerate(colours):
        image.paste((*colour, 255)[: len(mode)], (i * 100, 0, i * 100 + 100, 100))
    if mode == "RGBA":
        image.paste((0, 0, 0, 0), (0, 90, image.width, 100))  # a transparent strip
    return image


def patch_colours(variant: RenderedVariant, count: int) -> list[np.ndarray]:
    """The mean RGB at the centre of each of ``count`` patches in an output."""
    array = pixels(variant)
    middle, step = array.shape[0] // 2, array.shape[1] / count
    found = []
    for i in range(count):
        x = int(step * i + step / 2)
        found.append(array[middle - 5 : middle + 5, x - 5 : x + 5, :3].reshape(-1, 3).mean(axis=0))
    return found


def test_cmyk_jpeg_becomes_rgb_with_the_source_colours() -> None:
    data = factories.encode(patches("RGB").convert("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    rendered = render(data, "xs:250,thumb:50x50:cover")
    for variant in rendered.values():
        assert opened(variant).mode == "RGB"
    for got, expected in zip(patch_colours(rendered["xs"], 5), PATCH_COLOURS, strict=True):
        assert np.abs(got - expected).max() <= 6, (got, expected)


def test_cmyk_photo_is_close_to_its_rgb_original() -> None:
    source = np.asarray(factories.photo(400, 300)).astype(np.int32)
    same_size = pixels(render(factories.cmyk_jpeg(400, 300))["md"])
    assert same_size.shape == source.shape
    assert np.abs(same_size - source).mean() < 10  # noise through two lossy encodes


@pytest.mark.parametrize(("fmt", "mode"), [("PNG", "RGB"), ("JPEG", "RGB"), ("PNG", "RGBA")])
def test_icc_tagged_display_p3_ends_in_srgb(fmt: str, mode: str) -> None:
    params = {"quality": 100, "subsampling": 0} if fmt == "JPEG" else {}
    data = factories.encode(patches(mode), fmt, icc_profile=display_p3_icc(), **params)
    variant = render(data, "xs:250")["xs"]
    assert variant.format == ("WEBP" if mode == "RGBA" else "JPEG")
    found = patch_colours(variant, len(PATCH_COLOURS))
    for colour, got in zip(PATCH_COLOURS, found, strict=True):
        expected = p3_to_srgb(colour)
        assert np.abs(got - expected).max() <= 3, (colour, got, expected)
    # The conversion is visible: P3 (200, 100, 50) was not passed through as-is.
    assert np.abs(found[0] - PATCH_COLOURS[0]).max() > 10


def test_sixteen_bit_grey_is_scaled_to_eight_bits() -> None:
    rendered = render(factories.png16(300, 200))
    for variant in rendered.values():
        assert opened(variant).mode == "L"
    full = pixels(rendered["md"])
    assert full.shape == (200, 300)
    assert full[:, :3].mean() <= 3
    assert full[:, -3:].mean() >= 252
    assert abs(full[:, 150].mean() - 128) <= 4


def test_dark_sixteen_bit_grey_stays_dark() -> None:
    ramp = np.tile(np.linspace(0, 255, 64).astype(np.uint16), (48, 1))
    rendered = render(factories.encode(Image.fromarray(ramp), "PNG"), "xs:64")
    assert pixels(rendered["xs"]).max() <= 2


# --- transparency ------------------------------------------------------------


@pytest.mark.parametrize(("transparent_format", "fmt"), [("WEBP", "WEBP"), ("PNG", "PNG")])
def test_alpha_is_kept_and_transparent_pixels_stay_transparent(
    transparent_format: str, fmt: str
) -> None:
    rendered = render(factories.png_alpha(500, 400), transparent_format=transparent_format)
    for variant in rendered.values():
        assert variant.format == fmt
        assert variant.content_type == f"image/{fmt.lower()}"
        image = opened(variant)
        assert image.mode == "RGBA"
        alpha = np.asarray(image.getchannel("A")).astype(np.int32)
        height, width = alpha.shape
        for y, x in [(0, 0), (0, width - 1), (height - 1, 0), (height - 1, width - 1)]:
            assert alpha[y, x] == 0, (variant.name, y, x)
        assert alpha[height // 2, width // 2] == 255


def test_palette_png_with_transparency_keeps_alpha() -> None:
    rendered = render(factories.palette_png_transparent(300, 200))
    for variant in rendered.values():
        image = opened(variant)
        assert (variant.format, image.mode) == ("WEBP", "RGBA")
    source = Image.open(io.BytesIO(factories.palette_png_transparent(300, 200)))
    expected = np.asarray(source.convert("RGBA").getchannel("A"))
    alpha = np.asarray(opened(rendered["md"]).getchannel("A"))
    assert alpha[:, :100].max() == 0  # the left third is the transparent index
    assert np.array_equal(alpha, expected)


def test_colour_key_transparency_keeps_alpha() -> None:
    image = Image.new("RGB", (120, 80), (10, 20, 30))
    image.paste((200, 0, 0), (60, 0, 120, 80))
    rendered = render(factories.encode(image, "PNG", transparency=(10, 20, 30)))
    alpha = np.asarray(opened(rendered["xs"]).getchannel("A"))
    assert rendered["xs"].format == "WEBP"
    assert alpha[:, :50].max() == 0
    assert alpha[:, 70:].min() == 255


def test_fully_opaque_rgba_becomes_jpeg() -> None:
    image = factories.photo(300, 200).convert("RGBA")
    for variant in render(factories.encode(image, "PNG")).values():
        assert variant.format == "JPEG"
        assert opened(variant).mode == "RGB"


@pytest.mark.parametrize("transparent_format", ["WEBP", "PNG"])
def test_alpha_edges_have_no_dark_halo(transparent_format: str) -> None:
    rendered = render(white_disc_on_transparent(), transparent_format=transparent_format)
    for name in ("thumb", "xs", "sm"):
        array = pixels(rendered[name])
        alpha = array[..., 3]
        edge = (alpha >= 16) & (alpha < 255)
        assert edge.sum() > 50, name  # the resize did make soft edges
        assert array[..., :3][edge].min() >= 230, name


# --- animation, formats, errors -----------------------------------------------


def test_animated_gif_gives_its_first_frame() -> None:
    rendered = render(factories.animated_gif(120, 90, frames=5))
    assert sizes(rendered)["xs"] == (120, 90)
    for variant in rendered.values():
        assert variant.format == "JPEG"
        colour = pixels(variant).reshape(-1, 3).mean(axis=0)
        assert np.abs(colour - (0, 80, 160)).max() <= 8, (variant.name, colour)


def test_multi_picture_jpeg_renders_its_first_image() -> None:
    data = factories.encode(
        factories.photo(640, 480), "MPO", save_all=True, append_images=[factories.photo(320, 240)]
    )
    rendered = render(data)
    assert sizes(rendered)["sm"] == (640, 480)
    assert rendered["xs"].format == "JPEG"


def test_truncated_jpeg_is_invalid() -> None:
    data = factories.jpeg(640, 480)
    with pytest.raises(InvalidImage) as caught:
        render(data[: len(data) // 2])
    assert caught.value.code == "invalid_image"


@pytest.mark.parametrize("data", [b"", b"not an image at all"], ids=["empty", "text"])
def test_undecodable_bytes_are_invalid(data: bytes) -> None:
    with pytest.raises(InvalidImage):
        render(data)


def test_pixel_limit_is_enforced_by_the_worker_too() -> None:
    data = factories.jpeg(200, 100)
    assert sizes(render(data, max_pixels=200 * 100))["xs"] == (200, 100)
    with pytest.raises(ImageTooLarge) as caught:
        render(data, max_pixels=200 * 100 - 1)
    assert caught.value.code == "image_too_large"


def test_decompression_bomb_is_too_large() -> None:
    with pytest.raises(ImageTooLarge) as caught:
        render(factories.png_header(30000, 30000))
    assert "50,000,000" in caught.value.message
