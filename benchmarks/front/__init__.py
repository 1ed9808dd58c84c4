"""A normal client beside 1,000 slow connections, through the front (``make bench-slowclients``).

Run with ``python -m benchmarks.front`` (see ``run.py``)."""
