"""The WSGI app for servers: ``gunicorn imgsvc.wsgi:app``."""

from imgsvc import create_app
from imgsvc.settings import Settings
from imgsvc.web.body.memory import retain_freed_memory

app = create_app()
# A server process: its uploads reuse the memory of the last one (imgsvc.web.body.memory).
retain_freed_memory(Settings(app.config).MAX_CONTENT_LENGTH)
