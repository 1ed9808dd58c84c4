"""Public views of an image: the manifest as clients see it, with live status."""

from __future__ import annotations

from typing import Any

from imgsvc.extensions import REDIS_ERRORS, Services
from imgsvc.images import ondemand, record
from imgsvc.images.uploads import AcceptedUpload
from imgsvc.images.variantset import current_variants, image_specs, wanted
from imgsvc.logs import note
from imgsvc.web.mediaurls import with_public_urls
from imgsvc.webhooks.record import public_view


def _live_state(svc: Services, manifest: dict[str, Any]) -> tuple[str, Any, dict | None]:
    """Status, error and progress, refined by the job while the manifest is unfinished.

    The manifest cannot say "failed" when storage itself was down at the last
    attempt; the job in Redis can. Redis being down only means less detail.
    """
    status, error = manifest["status"], manifest.get("error")
    if status in record.FINAL_STATUSES:
        return status, error, None
    try:
        found = record.image_job(svc.queue, manifest["id"])
    except REDIS_ERRORS:
        return status, error, None
    if found is None:
        return status, error, None
    job_status = found.status
    meta = found.job.meta or {}
    progress = None
    if "variants_total" in meta:
        progress = {"done": meta.get("variants_done", 0), "total": meta["variants_total"]}
    if job_status == "failed":
        return (
            "failed",
            meta.get("error") or {"code": "internal_error", "message": "The job failed."},
            None,
        )
    if job_status == "started":
        status = "processing"
    return status, error, progress


def shown_variants(svc: Services, manifest: dict[str, Any]) -> dict[str, Any]:
    """The configured variants the image has under their current spec, by name
    (a stale or removed one is not shown: its old URL still answers, until pruned)."""
    return current_variants(manifest, image_specs(manifest, svc.config))


def pending_variants(svc: Services, manifest: dict[str, Any]) -> dict[str, Any]:
    """``{name: {"status": "pending"|"failed", ...}}`` for the configured variants a
    ``done`` image lacks or has under an older spec; asking enqueues their job
    (:mod:`imgsvc.images.ondemand`), so they are on their way once shown."""
    if manifest.get("status") != "done":
        return {}
    specs = image_specs(manifest, svc.config)
    missing = wanted(manifest, specs)
    if not missing:
        return {}
    state = ondemand.variants_status(svc, manifest["id"], specs)
    return {spec.name: {**state, "spec": spec.identity()} for spec in missing}


def image_view(svc: Services, manifest: dict[str, Any]) -> dict[str, Any]:
    """The ``GET /api/images/<id>`` body; ``webhooks`` (each delivery's state and
    attempts) when the image has a receiver."""
    image_id = manifest["id"]
    status, error, progress = _live_state(svc, manifest)
    manifest = with_public_urls(svc, manifest)
    original = manifest["original"]
    view = {
        "id": image_id,
        "status": status,
        "error": error,
        "progress": progress,
        "job_id": record.job_id_for(image_id),
        "original": {  # None until the job fetched an upload from a URL
            "width": original["width"],
            "height": original["height"],
            "format": original["format"],
            "bytes": original["bytes"],
            "url": f"/images/{image_id}/original",
        }
        if original
        else None,
        "variants": {
            name: _public_variant(variant)
            for name, variant in shown_variants(svc, manifest).items()
        },
        "pending_variants": pending_variants(svc, manifest),
        "placeholder": manifest.get("placeholder"),
        "metadata": manifest.get("metadata"),
        "focus": manifest.get("focus"),
        "animation": manifest.get("animation"),
        "created_at": manifest["created_at"],
        "processed_at": manifest.get("processed_at"),
        "links": links(image_id),
    }
    if manifest.get("callback_url") or svc.config.WEBHOOK_URL:
        view["webhooks"] = public_view(svc.redis, f"image:{image_id}")
    return view


def _public_variant(variant: dict[str, Any]) -> dict[str, Any]:
    public = {key: variant[key] for key in ("url", "width", "height", "format", "bytes")}
    if "spec" in variant:
        public.update(spec=variant["spec"], pipeline=variant["pipeline"])
    if variant.get("formats"):  # IMGSVC_EXTRA_FORMATS: the same pixels as WebP/AVIF
        public["formats"] = {
            ext: {key: entry[key] for key in ("url", "bytes", "content_type") if key in entry}
            for ext, entry in variant["formats"].items()
        }
    return public


