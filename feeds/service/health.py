"""One health record per answer: what /healthz shows and what /metrics reports come from here."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feeds.service.runtime import Runtime
from feeds.service.wire import BuilderStatus

#: The builder is considered stuck when it has not scanned for this many scan intervals (plus a margin).
STALE_INTERVALS = 3


@dataclass(frozen=True)
class Health:
    """This worker's view of the service's health."""

    #: "ok", or "degraded" with the reason in ``error`` (feeds are still served).
    status: str
    error: str | None
    #: Whether any snapshot is served (otherwise /healthz answers 503).
    serving: bool
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def degraded(self) -> bool:
        return self.status != "ok"


def health(runtime: Runtime, now: datetime | None = None) -> Health:
    """Compute the health record of ``runtime`` now."""
    now = now or datetime.now(UTC)
    manifest = runtime.current
    status = runtime.builder_status()
    reasons: list[str] = []
    if manifest is None:
        reasons.append("no snapshot published yet")
    if status.error:
        reasons.append(status.error)
    if runtime.load_error:
        reasons.append(f"cannot load the published snapshot: {runtime.load_error}")
    if (problem := _folder_problem(runtime.folder)) is not None:
        reasons.append(problem)
    last = status.last_scan
    if manifest is not None and (stale := _stale(status, now, STALE_INTERVALS * runtime.config.scan_interval + 10)) is not None:
        reasons.append(stale)
    bucket = status.extra.get("publish")
    if isinstance(bucket, dict) and bucket.get("failures"):
        reasons.append(f"publishing to the bucket failed {bucket['failures']} times: {bucket.get('error')}")
    degraded = bool(reasons or (manifest is not None and manifest.count("error")))
    fields: dict[str, Any] = {
        "status": "degraded" if degraded else "ok",
        "version": manifest.version if manifest else None,
        "built_at": manifest.built_at.isoformat() if manifest else None,
        "complete": manifest.complete if manifest else False,
        "pending": len(manifest.pending) if manifest else 0,
        "last_scan": last.isoformat() if last else None,
        "error": "; ".join(reasons) or None,
        "posts": manifest.post_count if manifest else 0,
        "tags": len(manifest.tags) if manifest else 0,
        "problems": [str(p) for p in manifest.problems] if manifest else [],
        "problems_omitted": manifest.problems_omitted if manifest else 0,
        "kept": [{"path": k.path, "title": k.title, "since": k.since.isoformat(), "reason": k.reason} for k in manifest.kept]
        if manifest
        else [],
        "kept_omitted": manifest.kept_omitted if manifest else 0,
        "commit": manifest.commit if manifest else None,
        "pid": runtime.pid,
        "role": runtime.role.name,
        "builder_pid": status.pid,
        "builder_activity": status.activity,
        "builder_since": status.since.isoformat() if status.since else None,
        "builder_progress": status.progress.isoformat() if status.progress else None,
        "snapshot_dir": str(runtime.folder),
        "served_since": runtime.served_since.isoformat() if runtime.served_since else None,
    }
    if bucket is not None:
        fields["publish"] = bucket
    return Health(fields["status"], fields["error"], manifest is not None, fields)


def _stale(status: BuilderStatus, now: datetime, limit: float) -> str | None:
    """Why the builder looks stuck, or None while it makes progress (a long build) or scanned lately.

    A builder in the middle of a build says so at every step (``progress``); one that just took
    over (a restart) has not scanned yet but started a moment ago (``since``): neither is stuck.
    """
    doing = f"{status.activity} since {status.since.isoformat()}" if status.since else status.activity
    if status.busy:
        if status.progress is None or (now - status.progress).total_seconds() > limit:
            return f"the builder has made no progress for {STALE_INTERVALS} scan intervals ({doing})"
        return None
    seen = max((moment for moment in (status.last_scan, status.since) if moment is not None), default=None)
    if seen is None or (now - seen).total_seconds() > limit:
        return f"the builder has not scanned for {STALE_INTERVALS} scan intervals ({doing})"
    return None


def _folder_problem(folder: Path) -> str | None:
    """Why no snapshot can be published to ``folder`` now, as every worker can see it (the builder's status may be stale)."""
    try:
        read_only = os.statvfs(folder).f_flag & os.ST_RDONLY
    except OSError as e:
        return f"snapshot_dir {folder}: {e.strerror or e}"
    return f"snapshot_dir {folder} is on a read-only file system" if read_only else None
