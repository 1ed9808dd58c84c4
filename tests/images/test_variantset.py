"""The variant set over a manifest: current, stale, missing; merge and prune."""

from __future__ import annotations

import hashlib

from imgsvc.images import variantset
from imgsvc.images.variantset import image_specs
from imgsvc.imaging.variants import PIPELINE_VERSION, TAG_LENGTH, VariantSpec, parse_variants
from imgsvc.settings import Settings

THUMB = VariantSpec("thumb", 200, 200, cover=True)
THUMB_256 = VariantSpec("thumb", 256, 256, cover=True)
MD = VariantSpec("md", 1024)
ORIGINAL = {"width": 1500, "height": 1000}


def entry(image_id: str, spec: VariantSpec, size: tuple[int, int]) -> dict:
    tag = spec.tag()
    return {
        "key": variantset.versioned_key(image_id, spec.name, tag, "jpg"),
        "url": variantset.versioned_url(image_id, spec.name, tag),
        "width": size[0],
        "height": size[1],
        "content_type": "image/jpeg",
        "etag": f"etag-{tag}",
        "formats": {},
        **variantset.spec_fields(spec),
    }


def legacy(image_id: str, name: str, size: tuple[int, int]) -> dict:
    return {
        "key": f"images/{image_id}/{name}.jpg",
        "url": f"/images/{image_id}/{name}",
        "width": size[0],
        "height": size[1],
        "content_type": "image/jpeg",
        "etag": f"legacy-{name}",
    }


def manifest(image_id: str = "i" * 22, **variants: dict) -> dict:
    return {"id": image_id, "status": "done", "original": ORIGINAL, "variants": variants}


def test_a_tag_changes_with_every_part_of_the_spec_and_the_pipeline():
    tags = {
        THUMB.tag(),
        THUMB_256.tag(),
        VariantSpec("thumb", 200, 200).tag(),  # width-bound: the height means nothing
        MD.tag(),
        VariantSpec("md", 1025).tag(),
        MD.tag(PIPELINE_VERSION + 1),
    }
    assert len(tags) == 6
    assert VariantSpec("thumb", 200, 300).tag() == VariantSpec("xs", 200).tag()  # same bytes
    assert parse_variants("thumb:200x200:cover")[0].tag() == THUMB.tag()


def test_recorded_specs_decide_current_stale_and_missing():
    record = manifest(thumb=entry("i" * 22, THUMB, (200, 200)))
    assert variantset.variant_state(record, THUMB) == "current"
    assert variantset.variant_state(record, THUMB_256) == "stale"
    assert variantset.variant_state(record, MD) == "missing"
    assert variantset.wanted(record, [THUMB_256, MD]) == [THUMB_256, MD]
    assert variantset.wanted(record, [THUMB]) == []


def test_a_variant_from_before_specs_is_current_when_its_size_matches():
    record = manifest(
        thumb=legacy("i" * 22, "thumb", (200, 200)), md=legacy("i" * 22, "md", (1024, 683))
    )
    assert variantset.variant_state(record, THUMB) == "current"
    assert variantset.variant_state(record, MD) == "current"
    assert variantset.variant_state(record, THUMB_256) == "stale"
    assert variantset.variant_state(record, VariantSpec("md", 1200)) == "stale"
    portrait = {**record, "original": {"width": 1000, "height": 1500}}  # EXIF-rotated
    assert variantset.variant_state(portrait, MD) == "current"


def test_merge_keeps_replaced_renders_served_until_pruned():
    image_id = "i" * 22
    old = entry(image_id, THUMB, (200, 200))
    record = manifest(image_id, thumb=old, md=legacy(image_id, "md", (1024, 683)))
    new = entry(image_id, THUMB_256, (256, 256))

    variantset.merge(record, {"thumb": new})

    assert record["variants"]["thumb"] == new
    assert [e["url"] for e in record["superseded"]] == [old["url"]]
    assert variantset.find_served(record, f"thumb-{THUMB.tag()}")["key"] == old["key"]
    assert variantset.find_served(record, f"thumb-{THUMB_256.tag()}")["key"] == new["key"]
    assert variantset.find_served(record, "md")["key"] == f"images/{image_id}/md.jpg"
    assert variantset.find_served(record, "thumb") is None  # the alias: not a stored URL
    assert variantset.find_served(record, "thumb-0000000000") is None

    variantset.merge(record, {"thumb": old})  # back to the first spec: current again
    assert record["variants"]["thumb"] == old
    assert [e["url"] for e in record["superseded"]] == [new["url"]]


def test_prune_returns_only_the_keys_of_renders_no_longer_configured():
    image_id = "i" * 22
    record = manifest(
        image_id,
        thumb=entry(image_id, THUMB, (200, 200)),
        md=legacy(image_id, "md", (1024, 683)),
        xl=entry(image_id, VariantSpec("xl", 2048), (1500, 1000)),
    )
    variantset.merge(record, {"thumb": entry(image_id, THUMB_256, (256, 256))})
    specs = [THUMB_256, MD]  # xl removed; thumb changed; md (pre-versioning) kept

    keys = variantset.prune(record, specs)

    assert sorted(keys) == sorted(
        [
            f"images/{image_id}/thumb-{THUMB.tag()}.jpg",
            f"images/{image_id}/xl-{VariantSpec('xl', 2048).tag()}.jpg",
        ]
    )
    assert sorted(record["variants"]) == ["md", "thumb"]
    assert record["superseded"] == []
    assert variantset.prune(record, specs) == []  # nothing twice


