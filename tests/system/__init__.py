"""Process-level tests: each starts the service's own processes (gunicorn, nginx,
``worker.py``, ``imgsvc dev``, Chromium) through tests.support and checks them
from outside. The unit tests beside this folder mirror the package."""
