"""The workers' CPU priority: resizes yield the CPU to the web processes."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from pathlib import Path

import pytest

from imgsvc import priority
from tests.support.processes import WorkerProcess

SCHED_OTHER, SCHED_IDLE = 0, 5


ROOT_GROUP = ("/", 0)


def autogroup(pid: int) -> tuple[str, int] | None:
    """(group name, nice) of a process's autogroup; None without autogroup support.

    A process whose ancestors never started a session since boot (as under a CI
    runner's init) is in no autogroup: Linux prints nothing for it, and it is
    scheduled in the root group, :data:`ROOT_GROUP`.
    """
    try:
        fields = Path(f"/proc/{pid}/autogroup").read_text().split()
    except FileNotFoundError:
        return None
    if not fields:
        return ROOT_GROUP
    name, _, nice = fields
    return name, int(nice)


def policy_and_nice(pid: int) -> tuple[int, int]:
    # Fields 19 and 41 of /proc/<pid>/stat: nice and scheduling policy.
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(stat[38]), int(stat[16])


@pytest.mark.parametrize("storage_url", ["file"], indirect=True)
@pytest.mark.parametrize(
    ("wanted", "policy", "nice_added", "group_nice"),
    [("idle", SCHED_IDLE, 0, 19), ("nice", SCHED_OTHER, 10, 10)],
)
def test_a_worker_leading_its_own_session_lowers_it_below_the_web(
    env, tmp_path, wanted, policy, nice_added, group_nice
):
    """As a supervisor starts it (setsid): its session is a scheduling group of its own."""
    worker = WorkerProcess(
        dict(os.environ, IMGSVC_LOG_LEVEL="INFO", IMGSVC_WORKER_PRIORITY=wanted),
        tmp_path / "worker.log",
        own_session=True,
    )
    try:
        assert policy_and_nice(worker.proc.pid) == (policy, os.nice(0) + nice_added)
        group = autogroup(worker.proc.pid)
        ours = autogroup(os.getpid())
        if ours is None:  # a kernel without autogroup: nothing to lower
            assert group is None
        else:
            assert group is not None and group[0] != ours[0]
            assert group[1] == group_nice
    finally:
        worker.stop()


@pytest.mark.parametrize("storage_url", ["file"], indirect=True)
def test_a_worker_sharing_a_session_leaves_the_session_alone(env, tmp_path):
    """Started from a shell (or by ``imgsvc dev``): SCHED_IDLE already yields to
    the session's web processes, and the session must not be slowed."""
    ours = autogroup(os.getpid())
    worker = WorkerProcess(
        dict(os.environ, IMGSVC_LOG_LEVEL="INFO", IMGSVC_WORKER_PRIORITY="idle"),
        tmp_path / "worker.log",
        own_session=False,
    )
    try:
        assert policy_and_nice(worker.proc.pid)[0] == SCHED_IDLE
        assert autogroup(worker.proc.pid) == ours
        assert autogroup(os.getpid()) == ours
    finally:
        worker.stop()
        if ours not in (None, ROOT_GROUP) and autogroup(os.getpid()) != ours:  # undo
            with contextlib.suppress(OSError):
                Path("/proc/self/autogroup").write_text(str(ours[1]))


class FlakyAutogroup:
    """A stand-in for /proc/self/autogroup that fails ``failures`` times first."""

    def __init__(self, failures: int, error: int = errno.EAGAIN) -> None:
        self.failures, self.error, self.writes = failures, error, []

    def exists(self) -> bool:
        return True

    def write_text(self, text: str) -> None:
        self.writes.append(text)
        if len(self.writes) <= self.failures:
            raise OSError(self.error, os.strerror(self.error))


@pytest.fixture
def session_leader(monkeypatch):
    monkeypatch.setattr(priority.os, "getsid", lambda pid: os.getpid())


def test_a_group_change_refused_for_now_is_retried(monkeypatch, session_leader):
    """Linux allows an unprivileged change ten times a second: two workers starting
    together see EAGAIN."""
    flaky = FlakyAutogroup(failures=2)
    monkeypatch.setattr(priority, "AUTOGROUP", flaky)
    assert priority.lower_session_group(19) is True
    assert flaky.writes == ["19", "19", "19"]


def test_a_group_change_refused_for_good_is_a_warning(monkeypatch, session_leader, caplog):
    flaky = FlakyAutogroup(failures=99, error=errno.EPERM)
    monkeypatch.setattr(priority, "AUTOGROUP", flaky)
    with caplog.at_level(logging.WARNING, logger="imgsvc.priority"):
        assert priority.lower_session_group(19) is False
    assert flaky.writes == ["19"]
    assert "could not lower" in caplog.text


def test_an_unknown_worker_priority_is_refused():
    with pytest.raises(ValueError, match="WORKER_PRIORITY"):
        priority.lower_priority({"WORKER_PRIORITY": "fast", "WORKER_NICE": 10})
