"""Compare a plan with the published snapshot: what is reused as it is, what must be rendered now, what can wait.

Pure. A document whose digest the published snapshot (or a page rendered on
demand since) already has keeps its bytes and its Last-Modified; current feeds
and HTML pages that changed are rendered before the next publish; archives and
post pages wait (pending) unless an edit changed or added only a few of them,
which are then rendered at once so the change is complete in one publish.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from feeds.render.plan import Doc, Plan
from feeds.snapshot.manifest import Item, Manifest, Pending

#: An edit that changes up to this many older pages renders them with the page 1s (one publish, no pending pages).
SMALL_CHANGE = 64


@dataclass(frozen=True)
class Diff:
    #: Documents whose bytes are known (by path).
    reused: dict[str, Item]
    #: Documents to render before publishing.
    render: list[Doc]
    #: Documents left for later (by path).
    pending: dict[str, Pending]


def diff(plan: Plan, published: Manifest | None, late: Mapping[tuple[str, str], Item]) -> Diff:
    """Split ``plan``'s documents into reused, to render now and pending; ``late`` are pages rendered on demand, by (path, digest)."""
    reused: dict[str, Item] = {}
    pending: dict[str, Pending] = {}
    render: list[Doc] = []
    edits: list[Doc] = []
    for doc in plan.docs:
        old = published.items.get(doc.path) if published else None
        if old is not None and old.digest == doc.digest:
            reused[doc.path] = old
            continue
        known = late.get((doc.path, doc.digest))
        if known is not None:
            reused[doc.path] = known
            continue
        if doc.first:
            render.append(doc)
            continue
        waiting = published.pending.get(doc.path) if published else None
        if waiting is None and (old is not None or (published is not None and published.complete)):
            # An archive or post page an edit changed, or a new one after a complete publish (a new post's
            # page, the archive a new post filled): rendered now if there are few, so the change is whole.
            edits.append(doc)
            continue
        pending[doc.path] = pending_of(doc, old, waiting)
    if len(edits) <= SMALL_CHANGE:
        render += edits
    else:
        for doc in edits:
            pending[doc.path] = pending_of(doc, published.items.get(doc.path) if published else None, None)
    return Diff(reused, render, pending)


def pending_of(doc: Doc, old: Item | None, waiting: Pending | None) -> Pending:
    """A document left for later, remembering the validators its path had (Last-Modified never goes backwards)."""
    if waiting is not None:
        return Pending(doc.path, doc.media_type, doc.digest, waiting.previous_etag, waiting.previous_modified)
    return Pending(doc.path, doc.media_type, doc.digest, old.etag if old else None, old.last_modified if old else 0)


def same(old: Manifest, new: Manifest) -> bool:
    """Whether publishing ``new`` would change nothing a client or /healthz sees."""
    return (
        old.version == new.version
        and old.items == new.items
        and old.pending.keys() == new.pending.keys()
        and old.problems == new.problems
        and [(k.path, k.reason) for k in old.kept] == [(k.path, k.reason) for k in new.kept]
        and old.next_change == new.next_change
        and old.commit == new.commit
    )


def changed_paths(old: Manifest | None, new: Manifest) -> list[str]:
    """Paths whose bytes differ between two manifests (new, changed or newly pending)."""
    before = old.items if old else {}
    changed = [path for path, item in new.items.items() if (prior := before.get(path)) is None or prior.etag != item.etag]
    return changed + [path for path in new.pending if path not in before or old is None or path not in old.pending]
