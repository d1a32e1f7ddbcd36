"""The builder's work that runs in its helper processes: parse files, render posts, render documents.

Each job is a plain function of picklable arguments, so it runs the same in a
helper process (the builder's pool) or in the builder itself. Results that are
large (HTML, feed bodies) go to disk — the render store and the object store —
and only their names come back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from feeds.config import Config
from feeds.content.files import SourceFile
from feeds.content.index import Wanted, read_back
from feeds.content.post import Loaded, load
from feeds.models import Post
from feeds.render import markup
from feeds.render.docs import render
from feeds.render.markup import Rendered
from feeds.render.plan import Doc
from feeds.render.store import RenderStore, render_key
from feeds.service.errors import NotRendered
from feeds.snapshot.store import Store, Stored


def load_files(files: Sequence[SourceFile], config: Config, sources: bool = True) -> list[Loaded]:
    """Parse post files (front matter and Markdown body, not rendered); their text comes back compressed, or not at all."""
    return [load(file, config).packed() if sources else load(file, config).bare() for file in files]


def read_sources(items: Sequence[Wanted], real: Path, config: Config) -> list[tuple[bytes, int] | None]:
    """Read post files' source records back (``feeds.content.index.read_back``)."""
    return read_back(real, items, config)


def render_posts(work: Sequence[tuple[str, str, str]], render_dir: Path, iframe_hosts: tuple[str, ...]) -> list[str]:
    """Render (key, Markdown body, post URL) triples into the render store; return the keys."""
    renders = RenderStore(render_dir)
    for key, body, url in work:
        renders.put(key, markup.render(body, url, iframe_hosts=iframe_hosts))
    return [key for key, _, _ in work]


def render_docs(docs: Sequence[Doc], config: Config, render_dir: Path, store_dir: Path) -> list[tuple[str, Stored]]:
    """Render documents (their posts already rendered) into the object store; return (path, stored)."""
    renders, store = RenderStore(render_dir), Store(store_dir)
    cache: dict[str, Rendered] = {}

    def lookup(post: Post) -> Rendered:
        key = render_key(post)
        rendered = cache.get(key) or renders.get(key)
        if rendered is None:
            raise NotRendered(post.source, key)
        cache[key] = rendered
        return rendered

    return [(doc.path, store.put(render(doc, config, lookup))) for doc in docs]
