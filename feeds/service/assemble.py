"""Make the next manifest from a plan: reuse what is published, render what is needed first, leave the rest pending.

Called by the builder with the plan of a scan (``feeds.render.incremental``): a plan
that says what it planned again is compared with the published snapshot in time of
that change (:func:`~feeds.snapshot.diff.diff_some`), one planned from scratch
document by document (:func:`~feeds.snapshot.diff.diff`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from feeds.content.index import Scan
from feeds.render.incremental import Planned, Planner
from feeds.render.plan import Doc, Plan
from feeds.service.rendering import Renderer
from feeds.service.sources import Source
from feeds.snapshot.diff import changes_of, diff, diff_some
from feeds.snapshot.manifest import Item, KeptPost, Manifest, last_modified
from feeds.snapshot.media import MediaFolder
from feeds.snapshot.store import Stored


def plan_change(planner: Planner, media: MediaFolder, site_url: str, scan: Scan, now: datetime, previous: Plan | None) -> Planned:
    """Plan the site of ``scan`` (what changed since ``previous``, when the planner can), enclosures' lengths from ``media``."""
    delta = {path: (media.post(old, site_url), media.post(new, site_url)) for path, (old, new) in scan.delta.items()}
    try:
        return planner.plan(media.posts(scan.posts, site_url), delta, now, previous)
    except BaseException:
        planner.forget()  # (its state may be half brought up to date)
        raise


def assemble(
    planned: Planned,
    scan: Scan,
    source: Source,
    now: datetime,
    previous: Manifest | None,
    late: Mapping[tuple[str, str], Item],
    renderer: Renderer,
    media: MediaFolder,
) -> tuple[Manifest, int]:
    """The manifest of ``planned`` (the documents needed first rendered now); and how many documents were rendered."""
    site, plan_ = planned.site, planned.plan
    if previous is not None and planned.changed is not None and planned.removed is not None:
        made = diff_some(planned.changed, planned.removed, previous, late)
    else:
        made = diff(plan_, previous, late)
    items, pending, todo = made.reused, made.pending, made.render
    content_time = scan.content_time
    for doc, stored in renderer.docs(todo):
        old = previous.items.get(doc.path) if previous else None
        items[doc.path] = item_of(doc, stored, (old.etag, old.last_modified) if old else (None, 0), content_time, now)
    if planned.changed is None or previous is None:  # in the plan's order (first-needed first) when made whole
        items = {doc.path: items[doc.path] for doc in plan_.docs if doc.path in items}
    manifest = Manifest(
        version=plan_.version,
        seq=(previous.seq + 1) if previous else 1,
        built_at=now,
        items=items,
        pending=pending,
        post_count=len(site.posts),
        tags=site.tags.tags,
        problems=scan.problems + media.now.problems + site.problems + plan_.problems,
        kept=tuple(KeptPost(k.post.source, k.post.title, k.reason, k.since) for k in scan.kept),
        next_change=site.next_change,
        content_time=content_time,
        commit=source.commit,
        scopes=plan_.counts,
        **media.fields(previous, content_time, source.content_time is None, now),
        changes=changes_of(previous, items, pending, made.touched) if previous is not None and made.touched is not None else None,
    )
    return manifest, len(todo)


def item_of(doc: Doc, stored: Stored, previous: tuple[str | None, int], content_time: datetime, now: datetime) -> Item:
    """The manifest's item for a rendered document (its Last-Modified never goes backwards)."""
    modified = last_modified(previous, stored.etag, content_time, doc.newest, now)
    return Item(doc.path, doc.media_type, stored.etag, modified, stored.size, stored.gzip_size, doc.digest)
