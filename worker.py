"""``python worker.py``: an RQ worker on the image and word-count queues
(``default`` and ``default-wordcounts``, taken in turn) with imgsvc's settings.

Plain ``rq worker --url $IMGSVC_REDIS_URL --serializer rq.serializers.JSONSerializer
--with-scheduler --dequeue-strategy round_robin default default-wordcounts`` works
too: the job functions in :mod:`imgsvc.tasks` read their settings from the
environment (it lacks only the faster crash detection and periodic reconcile of
:class:`imgsvc.worker.ImgsvcWorker`).
"""

from imgsvc.cli import _setup_logging, run_worker

if __name__ == "__main__":
    _setup_logging()
    run_worker()
