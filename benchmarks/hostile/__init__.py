"""The header check on hostile uploads vs a 12 MP photo (``make bench-hostile``).

Run with ``python -m benchmarks.hostile`` (see ``run.py``)."""
