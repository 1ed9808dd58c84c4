"""A finished image's focal point changed: ``PATCH /api/images/<id>``.

The focal point is part of the identity of the image's cover crops
(:func:`imgsvc.images.variantset.image_specs`), so changing it makes those
entries stale and only them: the variants job (:mod:`imgsvc.images.variantjob`)
re-makes the cover crops under new versioned URLs, and the width-bound
variants keep their objects and URLs. Until the new crop is stored the alias
``/images/<id>/<name>`` serves the old one, and the old versioned URL keeps
its bytes (``superseded``) until ``imgsvc backfill --prune``.

The manifest is changed under the image's lock (``record.update_manifest``),
so a variants job merging at the same moment keeps the new focal point, and
the change keeps theirs.

Redis down: the lock cannot be had, so **nothing is changed** and the answer is
``503 queue_unavailable``. Should Redis fail after the new focal point is
saved but before the job is enqueued, the change stands and heals: the cover
crops are stale, and the next request for the image's view or a cover
variant's alias enqueues the job (:mod:`imgsvc.images.ondemand`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from imgsvc.errors import (
    Forbidden,
    ImageDeleted,
    ImageNotReady,
    ImgsvcError,
    InvalidFocus,
    NotFound,
    QueueUnavailable,
)
from imgsvc.extensions import REDIS_ERRORS, Services
from imgsvc.images import ondemand, record
from imgsvc.images.variantset import focus_of, image_specs, signature
from imgsvc.imaging.smartcrop import parse_focus
from imgsvc.queue import check_room

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refocused:
    """The manifest after the request, and whether its focal point changed."""

    manifest: dict[str, Any]
    changed: bool


def change_focus(svc: Services, image_id: str, token: str | None, body: object) -> Refocused:
    """Set the focal point of a ``done`` image to ``body``'s (the request's JSON:
    ``{"focus": "x,y"}``, ``{"focus": [x, y]}``, or ``{"focus": null}`` for the
    automatic choice of ``CROP``) and enqueue the job that re-makes its cover
    crops. An unchanged focal point writes and enqueues nothing.

    Raises ``NotFound`` for an unknown or deleted image, ``Forbidden`` unless
    ``token`` is the image's delete token (checked first: a stranger learns
    nothing from the body), ``InvalidFocus`` for a body without ``focus`` or a
    malformed one, ``ImageNotReady`` unless the image is ``done``, and
    ``QueueUnavailable`` (``QueueFull`` too) when Redis is down or the queue is
    full: nothing is changed then (see the module for a failure after the write).
    """
    manifest = record.read_manifest(svc.storage, image_id)
    if not record.token_matches(manifest, token):
        raise Forbidden("A valid X-Delete-Token header is required to change this image.")
    if not isinstance(body, dict) or "focus" not in body:
        raise InvalidFocus('Send a JSON body {"focus": "x,y"}, {"focus": [x, y]} or null.')
    focus = parse_focus(body["focus"])
    _check_ready(manifest)
    if focus_of(manifest) == focus:
        return Refocused(manifest, changed=False)
    try:
        check_room(svc.queue, svc.settings)
        updated = record.update_manifest(svc, image_id, lambda latest: _apply(latest, focus))
    except REDIS_ERRORS as exc:
        raise QueueUnavailable(
            "The image cannot be changed while the job queue is unavailable; try again shortly."
        ) from exc
    except ImageDeleted as exc:
        raise NotFound("No such image.") from exc
    _enqueue_recrop(svc, updated)
    return Refocused(updated, changed=True)


def _check_ready(manifest: dict[str, Any]) -> None:
    if manifest.get("status") != "done":
        raise ImageNotReady(
            f"The image is {manifest.get('status')}; its focal point can be changed once done."
        )


def _apply(manifest: dict[str, Any], focus: tuple[float, float] | None) -> bool:
    """Set ``focus`` on the manifest as read under the lock; ``False``: nothing to write."""
    _check_ready(manifest)
    if focus_of(manifest) == focus:
        return False
    if focus is None:
        manifest.pop("focus", None)
    else:
        manifest["focus"] = list(focus)
    return True


def _enqueue_recrop(svc: Services, manifest: dict[str, Any]) -> None:
    """Ask for the stale cover crops (``ondemand.request_variants`` always raises:
    pending is the expected answer).

    The on-demand guard that stops a crowd of requests from enqueueing one
    variant set twice (``ONDEMAND_DEDUP_SECONDS``) is lifted for this set first:
    a PATCH is one deliberate change, and a PATCH back to a focal point asked
    for minutes ago must be made now. A job already on its way still counts
    (it makes another round when the focal point changed under it)."""
    specs = image_specs(manifest, svc.config)
    try:
        svc.redis.delete(ondemand.wanted_key(manifest["id"], signature(specs)))
        ondemand.request_variants(svc, manifest["id"], specs)
    except ImgsvcError:  # pending (enqueued or on its way), or failed: the view says which
        pass
    except REDIS_ERRORS:
        log.warning("could not enqueue the re-crop of %s; the next request asks", manifest["id"])
