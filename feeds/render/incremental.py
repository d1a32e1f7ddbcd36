"""Plan a change in time of the change: only the scopes and documents holding a changed post are planned again.

Pure, no threads. The :class:`Planner` keeps what a plan from scratch computes
in passes over every post — the published posts in order, each scope's posts in
order, how often each tag and author spelling is used — and brings it up to date
with the posts a scan found changed (``Scan.delta``). Each family of documents
that can (a :class:`~feeds.render.plan.Family` with ``some``) then plans only the
documents the change touched: in each scope whose posts changed, the current
feed and the archives whose oldest-first positions hold other posts now (RFC 5005
§4 archives are numbered from the oldest, so a new post changes the current feed
and at most the archive it fills); the pages of the changed posts and scopes.
The result is the very plan :func:`~feeds.render.plan.plan` makes from scratch
(same paths, digests and version: ``tests/test_incremental.py`` checks it over
random sequences of changes). What the planner cannot bring up to date exactly
in little time — a contested id or URL, a tag or author whose name or slug
changes, an author or section page or a language that comes or goes, a future
post falling due, a change of a large part of the site — is planned from scratch.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from feeds import urls
from feeds.config import Config
from feeds.content.site import Site, newest_first, select
from feeds.content.tags import TagIndex, index_counted
from feeds.models import Post, Tag
from feeds.options import check_redirects
from feeds.render.counts import Counts
from feeds.render.document import SETTINGS_FILE, Change, Doc, Family, Plan, context, doc_hash, entry_key
from feeds.render.plan import FAMILIES, every, plan
from feeds.render.scopes import EPOCH, Scope, Scopes, in_order, scope_of

#: A change of more posts than this (or than this share of the site) is planned from scratch.
MOST_CHANGED = 2000
MOST_CHANGED_SHARE = 0.2
_Key = tuple[float, float, str]


class Fallback(Exception):
    """The change cannot be planned incrementally: plan from scratch."""


@dataclass
class Planned:
    """A plan, and how it differs from the previous one (None: it was planned from scratch)."""

    site: Site
    plan: Plan
    #: Documents new or planned again (their digest may be unchanged) and paths no longer planned.
    changed: list[Doc] | None = None
    removed: set[str] | None = None


class Planner:
    """Plans the site from scratch once, then each change from the previous plan."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._state: _State | None = None

    def forget(self) -> None:
        """Plan from scratch next time."""
        self._state = None

    def plan(
        self, posts: Iterable[Post], delta: Mapping[str, tuple[Post | None, Post | None]], now: datetime, previous: Plan | None
    ) -> Planned:
        """Plan the site of ``posts`` (every post the content holds) at ``now``; ``delta`` is what changed since the last call."""
        state = self._state
        if state is not None and previous is state.plan and (state.site.next_change is None or state.site.next_change > now):
            changes = [(old, new) for old, new in delta.values()]
            if len(changes) <= min(MOST_CHANGED, MOST_CHANGED_SHARE * max(len(state.posts), 1000)):
                try:
                    return state.update(changes, now)
                except Fallback:
                    pass
        site = select(posts, now, self.config.author.name)
        made = plan(site, self.config, previous)
        try:
            self._state = _State.of(self.config, site, made, posts, now)
        except Fallback:
            self._state = None
        return Planned(site, made)


def _live(post: Post | None, now: datetime) -> bool:
    return post is not None and not post.draft and post.published <= now


