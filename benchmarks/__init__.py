"""The benchmark suites, one package each, run as ``python -m benchmarks.<suite>``
(the ``make bench*`` targets): pipeline, forked, service, load, front (slow
clients), reconcile, hostile. What several share is in ``common.py``; the
stack, Redis, moto, waiting and the generated inputs come from tests.support.
No test imports a benchmark except the tests of benchmark code
(tests/test_bench_service.py, tests/system/test_load.py)."""
