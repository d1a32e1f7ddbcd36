"""Write a snapshot as static files: the same bytes the service serves, plus .gz and a manifest."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .snapshot import Body, Key, Snapshot

MANIFEST = "manifest.json"


def file_name(key: Key) -> str:
    """Return the relative file of a (path, page): ``/tags/go/feed.xml`` page 2 → ``tags/go/page/2/feed.xml``."""
    path, page = key
    if path.endswith("/"):
        path += "index.html"
    if page > 1:
        folder, name = path.rsplit("/", 1)
        path = f"{folder}/page/{page}/{name}"
    return path.lstrip("/")


def export(snapshot: Snapshot, out: Path) -> int:
    """Write every body of ``snapshot`` under ``out`` atomically; return the file count.

    Files are written to a temporary sibling folder that then replaces ``out``,
    so a web server never serves a half-written export.
    """
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    manifest: dict[str, object] = {"version": snapshot.version, "files": {}}
    files: dict[str, object] = {}
    for key, body in sorted(snapshot.bodies.items()):
        name = file_name(key)
        _write(staging / name, body.data, body)
        _write(staging / (name + ".gz"), body.gzip, body)
        files[name] = {
            "path": key[0],
            "page": key[1],
            "media_type": body.media_type,
            "etag": body.etag,
            "last_modified": body.last_modified.isoformat() if body.last_modified else None,
        }
    manifest["files"] = files
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.chmod(staging, 0o755)
    if out.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=out.parent))
        out.rename(retired / out.name)
        staging.rename(out)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(out)
    return len(files) * 2 + 1


def _write(path: Path, data: bytes, body: Body) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if body.last_modified is not None:
        stamp = body.last_modified.timestamp()
        os.utime(path, (stamp, stamp))
