"""Scheduled retries survive the death of the worker that ran the scheduler.

One RQ scheduler per queue moves due jobs (retries after
``JOB_RETRY_INTERVALS``) onto the queue: the one whose worker holds the
queue's lock, ``rq:scheduler-lock:<queue>``. RQ keeps that lock for 61 s and
the scheduler refreshes it every second, so when the holder's machine dies
every other worker waits out the full minute before one of them takes over,
and each due retry waits with it.

:func:`free_stale_locks` (run by each worker's maintenance, just before RQ's
own, which takes a free lock) deletes a lock whose holder has not refreshed it
for ``stale_after`` seconds: the same grace a job's heartbeat has. Deleting
is conditional on the holder being the same (a script), so two workers cannot
both take over, and a holder that was only slow finds the lock taken and stops
scheduling (RQ's heartbeat handles that).
"""

from __future__ import annotations

from collections.abc import Iterable

from redis import Redis
from rq.scheduler import SCHEDULER_LOCKING_KEY_TEMPLATE

# RQ sets the lock to its scheduler's interval (1 s) + 60 s at every refresh.
LOCK_TTL = 61

# Delete KEYS[1] only while it still names ARGV[1] and its TTL says it was
# not refreshed for ARGV[2] seconds.
_FREE_IF_STALE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 or ttl > tonumber(ARGV[3]) - tonumber(ARGV[2]) then return 0 end
return redis.call('DEL', KEYS[1])
"""


def free_stale_locks(
    connection: Redis, queue_names: Iterable[str], stale_after: float
) -> list[str]:
    """Delete the scheduler lock of each of ``queue_names`` whose holder has not
    refreshed it for ``stale_after`` seconds; the queues whose lock was freed."""
    freed = []
    for name in queue_names:
        key = SCHEDULER_LOCKING_KEY_TEMPLATE % name
        holder = connection.get(key)
        if holder is None:
            continue
        if connection.eval(_FREE_IF_STALE, 1, key, holder, int(stale_after), LOCK_TTL):
            freed.append(name)
    return freed
