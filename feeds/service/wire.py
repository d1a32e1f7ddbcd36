"""What the host's workers tell each other: named, versioned records as JSON objects.

Everything that crosses a process boundary between workers goes through here:
requests to the builder over its socket and their answers, and the builder's
``status.json``. A record travels as ``{"record": <class name>, "v": VERSION,
<field>: <value>, …}`` with every field named; a reader takes only the records it
expects, of this VERSION, with exactly their fields of the right types, and
answers None for anything else. So a worker of another release (during a
rolling restart) or a changed record is refused, never misread by position.
Change a record's fields only with VERSION (``tests/test_wire.py`` pins them).
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from feeds.snapshot.manifest import Item

#: Bumped whenever a record gains, loses or changes a field.
VERSION = 1
R = TypeVar("R")


@dataclass(frozen=True)
class RenderRequest:
    """A follower asks the builder for a document not rendered yet (an older page), now."""

    path: str
    #: The digest the follower's manifest lists, so it never gets another snapshot's bytes (None: any).
    digest: str | None = None


@dataclass(frozen=True)
class RenderAnswer:
    """The rendered document, or None: not a pending document of the builder's snapshot."""

    item: Item | None


@dataclass(frozen=True)
class RebuildRequest:
    """A follower passes on ``POST /-/rebuild``: rescan now."""

    #: Publish a force-pushed content branch.
    force: bool = False


@dataclass(frozen=True)
class RebuildAnswer:
    """How a rescan asked for went."""

    #: "done" (scanned and published if anything changed), "queued" (behind a run in progress), "failed" (the scan
    #: or publish failed: ``error`` says why), "stopping" (the builder is stopping) or "unavailable" (no builder answered).
    status: str
    #: Whether a new snapshot was published.
    changed: bool
    #: The version served after it.
    version: str | None
    error: str | None = None


@dataclass(frozen=True)
class BuilderStatus:
    """What the host's builder is doing and how its last scan went (``status.json``)."""

    #: The builder's process id (None: no builder has written a status yet).
    pid: int | None = None
    #: "starting", "idle", "scanning" (the content), "rendering" (page 1s), "publishing" (flush, manifest, swap),
    #: "completing" (older pages) or "stopped" (the lock handed on).
    activity: str = "starting"
    #: When the builder began ``activity`` (UTC).
    since: datetime | None = None
    #: When the builder last made progress (a chunk of documents rendered); a stuck build stops advancing it.
    progress: datetime | None = None
    #: When the last scan finished, and why the last scan, rebuild or publish failed (None: it did not).
    last_scan: datetime | None = None
    error: str | None = None
    #: The version the builder last published.
    version: str | None = None
    #: More of the builder's state for every worker's /healthz (e.g. "publish": the bucket mirror's status).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def busy(self) -> bool:
        return self.activity in ("scanning", "rendering", "publishing", "completing")


RECORDS: dict[str, type[Any]] = {
    kind.__name__: kind for kind in (RenderRequest, RenderAnswer, RebuildRequest, RebuildAnswer, BuilderStatus)
}


def dump(record: Any) -> dict[str, Any]:
    """The JSON object of ``record`` (one of RECORDS)."""
    assert type(record).__name__ in RECORDS, type(record)
    return {"record": type(record).__name__, "v": VERSION} | {f.name: _out(getattr(record, f.name)) for f in fields(record)}


def load(data: object, kind: type[R]) -> R | None:
    """The record of type ``kind`` in ``data``; None for another record, another version, or a field missing, extra or mistyped."""
    if not isinstance(data, dict) or data.get("record") != kind.__name__ or data.get("v") != VERSION:
        return None
    try:
        return _in({k: v for k, v in data.items() if k not in ("record", "v")}, kind)  # type: ignore[no-any-return]
    except (TypeError, ValueError):
        return None


def _out(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _out(getattr(value, f.name)) for f in fields(value)}
    return value


def _in(value: Any, hint: Any) -> Any:
    """``value`` read as the type ``hint`` (a record, Item, datetime, str, int, bool, a JSON object, or X | None)."""
    if get_origin(hint) in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        (hint,) = [option for option in options if option is not type(None)]
    if isinstance(hint, type) and is_dataclass(hint):
        if not isinstance(value, dict) or set(value) != {f.name for f in fields(hint)}:
            raise TypeError(f"{hint.__name__}: fields {sorted(value) if isinstance(value, dict) else type(value).__name__}")
        hints = get_type_hints(hint)
        return hint(**{name: _in(item, hints[name]) for name, item in value.items()})
    if hint is datetime:
        return datetime.fromisoformat(value) if isinstance(value, str) else _refuse(value, hint)
    origin = get_origin(hint) or hint
    if origin is dict:
        return value if isinstance(value, dict) else _refuse(value, hint)
    if origin in (str, int, bool) and isinstance(value, origin) and (origin is bool or not isinstance(value, bool)):
        return value
    return _refuse(value, hint)


def _refuse(value: object, hint: object) -> Any:
    raise TypeError(f"{type(value).__name__} where {hint} was expected")