def accepted_answer(accepted: AcceptedUpload) -> tuple[dict[str, Any], int, dict[str, str]]:
    """The ``202`` of an accepted upload (through the web or straight to the bucket):
    body, status and ``Location``; the request's log line gets its id, job and size."""
    original = accepted.manifest["original"]
    note(
        image_id=accepted.image_id,
        job_id=accepted.job_id,
        upload_bytes=original["bytes"] if original else 0,
    )
    body = {
        "id": accepted.image_id,
        "status": accepted.manifest["status"],
        "job_id": accepted.job_id,
        "delete_token": accepted.delete_token,
        "links": links(accepted.image_id),
    }
    return body, 202, {"Location": f"/api/images/{accepted.image_id}"}


def links(image_id: str) -> dict[str, str]:
    return {
        "self": f"/api/images/{image_id}",
        "page": f"/images/{image_id}",
        "original": f"/images/{image_id}/original",
    }


def srcset_snippet(manifest: dict[str, Any], base_url: str = "") -> str:
    """A ready-to-paste ``<img srcset sizes>`` for the width-bound variants."""
    variants = [v for name, v in manifest.get("variants", {}).items() if name != "thumb"]
    if not variants:
        return ""
    by_width: dict[int, dict[str, Any]] = {}
    for variant in sorted(variants, key=lambda v: v["width"]):
        by_width.setdefault(variant["width"], variant)
    srcset = ", ".join(f"{_join(base_url, v['url'])} {w}w" for w, v in by_width.items())
    largest = max(variants, key=lambda v: v["width"])
    sizes = f"(max-width: {largest['width']}px) 100vw, {largest['width']}px"
    img = (
        f'<img src="{_join(base_url, largest["url"])}"\n'
        f'     srcset="{srcset}"\n'
        f'     sizes="{sizes}"\n'
        f'     width="{largest["width"]}" height="{largest["height"]}" alt=""'
        ' loading="lazy" decoding="async">'
    )
    sources = _format_sources(list(by_width.items()), base_url, sizes)
    if not sources:
        return img
    return "<picture>\n" + sources + "  " + img.replace("\n", "\n  ") + "\n</picture>"


def _join(base_url: str, url: str) -> str:
    """``url`` on ``base_url``, unless it is absolute already (``MEDIA_BASE_URL``)."""
    return url if "://" in url else f"{base_url}{url}"


def variant_formats(variant: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A variant's extra encodings as ``{format: {"url", "content_type", ...}}``.

    Accepts ``formats`` as a mapping by format name or as a list of entries
    with a ``format`` key; entries without a URL are left out.
    """
    raw = variant.get("formats") or {}
    if isinstance(raw, list):
        raw = {str(entry.get("format", "")): entry for entry in raw if isinstance(entry, dict)}
    if not isinstance(raw, dict):
        return {}
    found = {}
    for name, entry in raw.items():
        if isinstance(entry, dict) and entry.get("url") and name:
            fmt = str(name).lower()
            found[fmt] = {**entry, "content_type": entry.get("content_type") or f"image/{fmt}"}
    return found


def _format_sources(by_width: list[tuple[int, dict[str, Any]]], base_url: str, sizes: str) -> str:
    """``<source>`` lines for the extra formats every listed width has (best first)."""
    per_width = [variant_formats(variant) for _width, variant in by_width]
    common = set.intersection(*(set(formats) for formats in per_width)) if per_width else set()
    lines = []
    for fmt in sorted(common, key=lambda name: (name != "avif", name)):
        srcset = ", ".join(
            f"{_join(base_url, formats[fmt]['url'])} {width}w"
            for (width, _variant), formats in zip(by_width, per_width, strict=True)
        )
        content_type = per_width[0][fmt]["content_type"]
        lines.append(
            f'  <source type="{content_type}"\n          srcset="{srcset}"\n'
            f'          sizes="{sizes}">\n'
        )
    return "".join(lines)
