"""``wsgi:app`` without the replay cache (the plain Flask path), for ``python -m bench serve --app bench.flask_only:app``."""

from __future__ import annotations

from typing import Any

from wsgi import app as _service

#: Flask's own WSGI callable, from inside the ReplayCache that web.init_app wraps it in.
app: Any = _service.wsgi_app.app  # type: ignore[attr-defined]
