"""Fuzz: hundreds of corrupted images through real HTTP and one long-running worker.

Every upload must get 202 or a 4xx with a JSON error code, never a 5xx; every
accepted image must end ``done`` or ``failed`` with a contract error code
within the deadline; the one ``worker.py`` process must survive it all with
the same pid and a bounded resident set. Cases are in :mod:`tests.fuzzcases`.
A fast in-process run of the same cases (probe, then pipeline) guards the
default test run.
"""

from __future__ import annotations

import collections
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from PIL import Image
from rq import Worker

from imgsvc.config import Defaults, csv_list
from imgsvc.errors import ImgsvcError
from imgsvc.imaging import parse_variants, probe, render_variants
from tests import factories
from tests.fuzzcases import Case, crafted_cases, random_cases
from tests.support.processes import rss_kib
from tests.support.stack import Stack
from tests.support.wait import wait_all_final

RANDOM_CASES = 320
SEED = 20251130
MAX_FRAMES = 4000
UPLOAD_CODES = {"invalid_image", "unsupported_format", "image_too_large", "file_too_large"}
JOB_CODES = {"invalid_image", "image_too_large", "unsupported_format", "timeout"}
RSS_GROWTH_LIMIT_KIB = 40 * 1024
SETTINGS = {
    # A hostile file that stalls a decoder is stopped well within the test's budget.
    "IMGSVC_JOB_TIMEOUT": "20",
    "IMGSVC_JOB_RETRIES": "0",
    "IMGSVC_MAX_IMAGE_FRAMES": str(MAX_FRAMES),
}


def all_cases() -> list[Case]:
    return random_cases(RANDOM_CASES, SEED) + crafted_cases(MAX_FRAMES)


def in_process(case: Case) -> str:
    """The case's outcome through the probe and the pipeline, as the web and worker see it."""
    formats, pixels = csv_list(Defaults.ALLOWED_FORMATS), Defaults.MAX_IMAGE_PIXELS
    try:
        probe(case.data, formats, pixels, MAX_FRAMES)
    except ImgsvcError as error:
        return f"{error.status}:{error.code}"
    specs = parse_variants(Defaults.VARIANTS)
    try:
        render_variants(case.data, specs, allowed_formats=formats, max_pixels=pixels)
    except ImgsvcError as error:
        return f"failed:{error.code}"
    return "done"


@pytest.mark.filterwarnings("ignore:.*:UserWarning:PIL.TiffImagePlugin")  # corrupt tags: expected
def test_probe_and_pipeline_turn_every_case_into_a_contract_outcome(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Defaults.MAX_IMAGE_PIXELS)
    monkeypatch.setenv("IMGSVC_MAX_IMAGE_FRAMES", str(MAX_FRAMES))  # as the worker reads it
    problems = []
    for case in all_cases():
        try:
            outcome = in_process(case)
        except Exception as exc:  # anything but ImgsvcError: a 500 or a misleading failure
            problems.append(f"{case.name}: {exc!r}")
            continue
        if case.expect is not None and outcome not in case.expect:
            problems.append(f"{case.name}: {outcome}, expected one of {sorted(case.expect)}")
    assert not problems, "\n".join(problems)


def send(url: str, case: Case) -> tuple[Case, int, dict | None]:
    """Upload one case; (case, HTTP status, JSON body or None if it was not JSON)."""
    response = requests.post(
        f"{url}/api/images",
        files={"file": (case.name.replace("/", "_"), case.data, "application/octet-stream")},
        timeout=60,
    )
    try:
        body = response.json()
    except ValueError:
        body = None
    return case, response.status_code, body


def outcome_of(status: int, body: dict | None, final: dict[str, dict]) -> str:
    """``"<status>:<code>"`` for a refusal, ``"done"`` or ``"failed:<code>"`` once processed."""
    if status != 202:
        code = body["error"]["code"] if body and "error" in body else "no-json-error"
        return f"{status}:{code}"
    image = final.get(body["id"]) if body else None
    if image is None:
        return "unfinished"
    if image["status"] == "done":
        return "done"
    return f"failed:{(image.get('error') or {}).get('code', 'no-error-code')}"


def wait_processed(stack: Stack, data: bytes) -> dict:
    image_id = requests.post(
        f"{stack.url}/api/images", files={"file": ("ok.jpg", data)}, timeout=30
    ).json()["id"]
    return wait_all_final(stack.url, [image_id], timeout=60)[0][image_id]


@pytest.mark.slow
def test_corrupted_images_get_clear_errors_and_never_hurt_the_worker(
    redis_url: str, tmp_path: Path
):
    cases = all_cases()
    started = time.monotonic()
    with Stack(
        tmp_path, redis_url=redis_url, web_workers=2, queue_workers=1, env=SETTINGS
    ) as stack:
        worker = stack.workers[0]
        assert wait_processed(stack, factories.jpeg(320, 240))["status"] == "done"
        rss_before = rss_kib(worker.pid)

        with ThreadPoolExecutor(4) as pool:
            sent = list(pool.map(lambda case: send(stack.url, case), cases))
        accepted = [body["id"] for _case, status, body in sent if status == 202]
        final, poll_errors = wait_all_final(stack.url, accepted, timeout=90)

        assert wait_processed(stack, factories.jpeg(320, 240, seed=2))["status"] == "done"
        rss_after = rss_kib(worker.pid)
        assert worker.poll() is None, stack.log("worker-0.log")
        pids = [w.pid for w in Worker.all(connection=stack.redis())]
        assert pids == [worker.pid], "the worker was replaced or another one appeared"
        web_log = stack.log("web.log")

    outcomes = collections.Counter()
    problems = []
    for case, status, body in sent:
        outcome = outcome_of(status, body, final)
        outcomes[outcome] += 1
        code = outcome.partition(":")[2]
        if status >= 500 or not (status == 202 or 400 <= status < 500):
            problems.append(f"{case.name}: HTTP {status}")
        elif status != 202 and code not in UPLOAD_CODES:
            problems.append(f"{case.name}: refused with {outcome}")
        elif outcome == "unfinished" or (outcome != "done" and code not in JOB_CODES):
            problems.append(f"{case.name}: ended {outcome}")
        if case.expect is not None and outcome not in case.expect:
            problems.append(f"{case.name}: {outcome}, expected one of {sorted(case.expect)}")
    summary = (
        f"{len(cases)} cases in {time.monotonic() - started:.0f} s: "
        f"{dict(sorted(outcomes.items()))}; worker RSS {rss_before} KiB -> {rss_after} KiB"
    )
    print(summary)
    assert not problems, summary + "\n" + "\n".join(problems[:40])
    assert poll_errors == 0
    assert "Traceback" not in web_log, web_log
    assert rss_after - rss_before < RSS_GROWTH_LIMIT_KIB, summary
    assert outcomes["done"] and any(o.startswith("failed:") for o in outcomes), summary
