"""The image pipeline against naive Pillow and libvips (``make bench``).

Run with ``python -m benchmarks.pipeline`` (see ``run.py``)."""
