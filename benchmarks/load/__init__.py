"""Uploads from many clients through the whole stack (``make bench-load``).

Run with ``python -m benchmarks.load`` (see ``run.py``)."""
