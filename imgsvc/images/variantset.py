"""Which variants an image has, which it lacks, and where each one lives.

The key and URL scheme (a spec is the identity of the bytes):

- a variant made under a spec is stored as ``images/<id>/<name>-<tag>.<ext>``
  and served, immutable, at ``/images/<id>/<name>-<tag>`` (its extra formats
  at ``/images/<id>/<name>-<tag>.<ext>``); ``<tag>`` is
  :meth:`VariantSpec.tag`, a hash of the size, the fit, for a cover crop how
  its crop is chosen (the centre, the automatic smart crop or the image's focal
  point: :func:`image_specs`), and the pipeline version;
- ``/images/<id>/<name>`` is an alias of the current variant, served with
  ``no-cache`` (its bytes change with the spec), except for images made before
  specs were recorded: their variants live at ``images/<id>/<name>.<ext>`` and
  that plain URL was served immutable, so it keeps its bytes until pruned,
  then answers 404.

The manifest keeps the current entry per name in ``variants`` (with ``spec``,
``pipeline`` and ``tag``), the renders a newer spec replaced in
``superseded`` (still served at their URLs until ``imgsvc backfill --prune``),
and the plain URLs of pruned pre-versioning renders in ``pruned``.
The specs an image is judged against are its own (:func:`image_specs`): the
configured ``VARIANTS`` with each cover crop's choice from the image's focal
point and ``CROP``. Every reader and writer of variants goes through it, so a
new focal point (``PATCH /api/images/<id>``) or another ``CROP`` makes the
cover entries stale, and only them. Pure functions over the manifest: nothing
here reads storage or Redis.
"""

from __future__ import annotations

import hashlib
from typing import Any

from imgsvc.imaging.smartcrop import FOCUS_DECIMALS, Focus, crop_identity
from imgsvc.imaging.variants import PIPELINE_VERSION, VariantSpec, parse_variants
from imgsvc.settings import Settings


def versioned_key(image_id: str, name: str, tag: str, extension: str) -> str:
    """The storage key of variant ``name`` made under spec ``tag``."""
    return f"images/{image_id}/{name}-{tag}.{extension}"


def versioned_url(image_id: str, name: str, tag: str, extension: str | None = None) -> str:
    """The immutable URL of variant ``name`` under ``tag`` (``extension``: an extra format)."""
    suffix = f".{extension}" if extension else ""
    return f"/images/{image_id}/{name}-{tag}{suffix}"


def plain_url(image_id: str, name: str) -> str:
    """``/images/<id>/<name>``: the current variant's alias (or a pre-versioning URL)."""
    return f"/images/{image_id}/{name}"


def focus_of(manifest: dict[str, Any]) -> Focus | None:
    """The image's focal point (``focus=x,y``, rounded as ``parse_focus`` keeps
    it), where its cover crops look; None leaves the choice to ``CROP``."""
    focus = manifest.get("focus")
    if not focus:
        return None
    return (round(float(focus[0]), FOCUS_DECIMALS), round(float(focus[1]), FOCUS_DECIMALS))


def image_specs(manifest: dict[str, Any], config: Settings) -> list[VariantSpec]:
    """The configured ``VARIANTS`` as this image is made in them: each cover spec
    with its ``crop`` (``crop_identity`` of the image's focal point and ``CROP``).
    ``{}`` as ``manifest`` gives the specs of an image without a focal point.
    The one place an image's specs come from: its tags, ``wanted``, ``signature``."""
    crop = crop_identity(focus_of(manifest), config.CROP)
    return [spec.with_crop(crop) for spec in parse_variants(config.VARIANTS)]


def spec_fields(spec: VariantSpec) -> dict[str, Any]:
    """What a manifest entry records of the spec that made it."""
    return {"spec": spec.identity(), "pipeline": PIPELINE_VERSION, "tag": spec.tag()}


def is_current(entry: dict[str, Any], spec: VariantSpec, original: dict[str, Any]) -> bool:
    """Whether ``entry`` holds the bytes ``spec`` makes today.

    An entry with a recorded spec is current when its tag is the spec's (same
    size, fit, crop choice and pipeline version). An entry from before specs
    were recorded is current when its size is the one ``spec`` gives the
    original (either way round: the original's size is read before EXIF
    orientation) and, for a cover crop, ``spec`` crops at the centre as every
    crop then did.
    """
    if "tag" in entry:
        return bool(entry["tag"] == spec.tag())
    if spec.cover and spec.crop != "centre":
        return False
    width, height = int(original.get("width") or 0), int(original.get("height") or 0)
    if width < 1 or height < 1:
        return False
    expected = {spec.target_size(width, height), spec.target_size(height, width)}
    return (entry.get("width"), entry.get("height")) in expected


