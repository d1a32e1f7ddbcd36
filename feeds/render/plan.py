"""What a site publishes: every document, what its bytes are made of, and which are needed first.

Pure: a Plan is a function of the published posts and the settings, computed
without rendering anything. The documents come from a registry of families
(:data:`FAMILIES`): each scope's feeds and archives, each scope's HTML page,
the lists and the index, the OPML lists, and each post's page. Each document
carries a digest of everything its bytes depend on (the posts it shows, their
tags, the page's metadata, the settings and this code), so the builder can
tell which documents must be rendered again after a change — and which bytes
an earlier snapshot, even one written by another process, already has — by
comparing digests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from feeds import urls
from feeds.config import Config
from feeds.content.site import Site
from feeds.models import FeedPage, Post, Problem
from feeds.options import check_redirects
from feeds.render.articles import fediverse, some_fediverse
from feeds.render.document import (
    ACTIVITY,
    ARCHIVE_MAX_AGE,
    HTML,
    OPML,
    OPML_FILES,
    SETTINGS_FILE,
    VIEW_FILE,
    VIEWS,
    Change,
    Context,
    Doc,
    Every,
    Family,
    Listed,
    Plan,
    Some,
    cache_max_age,
    context,
    entry_key,
    site_path,
    version_of,
    view_path,
)
from feeds.render.formats import FORMATS
from feeds.render.scopes import KINDS, Scope, scopes

# Named here for the modules that plan or serve documents (their vocabulary is in feeds.render.document).
__all__ = [
    "ACTIVITY",
    "ARCHIVE_MAX_AGE",
    "FAMILIES",
    "HTML",
    "OPML",
    "OPML_FILES",
    "VIEWS",
    "VIEW_FILE",
    "Change",
    "Context",
    "Doc",
    "Every",
    "Family",
    "Listed",
    "Plan",
    "Some",
    "cache_max_age",
    "check_redirects",
    "every",
    "plan",
    "view_path",
]


def plan(site: Site, config: Config, previous: Plan | None = None) -> Plan:
    """Every document ``site`` publishes under ``config``, current feeds and HTML pages first.

    ``previous`` (a plan of the same settings) lends the documents of every feed document whose
    posts, tags and metadata are unchanged, so a plan after an edit costs little more than a scan.
    """
    found = scopes(site, config)
    tags_of = found.tags_of
    entry_keys = {post.id: entry_key(post, tags_of[post.id]) for post in site.posts}
    made = context(site, config, found, entry_keys, previous.pages if previous is not None else {})
    first: list[Doc] = []
    later: list[Doc] = []
    whole: dict[str, frozenset[str]] = {}
    for name, family in FAMILIES.items():
        docs = list(every(family)(made))
        if not isinstance(family, Family) or family.some is None:
            whole[name] = frozenset(doc.path for doc in docs)
        for doc in docs:
            (first if doc.first else later).append(doc)
    by_path, problems = _unique(first + later)
    counts = {s.prefix: (len(s.posts), s.size) for s in found.all}
    redirects = tuple(check_redirects(config.redirects, by_path, SETTINGS_FILE))
    return Plan(by_path, version_of(by_path.values()), made.pages, counts, problems + redirects, found, whole, len(problems))


def every(family: Family | Every) -> Every:
    return family.every if isinstance(family, Family) else family


def _unique(docs: list[Doc]) -> tuple[dict[str, Doc], tuple[Problem, ...]]:
    """Keep the first document of each path (a post page whose permalink lands on a feed or a list is reported)."""
    seen: dict[str, Doc] = {}
    problems = []
    for doc in docs:
        if seen.setdefault(doc.path, doc) is not doc:
            post = doc.posts[0].source if doc.kind == "post" and doc.posts else SETTINGS_FILE
            problems.append(Problem(post, 1, f"permalink {doc.path!r} is the path of another document; this post has no page", "warning"))
    return seen, tuple(problems)


# -- the families ----------------------------------------------------------------------


def scope_feeds(context: Context) -> Iterable[Doc]:
    """Each scope's current feed and its full archives, in every format, with their browser views."""
    for scope in context.scopes.all:
        yield from _scope_feeds(context, scope)


def _scope_feeds(context: Context, scope: Scope) -> Iterable[Doc]:
    # The current feed (the newest posts), then archive k = oldest-first posts [(k-1)N, kN), newest first inside.
    yield from feed_chunk(context, scope, None)
    for number in range(scope.archives, 0, -1):
        yield from feed_chunk(context, scope, number)


