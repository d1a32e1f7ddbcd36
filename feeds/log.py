"""One log line per event, as key=value pairs or JSON (setting ``log_format``).

Events are also handed to observers (``feeds.metrics`` counts rebuilds from
them), so a log line and its metric can never disagree.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger("feeds")

#: Called with every event's name and fields, before it is logged.
Observer = Callable[[str, dict[str, Any]], None]
_observers: list[Observer] = []


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log event ``name`` with ``fields``; the formatter decides the shape."""
    for observer in _observers:
        try:
            observer(name, fields)
        except Exception:  # counting must never break what is being counted
            logger.exception("event observer failed")
    logger.log(level, name, extra={"feeds_fields": fields})


def tally(name: str, **fields: Any) -> None:
    """Hand event ``name`` to the observers (metrics) without logging it: a repeat of a logged event."""
    for observer in _observers:
        try:
            observer(name, fields)
        except Exception:
            logger.exception("event observer failed")


def observe(observer: Observer) -> None:
    """Hand every later event to ``observer`` (once, however often this is called)."""
    if observer not in _observers:
        _observers.append(observer)


def _kv_value(value: Any) -> str:
    text = str(value)
    if text == "" or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    # pid: under gunicorn several workers write to one log.
    fields = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "pid": os.getpid(),
        "event": record.getMessage(),
    }
    fields.update(getattr(record, "feeds_fields", {}))
    return fields


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = " ".join(f"{key}={_kv_value(value)}" for key, value in _fields(record).items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return json.dumps(fields, ensure_ascii=False, default=str)


class _Stderr(logging.StreamHandler[Any]):
    """Write to whatever ``sys.stderr`` is at the time of the event (a server or test runner may replace it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure(log_format: str = "kv", level: int = logging.INFO) -> None:
    """Send the ``feeds`` logger to stderr in ``log_format``; safe to call again."""
    handler = _Stderr()
    handler.setFormatter(JsonFormatter() if log_format == "json" else KeyValueFormatter())
    # Replace only our own handler: others (a test's, an operator's) stay.
    logger.handlers[:] = [h for h in logger.handlers if not isinstance(h, _Stderr)] + [handler]
    logger.setLevel(level)
    logger.propagate = False
