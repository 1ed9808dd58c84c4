"""The word-count job against adversarial pages, and its budget.

Every page of tests/hostile_pages.py is fetched from the loopback page server
and counted by the job function itself; each gives its exact count or its
error code, at a CPU cost (process CPU time: fetch, decode, parse and count)
far under the bound. Then the budget: a page that costs more than
``WORDCOUNT_TIMEOUT`` ends the job ``timeout`` at once, in-process and in a
real RQ worker, without a retry.
"""

from __future__ import annotations

import time

import pytest
from rq import Retry

from imgsvc.errors import ImgsvcError, WordCountTimeout
from imgsvc.extensions import worker_services
from imgsvc.queue import enqueue_wordcount
from imgsvc.wordcount import tasks
from imgsvc.wordcount.counter import Deadline, count_words_in
from tests.hostile_pages import (
    COSTLY_BYTES,
    KINDS,
    SIZE,
    UTF16_WORDS,
    costly_page,
    hostile_page,
    repeats,
)

# Process CPU seconds one 2 MiB page may cost: an order of magnitude above what
# the slowest costs (the parser is linear); the old parser took minutes on some.
CPU_BOUND = 5.0
WORDS = repeats("plain-words", "word ")

EXPECTED: dict[str, int | str] = {
    "nested-svg": 2,  # "before" and "after": everything inside <svg> is hidden
    "hidden-inline": 1,  # "after"
    "nested-div": repeats("nested-div", "<div>word "),
    "comment-flood": repeats("comment-flood", "<!-- c -->word "),
    "unclosed-comment": 1,  # "seen": the comment runs to the end of the page
    "unclosed-tags": 0,
    "marked-sections": 0,
    "processing-instructions": 0,
    "end-tag-flood": 0,
    "lt-flood": 0,
    "entity-flood": repeats("entity-flood", "&#x41; "),
    "misnested": repeats("misnested", "<b><i>x</b></i> "),
    "table-flood": repeats("table-flood", "<table><tr><td>x"),
    "attribute-flood": 1,
    "script-false-ends": 1,
    "plain-words": WORDS,
    "charset-punycode": WORDS,
    "charset-idna": WORDS,
    "charset-utf-7": WORDS,
    "charset-rot13": WORDS,
    "charset-base64": WORDS,
    "charset-hex": WORDS,
    "charset-unicode_escape": WORDS,
    "charset-rfc2231": WORDS,
    "charset-koi8-r": repeats("charset-koi8-r", "привет "),
    "bom-wins": repeats("bom-wins", "déjà "),
    "utf-16-bom": UTF16_WORDS,
    "gzip-garbage": "fetch_failed",
    "deflate-garbage": "fetch_failed",
    "gzip-truncated": "fetch_failed",
    "gzip-trailing-junk": WORDS,
    "raw-deflate": "fetch_failed",
}
TOP_WORD = {"charset-koi8-r": "привет", "bom-wins": "déjà", "utf-16-bom": "word"}


@pytest.fixture
def job_settings(pages, monkeypatch):
    """The job function reads its settings from the environment, as in a worker."""

    def apply(**settings: str) -> None:
        monkeypatch.setenv("IMGSVC_FETCH_ALLOWLIST", pages.allow_entry)
        for name, value in settings.items():
            monkeypatch.setenv(f"IMGSVC_{name}", value)
        worker_services.cache_clear()

    yield apply
    worker_services.cache_clear()


def test_the_corpus_is_covered():
    assert set(EXPECTED) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_each_hostile_page_gives_its_count_or_code_in_bounded_cpu(pages, job_settings, kind):
    job_settings()
    hostile_page(kind)  # made before the clock starts
    started = time.process_time()
    try:
        result = tasks.count_words(f"{pages.base}/hostile?kind={kind}")
        outcome: int | str = result["total_words"]
    except ImgsvcError as error:
        outcome = error.code
        assert not error.retryable  # the same page would fail the same way
    cpu = time.process_time() - started
    assert outcome == EXPECTED[kind]
    assert cpu < CPU_BOUND, f"{kind}: {cpu:.2f} s of CPU"
    if kind in TOP_WORD:
        assert result["top"] == [[TOP_WORD[kind], EXPECTED[kind]]]


def test_the_largest_page_is_what_the_corpus_measures():
    assert max(len(hostile_page(kind)[1]) for kind in KINDS) <= 2 * 1024 * 1024
    assert SIZE > 2 * 1024 * 1024 - 2048


def test_parsing_stops_at_the_deadline():
    html = hostile_page("nested-svg")[1].decode()
    started = time.process_time()
    with pytest.raises(WordCountTimeout) as info:
        count_words_in("u", html, is_html=True, deadline=Deadline(0.05))
    assert time.process_time() - started < 1.0  # the budget and one piece of the page
    assert (info.value.code, info.value.retryable) == ("timeout", False)


def test_counting_stops_at_the_deadline():
    text = hostile_page("plain-words")[1].decode()
    with pytest.raises(WordCountTimeout):
        count_words_in("u", text * 4, is_html=False, deadline=Deadline(0.0))


# A budget the fetch of the costly page stays far inside, and its parse far outside.
COSTLY = {"WORDCOUNT_TIMEOUT": "1", "FETCH_MAX_BYTES": str(COSTLY_BYTES)}


def test_one_budget_covers_fetch_and_count(pages, job_settings):
    job_settings(**COSTLY)
    costly_page()  # made before the budget starts
    started = time.monotonic()
    with pytest.raises(WordCountTimeout) as info:
        tasks.count_words(f"{pages.base}/costly")
    assert time.monotonic() - started < 5
    assert not info.value.retryable


def test_the_budget_bounds_the_fetch_too(pages, job_settings):
    job_settings(WORDCOUNT_TIMEOUT="1", FETCH_TIMEOUT="30")
    started = time.monotonic()
    with pytest.raises(ImgsvcError) as info:
        tasks.count_words(f"{pages.base}/trickle")
    assert info.value.code == "fetch_timeout"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("storage_url", ["file"], indirect=True)
def test_a_word_count_past_its_budget_fails_once_in_a_worker(
    app, client, pages, job_settings, run_worker
):
    job_settings(**COSTLY)
    costly_page()  # made before the budget starts
    svc = app.extensions["imgsvc"]
    before = pages.hits["/costly"]
    job = enqueue_wordcount(svc.queue, f"{pages.base}/costly", svc.settings)

    run_worker()

    view = client.get(f"/api/jobs/{job.id}").get_json()
    assert (view["status"], view["error"]["code"]) == ("failed", "timeout")
    assert pages.hits["/costly"] - before == 1  # no retry
    assert svc.wordcount_queue.fetch_job(job.id).retries_left == 0


@pytest.mark.parametrize("storage_url", ["file"], indirect=True)
def test_rqs_job_timeout_is_a_timeout_that_is_not_retried(
    app, client, pages, job_settings, run_worker
):
    """The backstop: RQ's own job timeout (SIGALRM in the work-horse) mid-fetch."""
    job_settings()
    svc = app.extensions["imgsvc"]
    before = pages.hits["/trickle"]
    job = svc.wordcount_queue.enqueue(
        "imgsvc.tasks.count_words",
        f"{pages.base}/trickle",
        job_timeout=1,
        retry=Retry(max=2),
        meta={"type": "wordcount"},
    )

    run_worker()

    view = client.get(f"/api/jobs/{job.id}").get_json()
    assert (view["status"], view["error"]["code"]) == ("failed", "timeout")
    assert pages.hits["/trickle"] - before == 1
