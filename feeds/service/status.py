"""The builder's status, shared with the host's other workers through ``status.json`` in the snapshot folder.

The builder writes it at every change of what it is doing; the followers read
it (a ``stat`` per poll, the file only when it changed) for their /healthz.
The record is named and versioned (:data:`VERSION`): a reader of another
version, a worker of the previous release during a rolling restart, ignores it
instead of misreading it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from feeds import log
from feeds.fsutil import atomic_write

NAME = "status.json"
#: Bumped when a field changes meaning or goes; a reader refuses any other version.
VERSION = 1
#: What the builder does: one of these, since ``BuilderStatus.since``.
ACTIVITIES = ("starting", "idle", "scanning", "publishing", "completing", "stopped")


@dataclass(frozen=True)
class BuilderStatus:
    """What the host's builder is doing and how its last scan went."""

    #: The builder's process id (None: no builder has written a status yet).
    pid: int | None = None
    #: One of ACTIVITIES.
    activity: str = "starting"
    #: When the builder began ``activity`` (UTC).
    since: datetime | None = None
    #: When the builder last made progress (a document rendered, a step done); a stuck build stops advancing it.
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
        return self.activity in ("scanning", "publishing", "completing")

    def to_json(self) -> dict[str, Any]:
        return {
            "record": "builder_status",
            "v": VERSION,
            "pid": self.pid,
            "activity": self.activity,
            "since": _iso(self.since),
            "progress": _iso(self.progress),
            "last_scan": _iso(self.last_scan),
            "error": self.error,
            "version": self.version,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: object) -> BuilderStatus | None:
        """The record ``to_json`` wrote; None for anything else (another version, another record, a torn file)."""
        if not isinstance(data, dict) or data.get("record") != "builder_status" or data.get("v") != VERSION:
            return None
        try:
            activity, extra = data["activity"], data["extra"]
            if activity not in ACTIVITIES or not isinstance(extra, dict):
                return None
            return cls(
                pid=_optional(data["pid"], int),
                activity=activity,
                since=_date(data["since"]),
                progress=_date(data["progress"]),
                last_scan=_date(data["last_scan"]),
                error=_optional(data["error"], str),
                version=_optional(data["version"], str),
                extra=extra,
            )
        except (KeyError, TypeError, ValueError):
            return None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _date(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None if value is None else _refuse(value)


def _optional(value: object, kind: type[Any]) -> Any:
    return value if value is None or (isinstance(value, kind) and not isinstance(value, bool)) else _refuse(value)


def _refuse(value: object) -> Any:
    raise TypeError(f"unexpected {type(value).__name__}")


class StatusFile:
    """``status.json`` in a snapshot folder: written by the builder, read by the other workers."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / NAME
        self._stamp: tuple[int, int] | None = None
        self._failure: str | None = None

    def write(self, status: BuilderStatus) -> None:
        """As the builder: publish ``status``; a failure is logged once per cause (the others then see no status)."""
        data = (json.dumps(status.to_json()) + "\n").encode()
        try:
            atomic_write(self.path, data, durable=False)
        except OSError:
            # The old status would tell the other workers that all is well: remove it (which also
            # frees the room a full disk lacks for the new one) and try once more.
            with contextlib.suppress(OSError):
                self.path.unlink()
            try:
                atomic_write(self.path, data, durable=False)
            except OSError as e:  # the others then report the status as missing (or stale) on /healthz
                cause = e.strerror or str(e)
                if cause != self._failure:  # once per cause, not at every scan
                    log.event("status_failed", logging.ERROR, path=str(self.path), error=cause)
                self._failure = cause
                return
        self._failure = None

    def read(self, known: BuilderStatus | None) -> BuilderStatus | None:
        """As a follower: the status if the file changed since the last read (``known`` if not).

        A status that was there and went away says so: the builder removes it when it cannot write it.
        """
        try:
            info = os.stat(self.path)
            stamp = (info.st_ino, info.st_mtime_ns)
            if stamp == self._stamp and known is not None:
                return known
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            if self._stamp is None or known is None:
                return known
            self._stamp = None
            return replace(known, error=f"the builder cannot write its status to {self.path} (see its log)")
        except (OSError, ValueError):
            return known
        self._stamp = stamp
        return BuilderStatus.from_json(data) or known
