"""imgsvc's RQ worker: fast crash detection, periodic reconcile, loud Redis checks.

It is a plain forking ``rq.Worker`` (each job in its own work-horse process,
so a crash or an out-of-memory kill takes down one job, not the worker) with
these changes:

- heartbeats expire ``HEARTBEAT_GRACE`` seconds after the monitor interval
  instead of RQ's 60, and registries are cleaned every
  ``WORKER_MAINTENANCE_INTERVAL`` seconds instead of 10 minutes, so a job
  whose worker was SIGKILLed is retried within about half a minute;
- a work-horse that dies (signal, OOM killer) has its job marked with a clear
  reason, and the image failed once no retries are left;
- every ``RECONCILE_INTERVAL`` seconds the workers re-enqueue unfinished
  images from storage, a slice of at most ``RECONCILE_SLICE_SECONDS`` per
  maintenance tick (``reconcile.periodic_slice``), so flushed or lost Redis
  data heals itself without a worker stopping for long;
- a Redis that goes away (a restart, a Sentinel failover) never ends it:
  heartbeats, maintenance and the watch over a running job skip a beat and
  the dequeue waits for Redis, or the new master, to answer;
- it takes its queues in turn (RQ's round-robin dequeue strategy): started on
  the image queue and the word-count queue (``queue.job_queues``), it
  alternates between them while both have work, so neither job type waits
  behind a backlog of the other; the webhook queue and then the backfill
  queue stay last in that order, so deliveries run only when neither has
  work, and backfill jobs only when nothing else waits;
- a job that ran out of its time budget ends ``failed`` with ``timeout`` and
  is never retried, whatever the job function did with RQ's exception; a
  work-horse that died for another reason is still retried.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Mapping
from typing import Any

from rq import Worker
from rq.exceptions import StopRequested
from rq.job import Job
from rq.worker import DequeueStrategy

from imgsvc.extensions import REDIS_ERRORS, Services
from imgsvc.jobs import ran_out_of_time
from imgsvc.schedulerlock import free_stale_locks
from imgsvc.settings import Settings

log = logging.getLogger(__name__)


class ImgsvcWorker(Worker):
    """An ``rq.Worker`` tuned for fast recovery (see the module docstring)."""

    def __init__(self, *args: Any, settings: Mapping[str, Any], **kwargs: Any) -> None:
        self.settings = settings
        self.config = Settings(settings)
        self._services: Services | None = None
        self._reconciling = False
        interval = self.config.WORKER_MAINTENANCE_INTERVAL
        kwargs.setdefault("maintenance_interval", interval)
        kwargs.setdefault("job_monitoring_interval", self.config.WORKER_MONITOR_INTERVAL)
        # The idle dequeue wakes every worker_ttl - 15 s: keep it at the maintenance pace.
        kwargs.setdefault("worker_ttl", interval + 15)
        super().__init__(*args, **kwargs)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        grace = self.config.HEARTBEAT_GRACE
        if job.timeout and job.timeout > 0:
            return int(min(job.timeout - working_time, self.job_monitoring_interval)) + grace
        return self.job_monitoring_interval + grace

    def set_state(self, state: str, pipeline: Any = None) -> None:
        """RQ's state write, which a Redis gone away cannot turn into the worker's end.

        RQ writes the worker's state (``idle``) right after a job, outside the
        guard its dequeue has for a lost connection; a Redis that stops in that
        moment would end the worker. The state is what ``imgsvc stats`` and
        ``/ops`` show, rewritten at the next job; the dequeue that follows waits
        for Redis to come back.
        """
        try:
            super().set_state(state, pipeline=pipeline)
        except REDIS_ERRORS as exc:
            log.warning("could not record worker state %s (Redis: %s); going on", state, exc)

    def execute_job(self, job: Job, queue: Any) -> None:
        """RQ's job run, which a Redis gone away cannot turn into the worker's end.

        RQ watches the work-horse and reads the job's status with Redis calls
        outside its dequeue's guard; a master that dies mid-job (a Sentinel
        failover, a restart) would end the worker. Here the horse is left to
        finish (the job is idempotent; bounded by its timeout, then killed),
        and the loop goes back to its dequeue, which waits for Redis (or the
        new master) to answer. The job itself is retried from the started
        registry once its heartbeat expires, or re-enqueued from storage by
        reconcile if the failover lost it.
        """
        try:
            super().execute_job(job, queue)
        except REDIS_ERRORS as exc:
            log.warning("lost Redis while job %s ran (%s); going on once it answers", job.id, exc)
            self._settle_horse(job)

    def _settle_horse(self, job: Job) -> None:
        """Reap a work-horse still running, waiting at most its job's time budget."""
        pid, self._horse_pid = self._horse_pid, 0
        if not pid:
            return
        budget = job.timeout if job.timeout and job.timeout > 0 else self.config.JOB_TIMEOUT
        deadline = time.monotonic() + budget + self.config.HEARTBEAT_GRACE
        try:
            while time.monotonic() < deadline:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    return
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except ChildProcessError:  # already reaped
            return

    def subscribe(self) -> None:
        """RQ's subscription to the worker's command channel, listened to in 1 s steps.

        RQ listens in 60 s steps, and its teardown joins the listening thread: a
        worker that stops right after it subscribed (a burst worker whose jobs end
        at once) waited up to a minute to exit.
        """
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]  # RQ declares it None
            sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
        )

    def work(self, *args: Any, **kwargs: Any) -> bool:
        """RQ's work loop, taking the queues in turn unless told otherwise."""
        kwargs.setdefault("dequeue_strategy", DequeueStrategy.ROUND_ROBIN)
        return super().work(*args, **kwargs)

    def reorder_queues(self, reference_queue: Any) -> None:
        """RQ's rotation, then the webhook and backfill queues moved back to the end,
        in that order (``queue.queue_rank``): BLPOP takes from the first non-empty
        queue, so deliveries are taken only when no image or word count waits,
        and backfill jobs only when nothing else does."""
        from imgsvc.queue import queue_rank

        super().reorder_queues(reference_queue)
        self._ordered_queues = sorted(self._ordered_queues, key=queue_rank)

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        # Runs in the work-horse before RQ decides on a retry: a job whose time
        # ran out is failed for good, as ``timeout``, whatever type it raised.
        if ran_out_of_time(job, exc_info[1]):
            _record_timeout(job)
        super().handle_exception(job, *exc_info)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's heartbeat, skipped (with a warning) while Redis does not answer.

        RQ beats after every job and before each dequeue, outside the guard its
        dequeue has; a master that dies there would end the worker. A missed
        beat is harmless: the next dequeue waits for Redis (or Sentinel's new
        master) and beats again.
        """
        try:
            super().heartbeat(timeout, pipeline)
        except REDIS_ERRORS as exc:
            log.warning("could not send the worker's heartbeat (Redis: %s); going on", exc)

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's suspension check; while Redis does not answer, not suspended (the
        dequeue that follows waits for Redis)."""
        try:
            super().check_for_suspension(burst)
        except REDIS_ERRORS as exc:
            log.warning("could not check for suspension (Redis: %s); going on", exc)

    def run_maintenance_tasks(self) -> None:
        """RQ's maintenance (registries, restarting a scheduler that died with its
        Redis connection) after freeing the scheduler lock of a dead worker
        (:mod:`imgsvc.schedulerlock`), then a reconcile slice when due; a Redis
        error skips this tick instead of ending the worker."""
        try:
            stale_after = self.job_monitoring_interval + self.config.HEARTBEAT_GRACE
            freed = free_stale_locks(self.connection, self.queue_names(), stale_after)
            if freed:
                log.warning("took over the scheduler of a dead worker for %s", ", ".join(freed))
            super().run_maintenance_tasks()  # takes a free scheduler lock
        except REDIS_ERRORS as exc:
            log.warning("maintenance skipped (Redis: %s); next tick", exc)
            return
        self._reconcile_if_due()

    def request_stop(self, signum: int, frame: Any) -> None:
        """RQ's warm shutdown. An idle worker is stopped by raising ``StopRequested``
        from the signal handler; during a reconcile slice that exception would land
        inside a storage call, where the client library's retries (botocore) or the
        slice's own guard would swallow it and the worker would never stop. There
        the worker stops once the slice ends (at most its budget and one storage
        call) instead: RQ's loop checks ``_stop_requested`` after maintenance."""
        try:
            super().request_stop(signum, frame)
        except StopRequested:
            if not self._reconciling:
                raise
            self._stop_requested = True

    def _reconcile_if_due(self) -> None:
        from imgsvc.images.reconcile import periodic_slice

        if self._services is None:  # one client for every tick, not a connection each
            self._services = Services(self.settings)
        self._reconciling = True
        try:
            report = periodic_slice(self._services)
        except Exception:  # never let housekeeping take the worker down
            log.exception("periodic reconcile failed")
            return
        finally:
            self._reconciling = False
        if report is not None and report.requeued:
            log.warning(
                "reconcile re-enqueued %d image(s): %s",
                len(report.requeued),
                ", ".join(report.requeued),
            )
        if report is not None and report.discarded:
            log.warning(
                "reconcile removed %d abandoned upload(s) without a manifest: %s",
                len(report.discarded),
                ", ".join(report.discarded),
            )

    def handle_work_horse_killed(self, job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
        from imgsvc.images.tasks import record_crash

        if ran_out_of_time(job, None):  # RQ kills a horse that outlived its timeout: a timeout
            _record_timeout(job)
            super().handle_work_horse_killed(job, retpid, ret_val, rusage)
            return
        signal_number = os.WTERMSIG(ret_val) if ret_val and os.WIFSIGNALED(ret_val) else None
        reason = (
            f"The worker process died while running this job (signal {signal_number}; "
            "for example killed for using too much memory)."
            if signal_number
            else f"The worker process exited unexpectedly (status {ret_val})."
        )
        try:
            record_crash(job, reason)
        except Exception:
            log.exception("could not record the crash of job %s", job.id)
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)


def _record_timeout(job: Job) -> None:
    """No retry for ``job``; ``timeout`` as its error and its image's."""
    from imgsvc.images.tasks import record_timeout

    job.retries_left = 0  # first: whatever fails below, RQ must not retry it
    try:
        record_timeout(job)
    except Exception:
        log.exception("could not record the timeout of job %s", job.id)


def warn_about_redis(services: Services) -> str | None:
    """Log loudly when Redis may drop queue data (any eviction policy but noeviction)."""
    try:
        policy = services.redis.config_get("maxmemory-policy").get("maxmemory-policy")
    except REDIS_ERRORS as exc:  # managed Redis often forbids CONFIG
        log.info("could not read Redis maxmemory-policy (%s); make sure it is noeviction", exc)
        return None
    if policy and policy != "noeviction":
        log.warning(
            "\n%s\nRedis maxmemory-policy is %r: under memory pressure Redis will EVICT "
            "queued jobs and they will be lost until `imgsvc reconcile` runs.\n"
            "Set `maxmemory-policy noeviction` (and appendonly yes).\n%s",
            "!" * 72,
            policy,
            "!" * 72,
        )
    return policy