def feed_chunk(context: Context, scope: Scope, number: int | None) -> tuple[Doc, ...]:
    """The documents of one feed document of ``scope`` (None: the current feed; else that archive), in every format."""
    config, posts, size = context.config, scope.posts, scope.size
    count, archives = len(posts), scope.archives
    start, end = (0, min(size, count)) if number is None else (count - number * size, count - (number - 1) * size)
    chunk = posts[start:end]
    # An archive's bytes depend on its posts and on whether its successor exists (next-archive), never on
    # later posts; the current feed's on the number of archives (prev-archive) and the scope's newest change.
    links = archives if number is None else number < archives
    entry_keys = context.entry_keys
    key = (scope.prefix, number, links, scope.newest if number is None else None, *[entry_keys[p.id] for p in chunk])
    known = context.reusable.get(key)
    if known is not None:
        context.pages[key] = known
        return known
    newest = max((p.updated for p in chunk), default=None)
    page = FeedPage(
        title=scope.title,
        description=scope.description,
        site_url=config.site_url,
        prefix=scope.prefix,
        entries=(),
        updated=scope.newest if number is None else (newest or scope.newest),
        archive=number,
        archives=archives,
        authors=(config.author,),
        language=scope.language,
        kind=scope.kind,
        full=scope.options.feed_content == "full",
        hubs=config.websub_hubs,
        icon=urls.absolute_or_as_is(config.site_url, config.icon) if config.icon else None,
        favicon=urls.absolute_or_as_is(config.site_url, config.favicon) if config.favicon else None,
        podcast=scope.podcast,
    )
    inputs = context.digests.of(scope.key, str(number), str(links), page.updated.isoformat(), *key[4:])  # type: ignore[arg-type]
    chunk_tags = context.tags(chunk)
    first = number is None
    made = [
        Doc(
            urls.feed_path(scope.prefix, fmt.filename, number),
            "feed",
            fmt.media_type,
            context.digests.of("feed", fmt.filename, inputs),
            first,
            newest,
            page,
            chunk,
            chunk_tags,
            fmt.filename,
        )
        for fmt in FORMATS.values()
    ]
    made.append(
        Doc(view_path(scope.prefix, number), "view", HTML, context.digests.of("view", inputs), first, newest, page, chunk, chunk_tags)
    )
    context.pages[key] = tuple(made)
    return context.pages[key]


def _chunk_paths(prefix: str, number: int | None) -> list[str]:
    return [urls.feed_path(prefix, fmt.filename, number) for fmt in FORMATS.values()] + [view_path(prefix, number)]