def only_recropped(entry: dict[str, Any], spec: VariantSpec) -> bool:
    """Whether a versioned ``entry`` differs from ``spec`` only in how its cover
    crop was chosen (same size, fit and pipeline): a fair stand-in at the alias
    while the new crop is made."""
    recorded = entry.get("spec")
    if not spec.cover or not isinstance(recorded, dict) or "tag" not in entry:
        return False
    if entry.get("pipeline") != PIPELINE_VERSION:
        return False
    ours = {key: value for key, value in spec.identity().items() if key != "crop"}
    return {key: value for key, value in recorded.items() if key != "crop"} == ours


def variant_state(manifest: dict[str, Any], spec: VariantSpec) -> str:
    """``"current"``, ``"stale"`` (made under another spec) or ``"missing"``."""
    entry = (manifest.get("variants") or {}).get(spec.name)
    if entry is None:
        return "missing"
    return "current" if is_current(entry, spec, manifest.get("original") or {}) else "stale"


def wanted(manifest: dict[str, Any], specs: list[VariantSpec]) -> list[VariantSpec]:
    """The specs a ``done`` image lacks or has under an older spec, in ``specs`` order."""
    return [spec for spec in specs if variant_state(manifest, spec) != "current"]


def current_variants(manifest: dict[str, Any], specs: list[VariantSpec]) -> dict[str, Any]:
    """The entries of ``manifest`` that are configured and current, by name."""
    variants = manifest.get("variants") or {}
    return {
        spec.name: variants[spec.name]
        for spec in specs
        if variant_state(manifest, spec) == "current"
    }


def signature(specs: list[VariantSpec]) -> str:
    """A short hash of the whole configured set (names and tags): a job made for
    one set is not the answer to a request under another."""
    text = ",".join(f"{spec.name}-{spec.tag()}" for spec in specs)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def find_served(manifest: dict[str, Any], ref: str) -> dict[str, Any] | None:
    """The stored object behind ``/images/<id>/<ref>``, current or superseded:
    ``{"key", "content_type", "etag"}``, or ``None`` when no render has that URL
    (a plain alias, a pruned or unknown tag)."""
    url = f"/images/{manifest['id']}/{ref}"
    for entry in _all_entries(manifest):
        if entry.get("url") == url:
            return entry
        for extra in (entry.get("formats") or {}).values():
            if isinstance(extra, dict) and extra.get("url") == url:
                return extra
    return None


def _all_entries(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return list((manifest.get("variants") or {}).values()) + list(manifest.get("superseded") or [])


def merge(manifest: dict[str, Any], made: dict[str, dict[str, Any]]) -> None:
    """Put the entries ``made`` (by name) into ``manifest`` as current; the entries
    they replace move to ``superseded``, so their URLs keep their bytes."""
    variants = manifest.setdefault("variants", {})
    superseded = list(manifest.get("superseded") or [])
    for name, entry in made.items():
        old = variants.get(name)
        if old is not None and old.get("key") != entry.get("key"):
            superseded.append({**old, "name": name})
        variants[name] = entry
    current_keys = {entry.get("key") for entry in variants.values()}
    manifest["superseded"] = [old for old in superseded if old.get("key") not in current_keys]


def prunable(manifest: dict[str, Any], specs: list[VariantSpec]) -> list[dict[str, Any]]:
    """The renders no longer configured: every superseded one, and the current
    entries of names that left ``VARIANTS`` (each with its ``name``)."""
    configured = {spec.name for spec in specs}
    removed = [
        {**entry, "name": name}
        for name, entry in (manifest.get("variants") or {}).items()
        if name not in configured
    ]
    return list(manifest.get("superseded") or []) + removed


def prune(manifest: dict[str, Any], specs: list[VariantSpec]) -> list[str]:
    """Drop the :func:`prunable` renders from ``manifest``; the keys to delete.

    A key still used by a configured, current entry is never returned. The plain
    URL of a pruned pre-versioning render is remembered in ``pruned`` so it
    answers 404 rather than the alias's new bytes.
    """
    doomed = prunable(manifest, specs)
    if not doomed:
        return []
    configured = {spec.name for spec in specs}
    variants = manifest.get("variants") or {}
    manifest["variants"] = {name: e for name, e in variants.items() if name in configured}
    manifest["superseded"] = []
    keep = {key for entry in manifest["variants"].values() for key in _keys(entry)}
    pruned = list(manifest.get("pruned") or [])
    for entry in doomed:
        if "tag" not in entry and entry.get("url") and entry["url"] not in pruned:
            pruned.append(entry["url"])
    if pruned:
        manifest["pruned"] = pruned
    keys: list[str] = []
    for entry in doomed:
        keys.extend(key for key in _keys(entry) if key not in keep and key not in keys)
    return keys


def _keys(entry: dict[str, Any]) -> list[str]:
    keys = [entry["key"]] if entry.get("key") else []
    for extra in (entry.get("formats") or {}).values():
        if isinstance(extra, dict) and extra.get("key") and extra["key"] not in keys:
            keys.append(extra["key"])
    return keys
