"""The front's refusals log, counted for /metrics."""

from __future__ import annotations

import os
from pathlib import Path

from imgsvc.front.refusals import RefusalCollector


def counts(collector: RefusalCollector) -> dict[str, float]:
    (family,) = list(collector.collect())
    return {sample.labels["reason"]: sample.value for sample in family.samples}


def test_counts_each_reason(tmp_path: Path):
    log = tmp_path / "refusals.log"
    log.write_text(
        '1.0 408 71 10.001 "GET"\n1.1 413 400 0.001 "POST"\n'
        '1.2 429 80 0.000 "GET"\n1.3 502 80 0.000 "GET"\n1.4 418 1 0.0 "BREW"\n'
    )
    seen = counts(RefusalCollector(tmp_path))
    assert seen["timeout"] == 1
    assert seen["too_large"] == 1
    assert seen["too_many_connections"] == 1
    assert seen["app_unavailable"] == 1
    assert seen["other"] == 1


def test_reads_only_what_was_appended_and_waits_for_a_whole_line(tmp_path: Path):
    log = tmp_path / "refusals.log"
    log.write_text('1.0 408 71 10.0 "GET"\n1.1 408')
    collector = RefusalCollector(tmp_path)
    assert counts(collector)["timeout"] == 1
    with open(log, "a") as out:
        out.write(' 71 10.0 "GET"\n')
    assert counts(collector)["timeout"] == 2
    assert counts(collector)["timeout"] == 2


def test_a_rotated_log_is_read_from_its_start_and_counts_keep_growing(tmp_path: Path):
    log = tmp_path / "refusals.log"
    log.write_text('1.0 408 71 10.0 "GET"\n' * 3)
    collector = RefusalCollector(tmp_path)
    assert counts(collector)["timeout"] == 3
    os.rename(log, tmp_path / "refusals.log.1")
    log.write_text('2.0 413 71 0.0 "POST"\n')
    seen = counts(collector)
    assert (seen["timeout"], seen["too_large"]) == (3, 1)


def test_no_log_counts_zero(tmp_path: Path):
    assert set(counts(RefusalCollector(tmp_path)).values()) == {0}