def some_scope_feeds(context: Context, change: Change) -> tuple[list[Doc], set[str]]:
    """The feed documents a change touched: each changed scope's current feed and the archives holding changed positions."""
    docs: list[Doc] = []
    gone: set[str] = set()
    by_prefix = context.scopes.by_prefix
    for prefix, span in change.scopes.items():
        scope = by_prefix[prefix]
        archives, before = scope.archives, change.archives_before(prefix)
        numbers: set[int] = set(range(1, archives + 1))
        if span is not None:
            lo, hi = span
            numbers = set(range(lo // scope.size + 1, min(hi // scope.size + 1, archives) + 1))
            if before != archives and min(before, archives) >= 1:
                numbers.add(min(before, archives))  # the archive that gained or lost its successor (next-archive)
        docs += feed_chunk(context, scope, None)
        for number in sorted(numbers, reverse=True):
            docs += feed_chunk(context, scope, number)
        for number in range(archives + 1, before + 1):
            gone.update(_chunk_paths(prefix, number))
    for prefix in change.gone:
        for number in [None, *range(1, change.archives_before(prefix) + 1)]:
            gone.update(_chunk_paths(prefix, number))
    return docs, gone


def scope_pages(context: Context) -> Iterable[Doc]:
    """The index (``/``) and each other scope's HTML page: its feeds and its newest posts."""
    for scope, listed in zip(context.scopes.all, context.listed, strict=True):
        yield scope_page(context, scope, listed)


def scope_page(context: Context, scope: Scope, listed: Listed) -> Doc:
    """The HTML page of one scope (the index for the site)."""
    shown = scope.posts[: scope.size]
    entries = context.entries(shown)
    newest = scope.newest if scope.posts else None
    if scope.kind == "site":
        digest = context.digests.of("home", context.listed_key, *entries)
        return Doc("/", "home", HTML, digest, True, newest, posts=shown, post_tags=context.tags(shown), listed=context.listed)
    digest = context.digests.of("scope", repr(listed), *entries)
    tags = context.tags(shown)
    return Doc(scope.prefix, "scope", HTML, digest, True, newest, posts=shown, post_tags=tags, listed=(listed,), count=len(scope.posts))


def some_scope_pages(context: Context, change: Change) -> tuple[list[Doc], set[str]]:
    """The index (its list of scopes may have changed) and the pages of the scopes a change touched."""
    listed_of = {listed.prefix: listed for listed in context.listed}
    by_prefix = context.scopes.by_prefix
    prefixes = {"/", *change.scopes}
    docs = [scope_page(context, by_prefix[prefix], listed_of[prefix]) for prefix in prefixes if prefix in by_prefix]
    return docs, set(change.gone)


def lists(context: Context) -> Iterable[Doc]:
    """The HTML list of every scope of each kind (``/tags/`` always; ``/authors/``, … when there are some)."""
    newest = context.newest
    for kind in KINDS[1:]:
        listed = tuple(s for s in context.listed if s.kind == kind)
        if listed or kind == "tag":
            digest = context.digests.of("list", kind, repr(listed))
            yield Doc(urls.list_path(kind), "list", HTML, digest, True, newest, filename=kind, listed=listed)


def opml(context: Context) -> Iterable[Doc]:
    """The OPML subscription lists: one outline per scope, one list per format."""
    newest = context.newest
    for path, filename in OPML_FILES.items():
        digest = context.digests.of("opml", filename, context.listed_key, str(newest))
        yield Doc(path, "opml", OPML, digest, True, newest, filename=filename, listed=context.listed)


def post_pages(context: Context) -> Iterable[Doc]:
    """Each published post's HTML page at its URL, when ``permalink`` is a path of this site."""
    if not context.config.post_pages:
        return
    by_prefix = {s.prefix: s for s in context.listed}
    for post in context.site.posts:
        yield from post_page(context, post, by_prefix)


def post_page(context: Context, post: Post, by_prefix: Mapping[str, Listed]) -> tuple[Doc, ...]:
    """The page of one post (none when its URL is not a path of this site)."""
    path = site_path(context.config.site_url, post.url)
    if path is None:
        return ()
    authors_of, tags_of, entry_keys = context.scopes.authors_of, context.scopes.tags_of, context.entry_keys
    # The page links to its authors' and section's pages (their names and paths are part of its bytes, not
    # their post counts); every author a post names in a feed is a scope, a section is one if it has feed posts.
    section = urls.scope_prefix("section", post.section) if post.section is not None else None
    key = ("post", path, entry_keys[post.id], authors_of[post.id], section in by_prefix)
    known = context.reusable.get(key)
    if known is None:
        links = [urls.scope_prefix("author", a.slug) for a in authors_of[post.id]] + ([section] if section else [])
        listed = tuple(by_prefix[prefix] for prefix in links if prefix in by_prefix)
        digest = context.digests.of("post", entry_keys[post.id], repr([(s.prefix, s.name) for s in listed]))
        known = (Doc(path, "post", HTML, digest, False, post.updated, posts=(post,), post_tags=(tags_of[post.id],), listed=listed),)
    context.pages[key] = known
    return known


def some_post_pages(context: Context, change: Change) -> tuple[list[Doc], set[str]]:
    """The pages of the posts a change touched (the planner re-plans everything when a post's author or section pages come or go)."""
    if not context.config.post_pages:
        return [], set()
    by_prefix = {s.prefix: s for s in context.listed}
    docs = [doc for post in change.posts for doc in post_page(context, post, by_prefix)]
    gone = {path for post in change.removed if (path := site_path(context.config.site_url, post.url)) is not None}
    return docs, gone


#: The document families, in the order their documents are planned (and, within first and later, published).
#: A family may also be a plain function (planned whole at every change); one that can plan only what a change
#: touched is a :class:`Family` with ``some``, whose documents must then equal those planned whole (tests/test_incremental.py).
FAMILIES: dict[str, Family | Every] = {
    "feeds": Family(scope_feeds, some_scope_feeds),
    "scope pages": Family(scope_pages, some_scope_pages),
    "lists": lists,
    "opml": opml,
    "post pages": Family(post_pages, some_post_pages),
    "fediverse": Family(fediverse, some_fediverse),
}
