"""The events webhooks announce, and what each carries.

- ``image.done`` / ``image.failed``: ``data`` is the body of
  ``GET /api/images/<id>`` once the image is final (without its ``webhooks``
  field, which reports the delivery itself);
- ``wordcount.finished`` / ``wordcount.failed``: ``data`` is the body of
  ``GET /api/jobs/<job_id>`` once the count ended.

Called by the jobs that end their subject; never raises for a delivery that
cannot be enqueued (see :func:`imgsvc.webhooks.delivery.announce`).
"""

from __future__ import annotations

from typing import Any

from rq.job import Job

from imgsvc.extensions import Services
from imgsvc.jobs import iso, job_view
from imgsvc.webhooks.delivery import announce


def image_subject(image_id: str) -> str:
    return f"image:{image_id}"


def wordcount_subject(job_id: str) -> str:
    return f"wordcount:{job_id}"


def image_ended(svc: Services, manifest: dict[str, Any]) -> list[str]:
    """Announce a final image (``done`` or ``failed``) to its receivers; the job ids."""
    from imgsvc.web.present import image_view  # the API's view; the web imports the images

    data = image_view(svc, manifest)
    data.pop("webhooks", None)
    event = f"image.{manifest['status']}"
    return announce(svc, image_subject(manifest["id"]), event, data, manifest.get("callback_url"))


def wordcount_ended(
    svc: Services, job: Job, result: Any = None, error: dict[str, str] | None = None
) -> list[str]:
    """Announce a word count's end, from inside its job (whose status RQ writes
    after the job returns): ``finished`` with ``result``, or ``failed`` with
    ``error`` (its last attempt's); the job ids."""
    from datetime import UTC, datetime

    data = job_view(job)
    data.pop("webhooks", None)
    status = "failed" if error is not None else "finished"
    data.update(status=status, result=result, error=error, ended_at=iso(datetime.now(UTC)))
    callback_url = (job.meta or {}).get("callback_url")
    return announce(svc, wordcount_subject(job.id), f"wordcount.{status}", data, callback_url)
