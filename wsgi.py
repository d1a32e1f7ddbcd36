"""WSGI entry point: ``gunicorn wsgi:app`` or ``granian --interface wsgi wsgi:app``."""

from feeds.web.app import create_app

app = create_app()
