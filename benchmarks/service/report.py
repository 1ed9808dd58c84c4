"""The table :mod:`benchmarks.service` prints from its figures."""

from __future__ import annotations

from typing import Any

WIDTH = 58

# (key in figures["upload"], label): the upload latency rows, in print order.
UPLOAD_ROWS = [
    ("upload_async", "upload, workers busy (ms)"),
    ("upload_async_through_front", "upload, workers busy, through the front (ms)"),
    ("upload_async_own_sessions", "upload, workers busy, in sessions of their own (ms)"),
    ("upload_async_cgroup_idle", "upload, workers busy, own cgroup with cpu.idle (ms)"),
    ("upload_async_cgroup_light", "upload, workers busy, own cgroup with cpu.shares 2 (ms)"),
    ("upload_async_workers_niced", "upload, workers busy but only niced (ms)"),
    ("upload_async_storage_on_tmpfs", "upload, workers busy, storage on tmpfs (ms)"),
    ("upload_no_worker_running", "upload, no worker running (ms)"),
    ("upload_sync_baseline", "upload, resized in the request (ms)"),
]


def row(label: str, p50: object, p95: object, p99: object) -> str:
    """One line of the table: a label and three right-aligned columns."""
    return f"{label:<{WIDTH}}{p50!s:>9}{p95!s:>9}{p99!s:>9}"


def report(figures: dict[str, Any]) -> str:
    """The benchmark's figures as a table and a few lines of text."""
    up, queue, tp, wc = (figures[k] for k in ("upload", "queue", "throughput", "wordcount"))
    lines = [
        f"imgsvc service benchmark · {figures['input']} · {figures['storage']} · "
        f"{figures['cpus']} CPUs · load average {figures['load_average_at_start']} at the "
        f"start, {figures['load_average_at_end']} at the end",
        "",
        row("figure", "p50", "p95", "p99"),
    ]
    for key, label in UPLOAD_ROWS:
        if up.get(key):
            lines.append(row(label, up[key]["p50"], up[key]["p95"], up[key]["p99"]))
    ratio = (up["ratio_sync_over_async_p50"], "", up["ratio_sync_over_async_p99"])
    lines.append(row("  ratio sync / async", *ratio))
    for label, values in [
        ("queue overhead: ready − upload − job run (ms)", queue["queue_overhead_ms"]),
        ("enqueue → start, idle workers (ms)", queue["enqueue_to_start_ms"]),
        ("word count enqueue → start, image backlog (ms)", wc["wordcount_enqueue_to_start_ms"]),
        ("fork + reap per job (ms)", figures["fork"]["fork_and_reap_ms"]),
    ]:
        lines.append(row(label, values["p50"], "", values["p99"]))
    lines += [
        "",
        f"redis: {figures['redis']['redis_commands_per_image']} commands per image; "
        f"{figures['redis']['redis_commands_per_second_idle_worker']}/s from an idle worker",
        f"throughput (first start → last end): {tp['images_per_s_1_worker']} images/s with "
        f"1 worker, {tp['images_per_s_2_worker']} with 2 (×{tp['ratio_2_over_1']}); "
        f"first upload → last seen done: {tp['images_per_s_1_worker_wall']}, "
        f"{tp['images_per_s_2_worker_wall']} (×{tp['ratio_2_over_1_wall']}); median job run "
        f"{tp['job_run_ms_median_1_worker']} ms alone, {tp['job_run_ms_median_2_worker']} ms "
        "two at a time",
        f"workers busy during the timed uploads: {up['workers_busy_during_uploads']}; "
        f"image jobs still queued when the word counts had finished: "
        f"{wc['image_jobs_still_waiting_when_counts_finished']}",
    ]
    return "\n".join(lines)
