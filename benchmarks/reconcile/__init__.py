"""A reconcile pass per finished image (``make bench-reconcile``).

Run with ``python -m benchmarks.reconcile`` (see ``run.py``)."""
