"""The builder's rendering: the posts documents show into the render store, then the documents into the object store.

Work is spread over the helper processes (``feeds.service.pool``) only when
there is enough of it to pay for them; otherwise it runs in the builder. The
render store is a cache: a rendering that went missing is rendered again, and
:meth:`Renderer.prune` removes those no post of the site uses any more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from feeds.config import Config
from feeds.content.files import SourceFile
from feeds.content.index import Wanted
from feeds.content.looking import at_least
from feeds.content.post import Loaded
from feeds.errors import FeedsError
from feeds.fsutil import abandoned, is_temporary
from feeds.models import Post
from feeds.render.plan import Doc
from feeds.render.store import RenderStore, render_key
from feeds.service import jobs
from feeds.service.errors import NotRendered
from feeds.service.pool import Pool
from feeds.snapshot.store import TEMP_AGE, Store, Stored

#: How much work makes it worth starting the helper processes (about half a second of CPU for their
#: imports): files to parse (~0.1–0.25 ms each), posts to render (~0.35 ms), documents to render (~2 ms).
START_POOL = {"files": 3000, "posts": 1500, "docs": 300}


class Renderer:
    """Renders for one builder; remembers which renderings exist so none is looked for twice."""

    def __init__(self, config: Config, renders: RenderStore, store: Store, pool: Pool, body: Callable[[Post], str | None]) -> None:
        self.config, self.renders, self.store, self.pool = config, renders, store, pool
        #: The Markdown body of this very version of a post (the content index's).
        self.body = body
        #: Render-store keys known to exist.
        self._rendered: set[str] = set()

    def docs(self, docs: Sequence[Doc], parallel: bool = True) -> list[tuple[Doc, Stored]]:
        """Render posts the documents show that are not rendered yet, then the documents; bodies go to the store."""
        if not docs:
            return []
        posts = {render_key(p): p for doc in docs for p in doc.posts}
        self._posts(posts, parallel)
        try:
            results = self._docs_once(docs, parallel)
        except NotRendered:  # renderings went missing (or were damaged) since: check them all, render again, once
            self._rendered.difference_update(key for key in posts if not self.renders.has(key))
            self._posts(posts, parallel)
            results = self._docs_once(docs, parallel)
        by_path = dict(results)
        return [(doc, by_path[doc.path]) for doc in docs]

    def _docs_once(self, docs: Sequence[Doc], parallel: bool) -> list[tuple[str, Stored]]:
        folders = (self.renders.folder, self.store.folder)
        if parallel:
            return self.pool.map(jobs.render_docs, list(docs), self.config, *folders, min_items=24, start_from=START_POOL["docs"])
        return jobs.render_docs(docs, self.config, *folders)

    def _posts(self, posts: dict[str, Post], parallel: bool) -> None:
        work = []
        for key, post in posts.items():
            if key in self._rendered:
                continue
            if self.renders.has(key):  # rendered by an earlier builder
                self._rendered.add(key)
                continue
            body = self.body(post)
            if body is None:
                raise FeedsError(f"{post.source}: the body of this version is no longer known; rescanning")
            work.append((key, body, post.url))
        if work:
            folder, hosts = self.renders.folder, self.config.iframe_hosts
            if parallel:
                done = self.pool.map(jobs.render_posts, work, folder, hosts, min_items=48, start_from=START_POOL["posts"])
            else:
                done = jobs.render_posts(work, folder, hosts)
            self._rendered.update(done)

    def warm_up(self, root: object) -> None:
        """Start the helper processes now, alongside the first scan, if the content folder ``root`` looks big enough to need them."""
        if isinstance(root, Path) and at_least(root, START_POOL["files"]):
            self.pool.warm_up()

    def load_many(self, files: Sequence[SourceFile], config: Config) -> list[Loaded]:
        """Parse post files (the content index's ``load_many``).

        A big scan's text is not carried back (compressed, 3.7 KB a file through the pipe): the content
        index saves it from the files afterwards (``read_many``), off the way to the first publish.
        """
        sources = len(files) < START_POOL["files"]
        return self.pool.map(jobs.load_files, list(files), config, sources, min_items=256, start_from=START_POOL["files"])

    def read_many(self, real: Path, items: Sequence[Wanted], config: Config) -> list[tuple[bytes, int] | None]:
        """Read post files' source records back (the content index's ``read_many``)."""
        return self.pool.map(jobs.read_sources, list(items), real, config, min_items=256, start_from=START_POOL["files"])

    def forget(self) -> None:
        """The renderings may be gone (their folder was removed): look for each again before trusting it."""
        self._rendered.clear()

    def prune(self, posts: Iterable[Post]) -> int:
        """Remove the renderings no post in ``posts`` (the site's) uses, and temporary files left behind.

        Called by the builder between builds, while no job writes here; a helper process's
        temporary file is removed only once its writer is gone (``fsutil.abandoned``).
        """
        keep = {render_key(post) for post in posts}
        cutoff = time.time() - TEMP_AGE
        removed = self.renders.prune(keep, lambda path: not is_temporary(path.name) or abandoned(path, cutoff))
        self._rendered &= keep
        return removed
