"""Write a snapshot as static files (the bytes the service serves, .gz siblings, a manifest) and read it back."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from feeds.errors import FeedsError
from feeds.models import Problem, Tag
from feeds.snapshot.build import Body, Key, Snapshot

MANIFEST = "manifest.json"
#: Bumped when the manifest's shape changes; a reader refuses other formats.
MANIFEST_FORMAT = 1


class ExportError(FeedsError):
    """An export folder cannot be read back (missing, torn or from another format)."""


@dataclass(frozen=True)
class Written:
    #: Files written with new bytes, and files hard-linked unchanged from the previous tree.
    written: int
    linked: int


def file_name(key: Key) -> str:
    """Return the relative file of a (path, page): ``/tags/go/feed.xml`` page 2 → ``tags/go/page/2/feed.xml``."""
    path, page = key
    if path.endswith("/"):
        path += "index.html"
    if page > 1:
        folder, name = path.rsplit("/", 1)
        path = f"{folder}/page/{page}/{name}"
    return path.lstrip("/")


def manifest(snapshot: Snapshot) -> dict[str, Any]:
    """Describe ``snapshot`` so that :func:`read` can serve it again; only ``built_at`` is wall-clock."""
    files = {file_name(key): {"path": key[0], "page": key[1], **_describe(body)} for key, body in sorted(snapshot.bodies.items())}
    # Browser views of feeds (one per feed page, shared by its three formats): for workers, not web servers.
    views: dict[str, dict[str, Any]] = {}
    for key, body in sorted(snapshot.views.items()):
        views.setdefault(_view_name(body), {**_describe(body), "keys": []})["keys"].append([key[0], key[1]])
    return {
        "format": MANIFEST_FORMAT,
        "version": snapshot.version,
        "built_at": _iso(snapshot.built_at),
        "post_count": snapshot.post_count,
        "tags": [{"slug": tag.slug, "name": tag.name} for tag in snapshot.tags],
        "problems": [{"path": p.path, "line": p.line, "message": p.message, "severity": p.severity} for p in snapshot.problems],
        "next_change": _iso(snapshot.next_change),
        "pages": dict(sorted(snapshot.pages.items())),
        "files": files,
        "views": views,
    }


def write_tree(snapshot: Snapshot, folder: Path, previous: Path | None = None) -> Written:
    """Write every body of ``snapshot`` and the manifest into the new, empty ``folder``.

    A file whose bytes and dates equal those in the ``previous`` tree is hard-linked
    from it instead of written: published trees are never modified, so sharing
    inodes is safe, and an edit to one post rewrites only the feeds it is in.
    """
    old = _manifest_entries(previous) if previous is not None else {}
    meta = manifest(snapshot)
    written = linked = 0
    bodies = [(name, entry, snapshot.bodies[(entry["path"], entry["page"])]) for name, entry in meta["files"].items()]
    bodies += [(name, entry, snapshot.views[(entry["keys"][0][0], entry["keys"][0][1])]) for name, entry in meta["views"].items()]
    for entry_name, entry, body in bodies:
        target = folder / entry_name
        target.parent.mkdir(parents=True, exist_ok=True)
        before = old.get(entry_name)
        if previous is not None and before is not None and _same(before, entry) and _link(previous, folder, entry_name):
            linked += 2
            continue
        _write(target, body.data, body)
        _write(folder / (entry_name + ".gz"), body.gzip, body)
        written += 2
    data = json.dumps(meta, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    (folder / MANIFEST).write_text(data, encoding="utf-8")
    return Written(written, linked)


def export(snapshot: Snapshot, out: Path) -> int:
    """Write every body of ``snapshot`` under ``out`` atomically; return the file count.

    Files are written to a temporary sibling folder that then replaces ``out``,
    so a web server never serves a half-written export.
    """
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        written = write_tree(snapshot, staging)
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a web server must read it
        if out.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=out.parent))
            out.rename(retired / out.name)
            staging.rename(out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return written.written + written.linked + 1


def read(folder: Path, previous: Snapshot | None = None) -> Snapshot:
    """Load the snapshot written in ``folder``; bodies equal to ``previous`` ones are reused, not read.

    Raises ExportError when the folder is missing, torn or of another format.
    """
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if data.get("format") != MANIFEST_FORMAT:
            raise ExportError(f"{folder / MANIFEST}: manifest format {data.get('format')!r}, expected {MANIFEST_FORMAT}")
        bodies: dict[Key, Body] = {}
        for name, entry in data["files"].items():
            key = (entry["path"], entry["page"])
            bodies[key] = _load(folder, name, entry, previous.bodies.get(key) if previous else None)
        views: dict[Key, Body] = {}
        for name, entry in data["views"].items():
            keys = [(path, page) for path, page in entry["keys"]]
            view = _load(folder, name, entry, previous.views.get(keys[0]) if previous else None)
            views.update(dict.fromkeys(keys, view))
        return Snapshot(
            version=data["version"],
            bodies=bodies,
            pages=data["pages"],
            post_count=data["post_count"],
            tags=tuple(Tag(t["slug"], t["name"]) for t in data["tags"]),
            problems=tuple(Problem(p["path"], p["line"], p["message"], p["severity"]) for p in data["problems"]),
            next_change=_datetime(data["next_change"]),
            built_at=datetime.fromisoformat(data["built_at"]),
            views=views,
        )
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ExportError(f"{folder}: cannot read the snapshot: {e}") from e


def _describe(body: Body) -> dict[str, Any]:
    return {
        "media_type": body.media_type,
        "etag": body.etag,
        "last_modified": _iso(body.last_modified),
        "size": len(body.data),
        "gzip_size": len(body.gzip),
    }


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether two manifest entries describe the same bytes with the same dates."""
    return all(old.get(field) == new[field] for field in ("media_type", "etag", "last_modified", "size", "gzip_size"))


def _view_name(body: Body) -> str:
    # Named by content (and date): the three formats of a feed page share one view.
    stamp = int(body.last_modified.timestamp()) if body.last_modified else 0
    return f"_views/{body.etag.strip(chr(34))}-{stamp}.html"


def _load(folder: Path, name: str, entry: dict[str, Any], known: Body | None) -> Body:
    """Return the body of one manifest entry: ``known`` when it is the same, else read from ``folder``."""
    last_modified = _datetime(entry["last_modified"])
    media_type, etag = entry["media_type"], entry["etag"]
    if known is not None and (known.etag, known.media_type, known.last_modified) == (etag, media_type, last_modified):
        return known
    body = Body((folder / name).read_bytes(), (folder / (name + ".gz")).read_bytes(), media_type, etag, last_modified)
    if (len(body.data), len(body.gzip)) != (entry["size"], entry["gzip_size"]):
        raise ExportError(f"{folder / name}: size differs from the manifest")
    return body


def _manifest_entries(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return {**meta["files"], **meta.get("views", {})}
    except (OSError, ValueError, KeyError, AttributeError):
        return {}


def _link(source: Path, folder: Path, name: str) -> bool:
    try:
        for suffix in ("", ".gz"):
            os.link(source / (name + suffix), folder / (name + suffix))
    except OSError:  # another file system, or the old tree is gone: write instead
        for suffix in ("", ".gz"):
            (folder / (name + suffix)).unlink(missing_ok=True)
        return False
    return True


def _write(path: Path, data: bytes, body: Body) -> None:
    path.write_bytes(data)
    if body.last_modified is not None:
        stamp = body.last_modified.timestamp()
        os.utime(path, (stamp, stamp))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _datetime(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None
