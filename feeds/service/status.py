"""The builder's status, shared with the host's other workers through ``status.json`` in the snapshot folder.

The builder writes it at every change of what it is doing; the followers read
it (a ``stat`` per poll, the file only when it changed) for their /healthz. It
holds one :class:`~feeds.service.wire.BuilderStatus` record, named and versioned:
a worker of another release (a rolling restart) ignores it instead of misreading it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import replace
from pathlib import Path

from feeds import log
from feeds.fsutil import atomic_write
from feeds.service import wire
from feeds.service.wire import BuilderStatus

NAME = "status.json"


class StatusFile:
    """``status.json`` in a snapshot folder: written by the builder, read by the other workers."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / NAME
        self._stamp: tuple[int, int] | None = None
        self._failure: str | None = None

    def write(self, status: BuilderStatus) -> None:
        """As the builder: publish ``status``; a failure is logged once per cause (the others then see no status)."""
        data = (json.dumps(wire.dump(status)) + "\n").encode()
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

    def load(self) -> BuilderStatus | None:
        """The status as it is on disk now (None: none, or not one this version reads)."""
        try:
            return wire.load(json.loads(self.path.read_bytes()), BuilderStatus)
        except (OSError, ValueError):
            return None

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
        return wire.load(data, BuilderStatus) or known
