"""The service benchmark's own check: its percentiles and its table (the run itself:
`make bench-service`). Collected by pytest with the tests (pyproject's testpaths)."""

from __future__ import annotations

from benchmarks.service.report import report
from benchmarks.service.upload import percentiles95


def test_percentiles_are_nearest_rank_in_tenths_of_a_millisecond():
    values = [n / 1000 for n in range(1, 101)]  # 1..100 ms
    assert percentiles95(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
    assert percentiles95([0.01234]) == {"p50": 12.3, "p95": 12.3, "p99": 12.3, "max": 12.3}


def test_the_report_prints_every_figure():
    latency = {"p50": 11.2, "p95": 16.0, "p99": 18.1, "max": 20.0}
    figures = {
        "input": "12 MP JPEG, 4.3 MB",
        "storage": "filesystem",
        "cpus": 2,
        "load_average_at_start": 1.5,
        "load_average_at_end": 1.8,
        "upload": {
            "upload_async": latency,
            "upload_async_own_sessions": {**latency, "p50": 25.5},
            "upload_async_cgroup_idle": {**latency, "p50": 12.5},  # absent without cgroups
            "upload_async_workers_niced": latency,
            "upload_async_storage_on_tmpfs": None,  # S3 runs have no tmpfs row
            "upload_no_worker_running": latency,
            "upload_sync_baseline": {**latency, "p50": 400.1},
            "ratio_sync_over_async_p50": 35.7,
            "ratio_sync_over_async_p99": 29.5,
            "workers_busy_during_uploads": "both after 99 of 100 uploads",
        },
        "queue": {
            "queue_overhead_ms": {"p50": 17.0, "p99": 25.0},
            "enqueue_to_start_ms": {"p50": 14.0, "p99": 19.0},
        },
        "wordcount": {
            "wordcount_enqueue_to_start_ms": {"p50": 145.0, "p99": 453.0},
            "image_jobs_still_waiting_when_counts_finished": 24,
        },
        "fork": {"fork_and_reap_ms": {"p50": 4.0, "p99": 5.0}},
        "redis": {"redis_commands_per_image": 87.0, "redis_commands_per_second_idle_worker": 8.8},
        "throughput": {
            "images_per_s_1_worker": 2.13,
            "images_per_s_2_worker": 3.72,
            "ratio_2_over_1": 1.75,
            "images_per_s_1_worker_wall": 2.09,
            "images_per_s_2_worker_wall": 3.63,
            "ratio_2_over_1_wall": 1.74,
            "job_run_ms_median_1_worker": 438,
            "job_run_ms_median_2_worker": 504,
        },
    }
    lines = report(figures).splitlines()

    def columns(label: str) -> list[str]:
        (line,) = [line for line in lines if line.startswith(label)]
        return line[len(label) :].split()

    assert columns("upload, workers busy (ms)") == ["11.2", "16.0", "18.1"]
    assert columns("upload, workers busy, in sessions of their own (ms)")[0] == "25.5"
    assert columns("upload, workers busy, own cgroup with cpu.idle (ms)")[0] == "12.5"
    assert not [line for line in lines if "cpu.shares" in line]
    assert columns("upload, resized in the request (ms)")[0] == "400.1"
    assert not [line for line in lines if "tmpfs" in line]
    assert columns("  ratio sync / async") == ["35.7", "29.5"]
    assert columns("queue overhead: ready − upload − job run (ms)") == ["17.0", "25.0"]
    assert columns("enqueue → start, idle workers (ms)") == ["14.0", "19.0"]
    assert columns("word count enqueue → start, image backlog (ms)") == ["145.0", "453.0"]
    assert columns("fork + reap per job (ms)") == ["4.0", "5.0"]
    assert "2.13 images/s with 1 worker, 3.72 with 2 (×1.75)" in report(figures)
    assert "both after 99 of 100 uploads" in report(figures)
