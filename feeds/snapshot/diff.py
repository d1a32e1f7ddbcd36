"""Compare a plan with the published snapshot: what is reused as it is, what must be rendered now, what can wait.

Pure. A document whose digest the published snapshot (or a page rendered on
demand since) already has keeps its bytes and its Last-Modified; current feeds
and HTML pages that changed are rendered before the next publish; archives and
post pages wait (pending). When an edit changed or added only a few of them, its
post pages are rendered at once (a reader of the post sees the edit in the first
publish) and its archive pages right after it (``Builder.complete``: a second
publish, within tens of milliseconds; meanwhile a request for one renders it on
demand, so no worker serves an archive page without the edit either).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from feeds.render.plan import Doc, Plan
from feeds.snapshot.manifest import Changes, Item, Manifest, Pending

#: An edit that changes up to this many older pages renders its post pages with the page 1s, and its archive pages right
#: after (more: all of them wait, rendered in the background, a chunk at a time).
SMALL_CHANGE = 64


@dataclass(frozen=True)
class Diff:
    #: Documents whose bytes are known (by path).
    reused: dict[str, Item]
    #: Documents to render before publishing.
    render: list[Doc]
    #: Documents left for later (by path).
    pending: dict[str, Pending]
    #: The paths whose item or pending document may differ from the published ones (None: any).
    touched: set[str] | None = None


def diff(plan: Plan, published: Manifest | None, late: Mapping[tuple[str, str], Item]) -> Diff:
    """Split ``plan``'s documents into reused, to render now and pending; ``late`` are pages rendered on demand, by (path, digest)."""
    reused: dict[str, Item] = {}
    pending: dict[str, Pending] = {}
    render = _place(plan.docs, published, late, reused, pending)
    return Diff(reused, render, pending)


def diff_some(changed: list[Doc], removed: set[str], published: Manifest, late: Mapping[tuple[str, str], Item]) -> Diff:
    """:func:`diff` for a plan that says which documents it planned again (``changed``) and which it dropped (``removed``).

    In time of the change: the published items and pending documents are taken over as
    they are (copied, not compared), and only the named documents are looked at, with the
    same rules as :func:`diff`, so the result is the one :func:`diff` gives for the whole plan.
    """
    reused = dict(published.items)
    pending = dict(published.pending)
    for path in removed:
        reused.pop(path, None)
        pending.pop(path, None)
    render = _place(changed, published, late, reused, pending, fresh=False)
    return Diff(reused, render, pending, removed | {doc.path for doc in changed})


def _place(
    docs: Iterable[Doc],
    published: Manifest | None,
    late: Mapping[tuple[str, str], Item],
    reused: dict[str, Item],
    pending: dict[str, Pending],
    fresh: bool = True,
) -> list[Doc]:
    """Put each of ``docs`` in ``reused`` or ``pending``, or return it to render now (``fresh``: neither holds it yet)."""
    render: list[Doc] = []
    edits: list[Doc] = []
    for doc in docs:
        if not fresh:
            reused.pop(doc.path, None)
            pending.pop(doc.path, None)
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
    now = [doc for doc in edits if doc.kind == "post"] if len(edits) <= SMALL_CHANGE else []
    for doc in edits:
        if not (now and doc.kind == "post"):
            pending[doc.path] = pending_of(doc, published.items.get(doc.path) if published else None, None)
    return render + now


def changes_of(published: Manifest, items: Mapping[str, Item], pending: Mapping[str, Pending], touched: set[str]) -> Changes:
    """What a manifest of ``items`` and ``pending`` changed against ``published``, looking only at the ``touched`` paths."""
    return Changes(
        frozenset(p for p in touched if p in items and published.items.get(p) != items[p]),
        frozenset(p for p in touched if p not in items and p in published.items),
        frozenset(p for p in touched if p in pending and published.pending.get(p) != pending[p]),
        frozenset(p for p in touched if p not in pending and p in published.pending),
    )


def pending_of(doc: Doc, old: Item | None, waiting: Pending | None) -> Pending:
    """A document left for later, remembering the validators its path had (Last-Modified never goes backwards)."""
    if waiting is not None:
        return Pending(doc.path, doc.media_type, doc.digest, waiting.previous_etag, waiting.previous_modified)
    return Pending(doc.path, doc.media_type, doc.digest, old.etag if old else None, old.last_modified if old else 0)


def same(old: Manifest, new: Manifest, *, media_files: bool = True) -> bool:
    """Whether publishing ``new`` would change nothing a client or /healthz sees.

    ``media_files=False`` leaves out where this host's media files are (the folder, each file's inode and
    modification time): equal otherwise, ``new`` only points the workers at the same bytes somewhere else.
    """
    served = {path: (m.media_type, m.etag, m.last_modified, m.size) for path, m in old.media.items()}
    if served != {path: (m.media_type, m.etag, m.last_modified, m.size) for path, m in new.media.items()}:
        return False
    if media_files and (old.media != new.media or old.media_root != new.media_root):
        return False
    changes = new.changes  # (when known, the documents are compared in time of the change)
    return (
        old.version == new.version
        and (not (changes.items or changes.removed) if changes is not None else old.items == new.items)
        and (not (changes.pending or changes.unpending) if changes is not None else old.pending.keys() == new.pending.keys())
        and old.problems == new.problems
        and [(k.path, k.reason) for k in old.kept] == [(k.path, k.reason) for k in new.kept]
        and old.next_change == new.next_change
        and old.commit == new.commit
    )


def changed_items(old: Manifest | None, new: Manifest) -> list[str]:
    """Paths of the items whose bytes differ between two manifests (new or changed).

    In time of the change when ``new`` was written as its change against ``old`` (it knows its changes).
    """
    before = old.items if old else {}
    paths: Iterable[str] = new.items
    if old is not None and new.changes is not None and new.parents[:1] == (old.name(),):
        paths = sorted(new.changes.items)
    return [path for path in paths if (prior := before.get(path)) is None or prior.etag != new.items[path].etag]


def changed_paths(old: Manifest | None, new: Manifest) -> list[str]:
    """Paths whose bytes differ between two manifests (new, changed or newly pending)."""
    before = old.items if old else {}
    return changed_items(old, new) + [path for path in new.pending if path not in before or old is None or path not in old.pending]