class _State:
    """What the last plan was made of, kept in order for the next change."""

    def __init__(self, config: Config, site: Site, made: Plan) -> None:
        self.config = config
        self.site = site
        self.plan = made
        self.keys: list[_Key] = []
        self.posts: list[Post] = []
        self.members: dict[str, tuple[list[_Key], list[Post]]] = {}
        self.scopes: dict[str, Scope] = {}
        self.tags = Counts({}, {})
        self.authors = Counts({}, {})
        self.ids: dict[str, str] = {}
        self.urls: dict[str, str] = {}
        #: Drafts aside, the posts not published yet, by file (when the next one falls due).
        self.future: dict[str, datetime] = {}
        self.tags_of: dict[str, tuple[Tag, ...]] = {}
        self.authors_of: dict[str, tuple[Tag, ...]] = {}
        self.entry_keys: dict[str, str] = {}
        #: Feed posts per language (lower case); published posts in no feed (their pages show tags of feed posts).
        self.languages = Counts({}, {})
        self.unfed = 0
        #: The published posts' newest change.
        self.newest: datetime | None = None
        self.left_out = frozenset(s.slug for s in config.sections if not s.site_feeds)

    @classmethod
    def of(cls, config: Config, site: Site, made: Plan, posts: Iterable[Post], now: datetime) -> _State:
        state = cls(config, site, made)
        state.posts = list(site.posts)
        state.keys = [newest_first(p) for p in state.posts]
        key_of = {p.id: k for p, k in zip(state.posts, state.keys, strict=True)}
        found = made.found
        assert found is not None, "a plan from scratch names its scopes"
        if made.clashes:
            raise Fallback("documents clash: planned from scratch")
        state.scopes = dict(found.by_prefix)
        for scope in found.all:
            state.members[scope.prefix] = ([key_of[p.id] for p in scope.posts], list(scope.posts))
        state.tags_of, state.authors_of = dict(found.tags_of), dict(found.authors_of)
        fallback = (config.author.name,) if config.author.name else ()
        for post in site.posts:
            state.ids[post.id], state.urls[post.url] = post.source, post.source
            state.entry_keys[post.id] = entry_key(post, state.tags_of[post.id])
            if post.feed:
                state.tags.add(post.source, post.tags)
                state.authors.add(post.source, tuple(a.name for a in post.authors) or fallback)
                state.languages.add(post.source, [state.language(post)])
            else:
                state.unfed += 1
        state.newest = max((p.updated for p in site.posts), default=None)
        state.future = {p.source: p.published for p in posts if not p.draft and p.published > now}
        return state

    # -- one change -------------------------------------------------------------------------------

    def update(self, changes: list[tuple[Post | None, Post | None]], now: datetime) -> Planned:
        """Bring every structure up to date with ``changes`` and plan what they touched; Fallback when that cannot be exact."""
        try:
            return self._update(changes, now)
        except Fallback:
            raise
        except (KeyError, ValueError, IndexError) as e:  # a structure out of step: never guess, plan from scratch
            raise Fallback(repr(e)) from e

    def _update(self, changes: list[tuple[Post | None, Post | None]], now: datetime) -> Planned:
        config = self.config
        removed = [old for old, _ in changes if old is not None and _live(old, now)]
        added = [new for _, new in changes if new is not None and _live(new, now)]
        for old, new in changes:
            if old is not None:
                self.future.pop(old.source, None)
            if new is not None and not new.draft and new.published > now:
                self.future[new.source] = new.published
        # Ids and URLs stay uncontested (else the earliest post keeps them: a pass over the site).
        for post in removed:
            if self.ids.pop(post.id, None) != post.source or self.urls.pop(post.url, None) != post.source:
                raise Fallback("an id or URL was contested")
        for post in added:
            if post.id in self.ids or post.url in self.urls:
                raise Fallback("an id or URL is contested")
            self.ids[post.id], self.urls[post.url] = post.source, post.source
        # The published posts, newest first.
        for post in removed:
            index = bisect.bisect_left(self.keys, newest_first(post))
            if self.posts[index].source != post.source:
                raise Fallback("the published order is out of step")
            del self.keys[index], self.posts[index]
        for post in added:
            key = newest_first(post)
            index = bisect.bisect_left(self.keys, key)
            self.keys.insert(index, key)
            self.posts.insert(index, post)
        # Tags and authors: counted, then named and slugged as from scratch; an existing one renamed or moved falls back.
        site_author = (config.author.name,) if config.author.name else ()
        several = self.several()
        # As net changes by (file, spelling): an edit that keeps a post's tags changes no count (nor a tag's first file).
        gone: Counter[tuple[str, str, str]] = Counter()
        came: Counter[tuple[str, str, str]] = Counter()
        for post in removed:
            if post.feed:
                gone.update(self._names(post, site_author))
            else:
                self.unfed -= 1
        for post in added:
            if post.feed:
                came.update(self._names(post, site_author))
            else:
                self.unfed += 1
        counts = {"tag": self.tags, "author": self.authors, "language": self.languages}
        for (kind, source, name), times in (gone - came).items():
            counts[kind].remove(source, [name] * times)
        for (kind, source, name), times in (came - gone).items():
            counts[kind].add(source, [name] * times)
        if self.several() != several:
            raise Fallback("language scopes come or go")
        tags = _reindexed(self.site.tags, index_counted(self.tags.uses, self.tags.first, "tag", "/tags/"), self.unfed)
        authors = _reindexed(self.site.authors, index_counted(self.authors.uses, self.authors.first, "author", "/authors/"), self.unfed)
        future = min(self.future.values(), default=None)
        top = max((p.updated for p in added), default=None)
        if top is not None and (self.newest is None or top >= self.newest):
            self.newest = top  # (no post that went can have held a later change)
        elif self.newest is not None and any(p.updated >= self.newest for p in removed):
            self.newest = max((p.updated for p in self.posts), default=None)  # the newest change went: a pass
        site = Site(tuple(self.posts), tags, tags.problems + authors.problems, future, authors, config.author.name)
        # Each changed post's display tags, author scopes and entry key.
        for post in removed:
            self.tags_of.pop(post.id, None)
            self.authors_of.pop(post.id, None)
            self.entry_keys.pop(post.id, None)
        unnamed = site.authors_of_nobody()
        for post in added:
            self.tags_of[post.id] = tags.tags_of(post)
            self.authors_of[post.id] = site.authors_of(post) if post.authors else unnamed
            self.entry_keys[post.id] = entry_key(post, self.tags_of[post.id])
        change = self._rescope(site, removed, added, old_tags=self.site.tags)
        self.site = site
        return self._replan(site, change)

    def _names(self, post: Post, site_author: tuple[str, ...]) -> list[tuple[str, str, str]]:
        """(kind, file, spelling) of each tag, author and language a feed post counts for."""
        authors = tuple(a.name for a in post.authors) or site_author
        return [
            *(("tag", post.source, name) for name in post.tags),
            *(("author", post.source, name) for name in authors),
            ("language", post.source, self.language(post)),
        ]

    def language(self, post: Post) -> str:
        """The language scope ``post`` belongs in (when the site has them)."""
        return (post.language or self.config.language).lower()

    def several(self) -> bool:
        """Whether the site has language scopes: feed posts in two languages or more (as :func:`scopes` decides)."""
        return len(self.languages.uses) > 1

    def _prefixes(self, post: Post, tags: tuple[Tag, ...], authors: tuple[Tag, ...]) -> list[tuple[str, str, str]]:
        """(kind, slug, prefix) of every scope ``post`` is in."""
        if not post.feed:
            return []
        found = [("site", "", "/")] if post.section not in self.left_out else []
        found += [("tag", t.slug, urls.scope_prefix("tag", t.slug)) for t in tags]
        found += [("author", a.slug, urls.scope_prefix("author", a.slug)) for a in authors]
        if post.section is not None:
            found.append(("section", post.section, urls.scope_prefix("section", post.section)))
        if self.several():
            language = self.language(post)
            found.append(("language", language, urls.scope_prefix("language", language)))
        return found

    def _rescope(self, site: Site, removed: list[Post], added: list[Post], old_tags: TagIndex) -> Change:
        """Move the changed posts between the scopes' ordered lists; say which positions of which scope changed."""
        out: dict[str, list[_Key]] = {}
        into: dict[str, list[tuple[_Key, Post]]] = {}
        kinds: dict[str, tuple[str, str]] = {}
        old_tags_of = {p.id: (old_tags.tags_of(p), _authors_before(self, p)) for p in removed}
        for post in removed:
            tags, authors = old_tags_of[post.id]
            for kind, slug, prefix in self._prefixes(post, tags, authors):
                out.setdefault(prefix, []).append(newest_first(post))
                kinds[prefix] = (kind, slug)
        for post in added:
            for kind, slug, prefix in self._prefixes(post, self.tags_of[post.id], self.authors_of[post.id]):
                into.setdefault(prefix, []).append((newest_first(post), post))
                kinds[prefix] = (kind, slug)
        spans: dict[str, tuple[int, int] | None] = {}
        before: dict[str, Scope] = {}
        gone: set[str] = set()
        names = {t.slug: t.name for t in site.tags.tags}
        author_names = {t.slug: t.name for t in site.authors.tags}
        for prefix, (kind, slug) in kinds.items():
            old = self.scopes.get(prefix)
            keys, posts = self.members.get(prefix, ([], []))
            count = len(keys)
            positions = [count - 1 - bisect.bisect_left(keys, key) for key in out.get(prefix, ())]
            for key in out.get(prefix, ()):
                index = bisect.bisect_left(keys, key)
                del keys[index], posts[index]
            for key, post in into.get(prefix, ()):
                index = bisect.bisect_left(keys, key)
                keys.insert(index, key)
                posts.insert(index, post)
            total = len(keys)
            positions += [total - 1 - bisect.bisect_left(keys, key) for key, _ in into.get(prefix, ())]
            if old is not None:
                before[prefix] = old
            if not keys:
                if kind in ("author", "section", "language"):
                    raise Fallback(f"the {kind} scope {slug} goes")
                self.members.pop(prefix, None)
                self.scopes.pop(prefix, None)
                gone.add(prefix)
                continue
            if old is None and kind in ("author", "section", "language"):
                raise Fallback(f"the {kind} scope {slug} comes")
            self.members[prefix] = (keys, posts)
            name = {"tag": names.get(slug), "author": author_names.get(slug)}.get(kind, old.name if old else slug)
            spelled = [p.language or self.config.language for p in (*added, *removed) if p.feed and self.language(p) == slug]
            if kind == "language" and any(spelling != name for spelling in spelled):
                raise Fallback("a language spelled another way")
            newest = _newest(old, posts, [p for _, p in into.get(prefix, ())], out.get(prefix, ()))
            self.scopes[prefix] = scope_of(self.config, kind, slug, name or slug, posts, newest)
            spans[prefix] = None if old is None else (min(positions), total - 1 if total != count else max(positions))
        return Change(spans, frozenset(gone), tuple(added), tuple(removed), before)

    def _replan(self, site: Site, change: Change) -> Planned:
        """Plan the documents the change touched, and the families that plan whole; the plan with them."""
        ordered = in_order(self.scopes.values(), site)
        found = Scopes(ordered, self.tags_of, self.authors_of)
        made = context(site, self.config, found, self.entry_keys, {}, self.newest)
        previous = self.plan
        by_path = dict(previous.by_path)
        total = previous.total
        whole = dict(previous.whole)
        changed: list[Doc] = []
        removed: set[str] = set()
        for name, family in FAMILIES.items():
            if isinstance(family, Family) and family.some is not None:
                docs, gone = family.some(made, change)
            else:  # planned whole: what it planned before and not now is gone
                docs = list(every(family)(made))
                whole[name] = frozenset(doc.path for doc in docs)
                gone = set(previous.whole.get(name, frozenset()) - whole[name])
            for path in gone:
                old = by_path.pop(path, None)
                if old is not None:
                    total -= doc_hash(path, old.digest)
                    removed.add(path)
            for doc in docs:
                old = by_path.get(doc.path)
                if old is not None and old.kind != doc.kind:
                    raise Fallback(f"two documents at {doc.path}")
                if old is not None:
                    total -= doc_hash(doc.path, old.digest)
                by_path[doc.path] = doc
                total += doc_hash(doc.path, doc.digest)
                removed.discard(doc.path)
                changed.append(doc)
        counts = dict(previous.counts)
        for prefix in change.gone:
            counts.pop(prefix, None)
        for prefix in change.scopes:
            scope = self.scopes[prefix]
            counts[prefix] = (len(scope.posts), scope.size)
        problems = tuple(check_redirects(self.config.redirects, by_path, SETTINGS_FILE))
        self.plan = Plan(by_path, total % (1 << 64), previous.pages, counts, problems, found, whole)
        return Planned(site, self.plan, changed, removed)


def _authors_before(state: _State, post: Post) -> tuple[Tag, ...]:
    return state.site.authors_of(post) if post.authors else state.site.authors_of_nobody()


def _reindexed(old: TagIndex, new: TagIndex, unfed: int) -> TagIndex:
    """``new``, unless a tag (or author) that stays changed its slug or name (or one came or went while posts in no feed show theirs)."""
    for identity, tag in old.by_identity.items():
        now = new.by_identity.get(identity)
        if now is not None and now != tag:
            raise Fallback(f"{tag.slug} renamed or moved")
    if unfed and old.by_identity.keys() != new.by_identity.keys():
        raise Fallback("a tag came or went while posts in no feed show their tags")
    return new


def _newest(old: Scope | None, posts: list[Post], added: list[Post], removed_keys: Iterable[_Key]) -> datetime:
    """The scope's newest change: from the old one and the added posts, or a pass over it when its newest went."""
    if old is None or any(-key[1] >= old.newest.timestamp() for key in removed_keys):
        return max((p.updated for p in posts), default=EPOCH)
    return max([old.newest, *(p.updated for p in added)])
