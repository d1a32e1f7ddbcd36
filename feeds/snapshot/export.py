"""A snapshot as a folder of static files: the bytes the service serves, ``.gz`` siblings and a manifest.

``/tags/go/feed.xml`` → ``tags/go/feed.xml``, its archive 2 → ``tags/go/archive/2/feed.xml``,
``/tags/go/`` → ``tags/go/index.html``: the URL layout itself, so nginx, a
static host or an object store serves it with no rewrite rules. Each file's
modification time is its Last-Modified. The browser views of feeds are not
exported (only the app can negotiate them); the media folder's files are, under
``media/`` (a static host serves the episodes the feeds link to, byte ranges and all).
Three nginx ``map`` files beside the documents carry what the app answers with
redirects and cache lifetimes (``deploy/nginx-static.conf`` includes them):
``redirects.map``, the ``redirects`` setting (301, or ``gone`` for 410), ``pages.map``,
where each old ``/page/N/`` URL's posts are now (302), and ``cache.map``, the
archives a cache may keep a day; ``media.types`` gives the media folder's files
the app's media types.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from feeds.fsutil import atomic_write, exchange, fsync_dir, sync_filesystem
from feeds.options import Redirect, final_target
from feeds.render.formats import FORMATS
from feeds.render.plan import ACTIVITY, ARCHIVE_MAX_AGE, VIEWS, cache_max_age
from feeds.snapshot.manifest import Item, Manifest
from feeds.snapshot.media import export_media, nginx_types
from feeds.snapshot.store import Store
from feeds.urls import feed_path, file_name, quote_path

MANIFEST = "manifest.json"
REDIRECTS_MAP = "redirects.map"
PAGES_MAP = "pages.map"
CACHE_MAP = "cache.map"
MEDIA_TYPES = "media.types"
#: Characters nginx would read as syntax or a variable in a quoted map entry: such a path is left out of the map.
_UNSAFE = re.compile(r'["\\$;{}\s]')


def exported(manifest: Manifest) -> list[Item]:
    """The items a static export holds (every document but the browser views and the fediverse's, which only the app serves)."""
    return [item for path, item in manifest.items.items() if not path.startswith((VIEWS + "/", ACTIVITY + "/"))]


def describe(manifest: Manifest) -> dict[str, Any]:
    """The export's ``manifest.json``: every file with the URL path, media type and validators it is served with."""
    files: dict[str, dict[str, Any]] = {
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
    for media in manifest.media.values():  # no .gz sibling: media are sent as they are
        files[file_name(media.path)] = {
            "path": media.path,
            "media_type": media.media_type,
            "etag": media.etag,
            "last_modified": media.modified.isoformat(),
            "size": media.size,
        }
    return {
        "version": manifest.version,
        "built_at": manifest.built_at.isoformat(),  # the one wall-clock field; in no body
        "post_count": manifest.post_count,
        "files": dict(sorted(files.items())),
    }


def redirects_map(manifest: Manifest, redirects: Iterable[Redirect]) -> str:
    """The ``redirects`` setting as an nginx map from ``$uri`` to a Location (or ``gone``); documents win, as in the app."""
    table = {r.source: r.target for r in redirects}
    lines = ["# The redirects setting, written by feeds build: $uri -> Location (301) or gone (410)."]
    for source in sorted(table):
        target = final_target(table, source)
        value = "gone" if target is None else quote_path(target) if target.startswith("/") else target
        if source in manifest.items or _UNSAFE.search(source) or _UNSAFE.search(value):
            continue
        lines.append(f'"{source}" "{value}";')
    return "\n".join(lines) + "\n"


def pages_map(manifest: Manifest) -> str:
    """Old ``/page/N/<file>`` URLs (pages numbered from the newest) as an nginx map to the archive holding their newest post.

    The same answer as the app's (``feeds/web/routes.py``); it changes as posts are added, so nginx answers it with 302.
    """
    lines = ["# Old page URLs, written by feeds build: $uri -> the archive (or current feed) now holding the page's newest post (302)."]
    for prefix, (count, size) in sorted(manifest.scopes.items()):
        if _UNSAFE.search(prefix):
            continue
        for number in range(2, -(-count // size) + 1):
            archive = (count - 1 - (number - 1) * size) // size + 1
            for filename in FORMATS:
                target = quote_path(feed_path(prefix, filename, archive if archive <= count // size else None))
                lines.append(f'"{prefix}page/{number}/{filename}" "{target}";')
    return "\n".join(lines) + "\n"


def cache_map(manifest: Manifest) -> str:
    """The archives a cache may keep long (their successor exists), as an nginx map from ``$uri`` to their max-age."""
    lines = ["# Archives with a successor, written by feeds build: $uri -> Cache-Control max-age (seconds)."]
    for path in manifest.items:
        if not _UNSAFE.search(path) and cache_max_age(path, manifest.items.__contains__, 0) == ARCHIVE_MAX_AGE:
            lines.append(f'"{path}" "{ARCHIVE_MAX_AGE}";')
    return "\n".join(lines) + "\n"


def export(manifest: Manifest, store: Store, out: Path, redirects: Iterable[Redirect] = ()) -> int:
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
        return _export(manifest, store, out, tuple(redirects))


@contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """Hold a lock on ``folder`` itself (flock works on a folder): one export into it at a time, no lock file left."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _export(manifest: Manifest, store: Store, out: Path, redirects: tuple[Redirect, ...]) -> int:
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
        count += export_media(manifest, staging)
        atomic_write(staging / MANIFEST, (json.dumps(describe(manifest), indent=1, ensure_ascii=False) + "\n").encode(), durable=False)
        newest = max((item.last_modified for item in manifest.items.values()), default=0)
        maps = (
            (REDIRECTS_MAP, redirects_map(manifest, redirects)),
            (PAGES_MAP, pages_map(manifest)),
            (CACHE_MAP, cache_map(manifest)),
            (MEDIA_TYPES, nginx_types()),
        )
        for name, text in maps:
            atomic_write(staging / name, text.encode(), durable=False)
            os.utime(staging / name, (newest, newest))  # the same file, time included, from the same content everywhere
        count += len(maps) + 1
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
