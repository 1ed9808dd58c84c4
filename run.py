"""The app for WSGI servers (``gunicorn run:app``); ``python run.py`` serves it.

``python run.py`` starts gunicorn rather than Flask's development server,
which mishandles request-size limits (413).
"""

import os
import sys

from imgsvc.wsgi import app

__all__ = ["app"]

if __name__ == "__main__":
    bind = f"{os.environ.get('IMGSVC_HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
    os.execvp(
        sys.executable,
        [sys.executable, "-m", "gunicorn", "--bind", bind, "--no-control-socket", "run:app"],
    )
