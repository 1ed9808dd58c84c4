"""The WSGI app for servers: ``gunicorn imgsvc.wsgi:app``."""

from imgsvc import create_app

app = create_app()
