"""The variant set over a manifest: current, stale, missing; merge and prune."""

from __future__ import annotations

from imgsvc.images import variantset
from imgsvc.imaging.variants import PIPELINE_VERSION, VariantSpec, parse_variants

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
