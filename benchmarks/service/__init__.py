"""Upload latency, queue overhead, 1 vs 2 workers (``make bench-service``).

Run with ``python -m benchmarks.service`` (see ``run.py``)."""
