"""A snapshot as a folder of static files: the bytes the service serves, ``.gz`` siblings and a manifest.

``/tags/go/feed.xml`` → ``tags/go/feed.xml``, its page 2 → ``tags/go/page/2/feed.xml``,
``/tags/go/`` → ``tags/go/index.html``: the URL layout itself, so nginx, a
static host or an object store serves it with no rewrite rules. Each file's
modification time is its Last-Modified. The browser views of feeds are not
exported (only the app can negotiate them).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from feeds.fsutil import atomic_write
from feeds.render.plan import VIEWS
from feeds.snapshot.manifest import Item, Manifest
from feeds.snapshot.store import Store
from feeds.urls import file_name

MANIFEST = "manifest.json"


def exported(manifest: Manifest) -> list[Item]:
    """The items a static export holds (every document but the browser views)."""
    return [item for path, item in manifest.items.items() if not path.startswith(VIEWS + "/")]


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

    Files are written to a temporary sibling folder that then replaces ``out``,
    so a web server never serves a half-written export.
    """
    if not manifest.complete:
        raise ValueError("export needs a complete snapshot")
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
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
    return count
