"""The client host of the multi-host rehearsal, run inside its network namespace.

``python -m tests.support.rehearsal_client upload URL N [WIDTH HEIGHT]``
    waits for the web host's ``/healthz``, uploads ``N`` generated photos and
    prints one JSON line: ``{"statuses": [...], "ids": [...]}``.
``python -m tests.support.rehearsal_client upload-for URL SECONDS``
    uploads small photos one after another for ``SECONDS`` and prints one JSON
    line: ``{"answers": [[seconds since start, status, code, id], ...]}``.
``python -m tests.support.rehearsal_client collect URL TIMEOUT ID...``
    polls each image until it is final, fetches its ``md`` variant and prints
    one JSON line: ``{"final": {id: status}, "served": {id: {...}}, "seconds"}``.
"""

from __future__ import annotations

import json
import sys
import time

import requests

from tests import factories
from tests.support.wait import wait_final, wait_for


def upload(url: str, count: int, width: int = 1200, height: int = 800) -> dict:
    def healthy() -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    wait_for(healthy, 60, "the web host did not answer /healthz")
    statuses, ids = [], []
    for seed in range(count):
        photo = factories.jpeg(width, height, seed=seed)
        response = requests.post(
            f"{url}/api/images", files={"file": ("photo.jpg", photo, "image/jpeg")}, timeout=60
        )
        statuses.append(response.status_code)
        ids.append(response.json().get("id"))
    return {"statuses": statuses, "ids": ids}


def upload_for(url: str, seconds: float) -> dict:
    started = time.monotonic()
    answers = []
    seed = 0
    while time.monotonic() - started < seconds:
        photo = factories.jpeg(320, 240, seed=seed)
        seed += 1
        response = requests.post(
            f"{url}/api/images", files={"file": ("photo.jpg", photo, "image/jpeg")}, timeout=60
        )
        body = response.json()
        code = (body.get("error") or {}).get("code")
        answers.append(
            [round(time.monotonic() - started, 3), response.status_code, code, body.get("id")]
        )
    return {"answers": answers}


def collect(url: str, timeout: float, ids: list[str]) -> dict:
    started = time.monotonic()
    final, served = {}, {}
    for image_id in ids:
        left = max(1.0, timeout - (time.monotonic() - started))
        final[image_id] = wait_final(url, image_id, timeout=left)["status"]
        variant = requests.get(f"{url}/images/{image_id}/md", timeout=30)
        served[image_id] = {
            "status": variant.status_code,
            "content_type": variant.headers.get("Content-Type"),
            "jpeg": variant.content[:3] == b"\xff\xd8\xff",
            "bytes": len(variant.content),
        }
    return {"final": final, "served": served, "seconds": round(time.monotonic() - started, 2)}


if __name__ == "__main__":
    command, base = sys.argv[1], sys.argv[2]
    if command == "upload":
        print(json.dumps(upload(base, *(int(arg) for arg in sys.argv[3:]))))
    elif command == "upload-for":
        print(json.dumps(upload_for(base, float(sys.argv[3]))))
    else:
        print(json.dumps(collect(base, float(sys.argv[3]), sys.argv[4:])))
