"""A snapshot as a folder of static files: the bytes the service serves, ``.gz`` siblings and a manifest.

``/tags/go/feed.xml`` → ``tags/go/feed.xml``, its page 2 → ``tags/go/page/2/feed.xml``,
``/tags/go/`` → ``tags/go/index.html``: the URL layout itself, so nginx, a
static host or an object store serves it with no rewrite rules. Each file's
modification time is its Last-Modified. The browser views of feeds are not
exported (only the app can negotiate them).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from feeds.fsutil import atomic_write, exchange, fsync_dir, sync_filesystem
from feeds.render.plan import ACTIVITY, VIEWS
from feeds.snapshot.manifest import Item, Manifest
from feeds.snapshot.store import Store
from feeds.urls import file_name

MANIFEST = "manifest.json"


def exported(manifest: Manifest) -> list[Item]:
    """The items a static export holds (every document but the browser views and the fediverse's, which only the app serves)."""
    return [item for path, item in manifest.items.items() if not path.startswith((VIEWS + "/", ACTIVITY + "/"))]


def describe(manifest: Manifest) -> dict[str, Any]:
    """The export's ``manifest.json``: every file with the URL path, media type and validators it is served with."""
    files = {
        file_name(item.path): {
            "path": item.path,
            "media_type": item.media_type,
            "etag": item.etag,
            "last_modified": item.modified.isoformat(),
            "size": item.size,
            "gzip_size": item.gzip_size,
        }
        for item in exported(manifest)
    }
    return {
        "version": manifest.version,
        "built_at": manifest.built_at.isoformat(),  # the one wall-clock field; in no body
        "post_count": manifest.post_count,
        "files": dict(sorted(files.items())),
    }


def export(manifest: Manifest, store: Store, out: Path) -> int:
    """Write every exported document of ``manifest`` under ``out`` atomically; return the file count.

    Files are written to a temporary sibling folder that then takes the place of ``out`` in one
    step (an exchange of the two names), so a web server never serves a half-written export nor
    finds none. One export runs at a time per folder (a lock beside it); what an export killed
    midway left behind is removed by the next.
    """
    if not manifest.complete:
        raise ValueError("export needs a complete snapshot")
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(out.parent):
        for leftover in out.parent.glob(f".{out.name}-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        return _export(manifest, store, out)


@contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """Hold a lock on ``folder`` itself (flock works on a folder): one export into it at a time, no lock file left."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _export(manifest: Manifest, store: Store, out: Path) -> int:
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    count = 0
    try:
        for item in exported(manifest):
            target = staging / file_name(item.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            for suffix, gzip in (("", False), (".gz", True)):
                path = target.with_name(target.name + suffix)
                shutil.copyfile(store.object_path(item.etag, gzip), path)
                os.utime(path, (item.last_modified, item.last_modified))
                count += 1
        atomic_write(staging / MANIFEST, (json.dumps(describe(manifest), indent=1, ensure_ascii=False) + "\n").encode(), durable=False)
        count += 1
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a web server must read it
        sync_filesystem(staging)
        if out.exists():
            exchange(staging, out)  # staging now holds the old export
            shutil.rmtree(staging, ignore_errors=True)
        else:
            staging.rename(out)
        fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return count
