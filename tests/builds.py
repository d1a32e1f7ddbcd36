"""Builds for the tests: a Builder over real folders, the straightforward reference rendering, what a snapshot holds.

The reference is the plainest way to publish a site: scan the folder, select
what is published, plan every document, render every post with
``markup.render`` and every document with ``docs.render`` — no render store,
no reuse, no pool, no pending pages. Every faster path the builder takes must
give these very bytes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from feeds import log
from feeds.config import Config, load_config
from feeds.content.index import ContentIndex, Scan
from feeds.content.media import Media, MediaIndex, fill_lengths
from feeds.content.site import Site, select
from feeds.models import Post
from feeds.render import docs, markup
from feeds.render.markup import Rendered
from feeds.render.plan import Plan, plan
from feeds.render.store import RenderStore
from feeds.service.builder import Builder
from feeds.service.pool import Pool
from feeds.service.sources import content_source
from feeds.snapshot.manifest import Manifest
from feeds.snapshot.store import Store

from .waiting import wait_until as wait_until  # tests import it from here too


def site_config(config_file: Path, content: Path, **overrides: Any) -> Config:
    """The test site's settings (``config_file``) over ``content``; keyword arguments override."""
    return load_config(config_file, env={}, overrides={"content_dir": str(content), **overrides})


def builder(config: Config, folder: Path, pool: Pool | None = None) -> Builder:
    """A builder publishing to the snapshot folder ``folder``, as the runtime makes one (in-process unless given a pool)."""
    folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    store = Store(folder)
    store.create()
    return Builder(
        config, store, RenderStore(folder / "render"), pool or Pool(workers=1), folder / "state", content_source(config, folder / "git")
    )


def build(config: Config, folder: Path, pool: Pool | None = None) -> Builder:
    """A cold, complete build into ``folder``; the builder is returned to go on from there."""
    made = builder(config, folder, pool)
    assert made.rescan(), made.error
    assert made.complete(), made.error
    return made


def served(store: Store, manifest: Manifest) -> dict[str, bytes]:
    """Every body ``manifest`` names (browser views under /_views/ included), by path."""
    return {path: store.read(item.etag) for path, item in manifest.items.items()}


def bodies(made: Builder) -> dict[str, bytes]:
    """Every body the builder's published manifest names."""
    assert made.manifest is not None
    return served(made.store, made.manifest)


def dates(manifest: Manifest) -> dict[str, int]:
    """Last-Modified (seconds) of every document, by path."""
    return {path: item.last_modified for path, item in manifest.items.items()}


@dataclass(frozen=True)
class Reference:
    """The site rendered the straightforward way."""

    scan: Scan
    site: Site
    plan: Plan
    #: Every document's bytes by path, in plan order.
    bodies: dict[str, bytes] = field(default_factory=dict)


def reference(config: Config, now: datetime | None = None) -> Reference:
    """Scan (the posts, the media folder for enclosure lengths), select, plan, render every post and document, nothing reused."""
    index = ContentIndex(config)
    scan = index.scan()
    media = MediaIndex().scan(config.content_dir)[0] if isinstance(config.content_dir, Path) else Media()
    site = select(fill_lengths(scan.posts, media, config.site_url), now or datetime.now(UTC), config.author.name)
    planned = plan(site, config)

    def lookup(post: Post) -> Rendered:
        body = index.body(post)
        assert body is not None, post.source
        return markup.render(body, post.url, iframe_hosts=config.iframe_hosts)

    return Reference(scan, site, planned, {doc.path: docs.render(doc, config, lookup) for doc in planned.docs})


def touch_all(folder: Path, when: float) -> None:
    """Give every file and folder under ``folder`` (itself included) the modification time ``when``."""
    for path in [*folder.rglob("*"), folder]:
        os.utime(path, (when, when), follow_symlinks=False)


def write_post(content: Path, name: str, title: str, *, date: str, tags: tuple[str, ...] = (), body: str = "Text.") -> Path:
    """Write a small post file; return its path."""
    listed = ", ".join(f'"{tag}"' for tag in tags)
    path = content / name
    path.write_text(f'---\ntitle: "{title}"\ndate: {date}\ntags: [{listed}]\n---\n\n{body}\n', encoding="utf-8")
    return path


def changed_items(old: Manifest, new: Manifest) -> tuple[set[str], set[str]]:
    """Paths in both manifests whose bytes changed, and those whose bytes did not."""
    both = old.items.keys() & new.items.keys()
    changed = {path for path in both if old.items[path].etag != new.items[path].etag}
    return changed, both - changed


# -- log events ----------------------------------------------------------------------------


class Events:
    """Every log event since it was installed (from any thread), with its fields."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, fields: dict[str, Any]) -> None:
        self.seen.append((name, fields))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [fields for event, fields in list(self.seen) if event == name]

    def count(self, name: str) -> int:
        return len(self.named(name))


def record_events(monkeypatch: pytest.MonkeyPatch) -> Events:
    """Hand every later log event to a new Events (undone with ``monkeypatch``)."""
    events = Events()
    monkeypatch.setattr(log, "_observers", [*log._observers, events])
    return events


def record_calls(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[Any]:
    """Wrap ``owner.name`` to record the first argument of every call (the work it was given); return the record."""
    calls: list[Any] = []
    original = getattr(owner, name)

    def recorded(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, recorded)
    return calls


def pending_paths(manifest: Manifest) -> Iterator[str]:
    """Paths the manifest lists as not rendered yet, feeds before views."""
    yield from sorted(manifest.pending, key=lambda path: (path.startswith("/_views"), path))


class Records(logging.Handler):
    """Keeps the log records it is given (add it to the ``feeds`` logger)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
