"""The image job in forked work-horses, as RQ runs it (``make bench-forked``).

Run with ``python -m benchmarks.forked`` (see ``run.py``)."""
