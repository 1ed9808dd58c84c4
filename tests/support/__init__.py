"""The one harness of the tests and the benchmarks (benchmarks import it; it
imports no benchmark).

- ``wait``: polling with a deadline; waiting for images to finish
- ``ports``: free loopback ports; a connection counter
- ``redis``: a private ``redis-server``; ``moto``: moto's S3 server
- ``processes``: gunicorn's command line, stopping processes, /proc readings,
  a long-running ``worker.py``
- ``stack``: the whole service — :class:`~tests.support.stack.Stack`
  (gunicorn + workers + Redis, optionally the nginx front), ``LiveStack`` (on
  the test's Redis), ``dev_stack`` (``imgsvc dev``)
- ``client``: Flask test-client helpers (``upload``, ``csrf_token``)
- ``slow_clients``: a crowd of slow connections; ``cgroups``: cpu cgroups
- ``pageserver``: the word counter's test pages (and images to upload from a URL)
  over HTTP; ``receiver``: a webhook receiver that records and verifies; ``s3proxy``: an S3
  proxy that injects faults
- ``images``, ``ssim``, ``strategies``: generated photos, a quality measure and
  the naive resize strategies imgsvc is compared with
- ``sentinel``: a Redis master, replica and three sentinels (failover tests)
- ``netns``: hosts on a private virtual network (Linux network namespaces) for
  the multi-host rehearsal; ``rehearsal_client``: its client host's program
- ``load``: concurrent uploads against a stack with every loss check (the load
  test and ``make bench-load``); ``percentiles``: nearest-rank percentiles
"""

from tests.support.ports import ConnectionCounter as ConnectionCounter
from tests.support.ports import free_port as free_port
from tests.support.wait import wait_for as wait_for
from tests.support.wait import wait_until as wait_until
