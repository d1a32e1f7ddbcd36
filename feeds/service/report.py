"""What the builder says in the log: each build, each new content problem, each failure once per cause.

A scan, rebuild or publish that fails keeps the published snapshot served and
is retried at the next scan. The log names the cause once (``event=publish_failed``
with the path and the reason), not at every retry, and says when it clears
(``event=recovered``); every attempt still reaches the metrics (``log.tally``),
so ``/metrics`` counts them. The cause is what failed in the system's words
(``No space left on device``), not the file it failed on: a full disk refuses
a different temporary file at every attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from feeds import log, urls
from feeds.content.index import Scan
from feeds.render.formats import FORMATS
from feeds.snapshot.diff import changed_paths, same
from feeds.snapshot.manifest import Manifest


class Failures:
    """The last failure of the builder, and whether it is logged already."""

    def __init__(self) -> None:
        #: Why the last scan, rebuild or publish failed (None: it did not); /healthz shows it.
        self.error: str | None = None
        #: The event and cause logged last, until a success clears it.
        self._logged: tuple[str, str] | None = None

    def failed(self, event: str, error: str, cause: str, **fields: Any) -> None:
        """Record a failed attempt: logged when its cause is new, counted either way."""
        self.error = error
        if (event, cause) != self._logged:
            self._logged = (event, cause)
            log.event(event, logging.ERROR, **fields)
        else:
            log.tally(event, **fields)  # counted in /metrics, not logged again

    def recovered(self, settled: bool = True) -> None:
        """A scan or publish went through: clear the error; with ``settled``, log the recovery from a logged cause."""
        self.error = None
        if settled and self._logged is not None:
            event, cause = self._logged
            self._logged = None
            log.event("recovered", after=event, cause=cause)


def rebuilt(old: Manifest | None, new: Manifest, scan: Scan, rendered: int, scan_seconds: float, seconds: float) -> None:
    """Log a publish after a scan: what changed, in files and in bodies.

    ``adopt`` when nothing a client sees changed, only where this host's media files are (a snapshot folder
    copied to another host): published so that the workers read the files here, nothing rendered.
    """
    changed = changed_paths(old, new)
    log.event(
        "adopt" if old is not None and same(old, new, media_files=False) else "rebuild",
        version=new.version,
        files_changed=len(scan.changed),
        files_removed=len(scan.removed),
        changed=_names(scan.changed + scan.removed),
        bodies_changed=len(changed),
        feeds_changed=sum(1 for path in changed if _is_feed(path)),
        rendered=rendered,
        pending=len(new.pending),
        posts=new.post_count,
        problems=len(new.problems) + new.problems_omitted,
        scan_seconds=f"{scan_seconds:.3f}",
        seconds=f"{seconds:.3f}",
    )


def new_problems(old: Manifest | None, new: Manifest) -> None:
    """Log each problem once, when it appears (or at start-up), not at every rebuild."""
    known = set(old.problems) if old else set()
    for problem in new.problems:
        if problem not in known:
            log.event("content_problem", logging.WARNING, problem=str(problem))


def _is_feed(path: str) -> bool:
    parts = urls.split_feed_path(path)
    return parts is not None and parts[1] in FORMATS


def _names(files: tuple[str, ...], limit: int = 10) -> str:
    """Name the changed files in a log field, at most ``limit`` of them."""
    more = f",…(+{len(files) - limit})" if len(files) > limit else ""
    return ",".join(files[:limit]) + more


def notify(listeners: Iterable[Callable[[Manifest | None, Manifest], None]], old: Manifest | None, new: Manifest) -> None:
    """Tell each listener of a publish (WebSub pings, the bucket mirror); one that fails is logged, the others still hear."""
    for listener in listeners:
        try:
            listener(old, new)
        except Exception:
            logging.getLogger("feeds").exception("publish listener failed")
