"""The benchmark suites, one package each, run as ``python -m benchmarks.<suite>``
(the ``make bench*`` targets): pipeline, forked, service, load, front (slow
clients), reconcile, hostile. What several share is in ``common.py``; the
stack, Redis, moto, waiting and the generated inputs come from tests.support.
No test imports a benchmark: a suite's own checks sit in its package
(``benchmarks/service/test_report.py``, collected by pytest), and what a test
and a suite both run is in tests.support (``load``, ``percentiles``)."""
