"""The client host of the multi-host rehearsal, run inside its network namespace.

``python -m tests.support.rehearsal_client upload URL N [WIDTH HEIGHT]``
    waits for the web host's ``/healthz``, uploads ``N`` generated photos and
    prints one JSON line: ``{"statuses": [...], "ids": [...]}``.
``python -m tests.support.rehearsal_client campaign URL,URL... COUNT LARGE LOG``
    the full rehearsal's client (:func:`campaign`): ``COUNT`` uploads through
    the web hosts in turn, those numbered in ``LARGE`` (``a-b``) big
    photos, each with its own ``Idempotency-Key`` and retried until it is
    accepted; one JSON line per upload appended to ``LOG`` as it ends.
``python -m tests.support.rehearsal_client collect URL[,URL...] TIMEOUT ID...``
    polls each image until it is final, fetches its ``md`` variant (through
    the URLs in turn) and prints one JSON line:
    ``{"final": {id: status}, "served": {id: {...}}, "seconds"}``.
"""

from __future__ import annotations

import io
import json
import secrets
import sys
import threading
import time

import requests

from tests import factories
from tests.support.wait import wait_final, wait_for


def upload(url: str, count: int, width: int = 1200, height: int = 800) -> dict:
    wait_for(lambda: healthy(url), 60, "the web host did not answer /healthz")
    statuses, ids = [], []
    for seed in range(count):
        photo = factories.jpeg(width, height, seed=seed)
        response = requests.post(
            f"{url}/api/images", files={"file": ("photo.jpg", photo, "image/jpeg")}, timeout=60
        )
        statuses.append(response.status_code)
        ids.append(response.json().get("id"))
    return {"statuses": statuses, "ids": ids}


# The full rehearsal's pace and bounds: an upload starts at most every PACE seconds
# (so the faults fall among the uploads, and two worker hosts of three keep up), and
# one upload is retried for at most UPLOAD_DEADLINE seconds and ATTEMPTS sends.
PACE = 0.3
UPLOAD_DEADLINE = 90.0
ATTEMPTS = 300
# Answers after which the same upload is sent again: the queue was down before
# anything was stored (no id in the answer), or its key is held by a request a
# killed web process never finished (409 until IDEMPOTENCY_PENDING_TTL).
RETRIED = {(503, "queue_unavailable"), (409, "idempotency_key_in_use")}


def big_photo() -> bytes:
    """A 24-megapixel JPEG whose job runs for seconds (made by enlarging a small
    photo: the factory's noise at full size would take a gigabyte to make)."""
    out = io.BytesIO()
    factories.photo(1500, 1000, seed=7).resize((6000, 4000)).save(out, "JPEG", quality=90)
    return out.getvalue()


def send(urls: list[str], index: int, photo: bytes, key: str | None) -> dict:
    """Send one upload until it is accepted: 202, or 503 ``queue_unavailable`` whose
    answer names the stored image. No answer (connection refused or reset, a
    timeout) means "not sent": the same request, with the same key, goes to the
    next web host; a retry of an upload whose answer was lost is answered by its
    first answer (``Idempotent-Replayed``), not stored twice. Bounded by
    ``UPLOAD_DEADLINE`` and ``ATTEMPTS``. Without a key (``key`` None) an upload
    without an answer is not sent again (it may have been stored: a second send
    could store it twice): the record says so and the test fails. The record
    lists every attempt as ``[wall time, web host index, status or None, error
    code, replayed]``."""
    attempts: list[list] = []
    deadline = time.monotonic() + UPLOAD_DEADLINE
    record = {"index": index, "key": key, "id": None, "status": None, "attempts": attempts}
    for attempt in range(ATTEMPTS):
        if time.monotonic() > deadline:
            break
        web = (index + attempt) % len(urls)  # in turn; after a failure, the other host
        try:
            response = requests.post(
                f"{urls[web]}/api/images",
                files={"file": ("photo.jpg", photo, "image/jpeg")},
                headers={"Idempotency-Key": key} if key else {},
                timeout=30,
            )
        except requests.RequestException as exc:
            attempts.append([time.time(), web, None, type(exc).__name__, False])
            if key is None:
                return record
            time.sleep(0.1)
            continue
        try:
            body = response.json()
        except ValueError:
            body = {}
        code = (body.get("error") or {}).get("code")
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        attempts.append([time.time(), web, response.status_code, code, replayed])
        record.update(status=response.status_code, code=code)
        if response.status_code == 202 or (code == "queue_unavailable" and body.get("id")):
            record["id"] = body["id"]
            return record
        if (response.status_code, code) not in RETRIED:
            return record  # refused for good: the test fails on it
        time.sleep(0.2)
    return record


def campaign(urls: list[str], count: int, large: range, log_path: str) -> dict:
    """``count`` uploads in two streams side by side, through ``urls`` in turn (see
    :func:`send`), paced so that together they start one upload every ``PACE`` s;
    those numbered in ``large`` are big photos, so that jobs run for seconds.
    Three uploads in four carry an Idempotency-Key; every fourth is sent without
    one, in the second stream, through the first web host only (never restarted):
    while Redis fails over those are stored and answered ``503 queue_unavailable``
    with the image's id, where a keyed upload is refused before anything is
    stored. Each upload's record is appended to ``log_path`` as one JSON line as
    soon as it ends (the test follows the run there)."""
    wait_for(lambda: all(healthy(url) for url in urls), 60, "a web host did not answer")
    run = secrets.token_hex(4)
    big = big_photo()
    written = threading.Lock()

    def stream(indices: list[int], keyless: bool) -> None:
        pace = PACE * count / len(indices)
        for index in indices:
            started = time.monotonic()
            photo = big if index in large else factories.jpeg(320, 240, seed=index)
            key = None if keyless else f"rehearsal-{run}-{index}"
            record = send(urls[:1] if keyless else urls, index, photo, key)
            line = json.dumps({**record, "large": index in large, "keyless": keyless})
            with written, open(log_path, "a") as log:
                log.write(line + "\n")
            time.sleep(max(0.0, pace - (time.monotonic() - started)))

    streams = [
        threading.Thread(target=stream, args=([i for i in range(count) if i % 4 != 3], False)),
        threading.Thread(target=stream, args=(list(range(3, count, 4)), True)),
    ]
    for thread in streams:
        thread.start()
    for thread in streams:
        thread.join()
    return {"uploads": count}


def healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def collect(urls: list[str], timeout: float, ids: list[str]) -> dict:
    started = time.monotonic()
    final, served = {}, {}
    for number, image_id in enumerate(ids):
        url = urls[number % len(urls)]
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
    elif command == "campaign":
        first, last = (int(n) for n in sys.argv[4].split("-"))
        large = range(first, last + 1)
        print(json.dumps(campaign(base.split(","), int(sys.argv[3]), large, sys.argv[5])))
    else:
        print(json.dumps(collect(base.split(","), float(sys.argv[3]), sys.argv[4:])))
