"""The service benchmark's client side: the photo, the timed POST, job times, polls."""

from __future__ import annotations

import functools
import io
import threading
import time

import requests
from urllib3 import encode_multipart_formdata

from tests.support.images import jpeg_input
from tests.support.stack import Stack
from tests.support.wait import wait_for


def camera_jpeg() -> bytes:
    """A 12 MP photo as a phone saves it: quality 97, no chroma subsampling, ~4 MB."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.open(io.BytesIO(jpeg_input("jpeg-12mp", 4000, 3000).data)).save(
        buffer, "JPEG", quality=97, subsampling=0
    )
    return buffer.getvalue()


_SESSIONS = threading.local()


@functools.lru_cache(maxsize=4)
def multipart(data: bytes) -> tuple[bytes, str]:
    """The upload's multipart body and content type, encoded once per photo.

    The timed request then measures the service, not the client's encoding.
    """
    return encode_multipart_formdata({"file": ("photo.jpg", data, "image/jpeg")})


def post(url: str, data: bytes, path: str = "/api/images") -> tuple[float, requests.Response]:
    """POST ``data`` as a form upload over a kept-alive connection; (seconds, response)."""
    body, content_type = multipart(data)
    session = getattr(_SESSIONS, "session", None) or requests.Session()
    _SESSIONS.session = session
    started = time.perf_counter()
    response = session.post(
        url + path, data=body, headers={"Content-Type": content_type}, timeout=120
    )
    return time.perf_counter() - started, response


def job_times(stack: Stack, job_id: str) -> dict[str, float]:
    from rq.job import Job
    from rq.serializers import JSONSerializer

    job = Job.fetch(job_id, connection=stack.redis(), serializer=JSONSerializer)
    return {
        "enqueued": job.enqueued_at.timestamp(),
        "started": job.started_at.timestamp() if job.started_at else 0.0,
        "ended": job.ended_at.timestamp() if job.ended_at else 0.0,
    }


def wait_done(stack: Stack, image_id: str, timeout: float = 300, interval: float = 0.005) -> float:
    """Poll the API until the image is done; the moment it was seen done."""

    def done() -> float | None:
        body = requests.get(f"{stack.url}/api/images/{image_id}", timeout=30).json()
        if body["status"] == "failed":
            raise RuntimeError(f"image failed: {body['error']}")
        return time.perf_counter() if body["status"] == "done" else None

    return wait_for(done, timeout, f"image {image_id} not done", interval=interval)


def busy_workers(stack: Stack) -> int:
    from rq import Worker

    return sum(1 for w in Worker.all(connection=stack.redis()) if w.get_state() == "busy")
