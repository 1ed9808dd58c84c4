"""The multi-host rehearsal's record and report (tests/system/test_rehearsal.py).

:class:`Campaign` follows the client host's uploads through the records its
program (``tests.support.rehearsal_client campaign``) appends to a file;
:func:`summarise` turns them, the collected images and the faults' times into
the run's JSON report, and :func:`write_report` writes and prints it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

from tests.support import wait_until
from tests.support.rehearsal import Rehearsal, stored_images


class Campaign:
    """The client host's uploads, followed through the records it appends to ``log``
    (one JSON line per upload; each attempt ``[time, web, status, code, replayed]``)."""

    def __init__(self, log: Path, proc: subprocess.Popen, started: float) -> None:
        self.log, self.proc, self.started = log, proc, started

    def records(self) -> list[dict]:
        if not self.log.exists():
            return []
        lines = self.log.read_text().split("\n")[:-1]  # not a line still being written
        return [json.loads(line) for line in lines]

    def wait_for_uploads(self, count: int) -> None:
        def reached() -> bool:
            assert self.proc.poll() in (None, 0), "the client host's program failed"
            return len(self.records()) >= count

        wait_until(reached, timeout=180, interval=0.2, message=f"{count} uploads not reached")

    def first(self, answer: int | None, after: float, web: int | None = None) -> float | None:
        """When an upload first got ``answer`` (a status; None: no answer) after
        ``after``, through ``web`` (any web host when None)."""
        times = [
            at
            for record in self.records()
            for at, through, status, _, _ in record["attempts"]
            if status == answer and at > after and web in (None, through)
        ]
        return min(times, default=None)

    def since(self, at: float) -> float:
        return round(at - self.started, 2)


def answer_name(status: int | None, code: str | None) -> str:
    if status is None:
        return f"no answer ({code})"
    return f"{status} {code}" if code else str(status)


def summarise(run: Rehearsal, campaign: Campaign, collected: dict, faults: dict) -> dict:
    """The run's JSON report (see the module docstring)."""
    records = campaign.records()
    attempts = [attempt for record in records for attempt in record["attempts"]]
    accepted = [record for record in records if record["id"]]
    restarted = faults["web_restart"]
    window = (restarted["injected_at_s"], restarted["injected_at_s"] + restarted["healthz_again_s"])
    return {
        "hosts": {host.name: host.address for host in run.net.hosts},
        "uploads": {
            "planned": len(records),
            "requests_sent": len(attempts),
            "answers": dict(
                Counter(answer_name(status, code) for _, _, status, code, _ in attempts)
            ),
            "accepted": len(accepted),
            "accepted_202": sum(record["status"] == 202 for record in accepted),
            "accepted_503_image_stored": sum(record["status"] == 503 for record in accepted),
            "sent_without_key": sum(record["keyless"] for record in records),
            "never_accepted": len(records) - len(accepted),
            "sent_again": sum(len(record["attempts"]) - 1 for record in records),
            "no_answer_during_web_restart": sum(
                status is None and window[0] <= campaign.since(at) <= window[1] + 1
                for at, _, status, _, _ in attempts
            ),
            "replayed_answers": sum(replayed for *_, replayed in attempts),
            "distinct_image_ids": len({record["id"] for record in accepted}),
        },
        "faults": faults,
        "images": {
            "final": dict(Counter(collected["final"].values())),
            "in_the_bucket": stored_images(run.data, run.env),
            "variant_served": sum(
                s["status"] == 200 and s["jpeg"] for s in collected["served"].values()
            ),
            "all_done": set(collected["final"].values()) == {"done"},
        },
    }


def write_report(report: dict, folder: Path) -> None:
    """Write ``report`` to ``folder/rehearsal-report.json`` and to ``$REHEARSAL_REPORT``
    when set (its folder made), and print it (seen with ``pytest -s``)."""
    text = json.dumps(report, indent=1)
    (folder / "rehearsal-report.json").write_text(text)
    if os.environ.get("REHEARSAL_REPORT"):
        target = Path(os.environ["REHEARSAL_REPORT"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    print(f"\nrehearsal report ({folder / 'rehearsal-report.json'}):\n{text}")