def test_a_pruned_pre_versioning_url_is_remembered():
    image_id = "i" * 22
    record = manifest(image_id, md=legacy(image_id, "md", (1024, 683)))
    variantset.merge(record, {"md": entry(image_id, VariantSpec("md", 1200), (1200, 800))})

    assert variantset.prune(record, [VariantSpec("md", 1200)]) == [f"images/{image_id}/md.jpg"]
    assert record["pruned"] == [f"/images/{image_id}/md"]


def test_signature_names_the_whole_set():
    assert variantset.signature([THUMB, MD]) == variantset.signature([THUMB, MD])
    assert variantset.signature([THUMB, MD]) != variantset.signature([THUMB_256, MD])
    assert variantset.signature([THUMB]) != variantset.signature([THUMB, MD])


# -- how a cover crop is chosen is part of its identity -----------------------


def settings(**values: str) -> Settings:
    return Settings({"VARIANTS": "thumb:200x200:cover,md:1024", **values})


def with_focus(x: float, y: float) -> dict:
    return {**manifest(), "focus": [x, y]}


def old_identity_entry(image_id: str, spec: VariantSpec, size: tuple[int, int]) -> dict:
    """An entry as recorded before the crop choice was part of the identity: its
    tag hashed size, fit and pipeline only."""
    identity = {"width": spec.width, "height": spec.height if spec.cover else None}
    text = f"{identity['width']}x{identity['height'] or ''}:{spec.fit}:p{PIPELINE_VERSION}"
    tag = hashlib.sha256(text.encode()).hexdigest()[:TAG_LENGTH]
    return {
        **entry(image_id, spec, size),
        "key": variantset.versioned_key(image_id, spec.name, tag, "jpg"),
        "url": variantset.versioned_url(image_id, spec.name, tag),
        "spec": {**identity, "fit": spec.fit},
        "tag": tag,
    }


def test_an_images_specs_carry_its_crop_choice_and_only_covers_change_tag():
    centre, smart = settings(CROP="centre"), settings(CROP="smart")
    focused = with_focus(0.25, 0.75)
    crops = {
        "centre": image_specs({}, centre),
        "smart": image_specs({}, smart),
        "focus": image_specs(focused, smart),
        "focus under centre": image_specs(focused, centre),
    }
    assert [specs[0].crop for specs in crops.values()] == [
        "centre",
        "smart",
        "focus=0.250,0.750",
        "focus=0.250,0.750",  # a focal point wins over CROP
    ]
    assert len({specs[0].tag() for specs in crops.values()}) == 3
    assert {specs[1].tag() for specs in crops.values()} == {MD.tag()}  # width-bound: unchanged
    assert image_specs(focused, smart)[0].identity()["crop"] == "focus=0.250,0.750"
    assert "crop" not in image_specs(focused, smart)[1].identity()
    nearby = with_focus(0.2500001, 0.75)  # finer than a thousandth: the same crop
    assert image_specs(nearby, smart)[0].tag() == crops["focus"][0].tag()
    assert image_specs(with_focus(0.251, 0.75), smart)[0].tag() != crops["focus"][0].tag()


def test_old_identity_cover_entries_are_stale_and_width_entries_current():
    image_id = "i" * 22
    old = manifest(
        thumb=old_identity_entry(image_id, THUMB, (200, 200)),
        md=old_identity_entry(image_id, MD, (1024, 683)),
    )
    assert old["variants"]["md"]["tag"] == MD.tag()  # width-bound tags did not change
    for crop in ("smart", "centre"):
        specs = image_specs(old, settings(CROP=crop))
        assert [variantset.variant_state(old, spec) for spec in specs] == ["stale", "current"]
        assert [spec.name for spec in variantset.wanted(old, specs)] == ["thumb"]
    # Made again, the old render stays served at its URL (superseded).
    specs = image_specs(old, settings())
    variantset.merge(old, {"thumb": entry(image_id, specs[0], (200, 200))})
    assert variantset.wanted(old, specs) == []
    old_url = old["superseded"][0]["url"]
    assert variantset.find_served(old, old_url.rsplit("/", 1)[1])["url"] == old_url


def test_a_new_focal_point_makes_the_cover_stale_and_the_alias_may_stand_in():
    image_id = "i" * 22
    before = with_focus(0.9, 0.5)
    made = image_specs(before, settings())
    before["variants"] = {
        "thumb": entry(image_id, made[0], (200, 200)),
        "md": entry(image_id, made[1], (1024, 683)),
    }
    assert variantset.wanted(before, made) == []
    after = {**before, "focus": [0.1, 0.5]}
    specs = image_specs(after, settings())
    assert [spec.name for spec in variantset.wanted(after, specs)] == ["thumb"]
    assert variantset.only_recropped(after["variants"]["thumb"], specs[0])
    assert not variantset.only_recropped(after["variants"]["thumb"], THUMB_256.with_crop("smart"))


def test_pre_versioning_cover_entries_were_centre_crops():
    record = manifest(thumb=legacy("i" * 22, "thumb", (200, 200)))
    assert variantset.variant_state(record, THUMB.with_crop("centre")) == "current"
    assert variantset.variant_state(record, THUMB.with_crop("smart")) == "stale"
    assert variantset.variant_state(record, THUMB.with_crop("focus=0.100,0.500")) == "stale"
