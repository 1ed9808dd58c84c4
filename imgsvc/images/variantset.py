"""Which variants an image has, which it lacks, and where each one lives.

The key and URL scheme (a spec is the identity of the bytes):

- a variant made under a spec is stored as ``images/<id>/<name>-<tag>.<ext>``
  and served, immutable, at ``/images/<id>/<name>-<tag>`` (its extra formats
  at ``/images/<id>/<name>-<tag>.<ext>``); ``<tag>`` is
  :meth:`VariantSpec.tag`, a hash of the size, the fit and the pipeline version;
- ``/images/<id>/<name>`` is an alias of the current variant, served with
  ``no-cache`` (its bytes change with the spec), except for images made before
  specs were recorded: their variants live at ``images/<id>/<name>.<ext>`` and
  that plain URL was served immutable, so it keeps its bytes until pruned,
  then answers 404.

The manifest keeps the current entry per name in ``variants`` (with ``spec``,
``pipeline`` and ``tag``), the renders a newer spec replaced in
``superseded`` (still served at their URLs until ``imgsvc backfill --prune``),
and the plain URLs of pruned pre-versioning renders in ``pruned``.
Pure functions over the manifest: nothing here reads storage or Redis.
"""

from __future__ import annotations

import hashlib
from typing import Any

from imgsvc.imaging.variants import PIPELINE_VERSION, VariantSpec


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


def spec_fields(spec: VariantSpec) -> dict[str, Any]:
    """What a manifest entry records of the spec that made it."""
    return {"spec": spec.identity(), "pipeline": PIPELINE_VERSION, "tag": spec.tag()}


def is_current(entry: dict[str, Any], spec: VariantSpec, original: dict[str, Any]) -> bool:
    """Whether ``entry`` holds the bytes ``spec`` makes today.

    An entry with a recorded spec is current when its tag is the spec's (same
    size, fit and pipeline version). An entry from before specs were recorded
    is current when its size is the one ``spec`` gives the original (either
    way round: the original's size is read before EXIF orientation).
    """
    if "tag" in entry:
        return bool(entry["tag"] == spec.tag())
    width, height = int(original.get("width") or 0), int(original.get("height") or 0)
    if width < 1 or height < 1:
        return False
    expected = {spec.target_size(width, height), spec.target_size(height, width)}
    return (entry.get("width"), entry.get("height")) in expected


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
