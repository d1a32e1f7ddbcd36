"""The fediverse's document family: each account's outbox, paged like its archives, and each feed post's Article.

Pure, planned like the other families (``feeds.render.plan``): whole, or only where a
change touched it (:func:`some_fediverse`): the outboxes of the changed site and tag
scopes (their pages are numbered from the oldest, so a new post changes the newest page
and the collection), the Articles of the changed posts, and the Articles whose place
among the newest posts (needed first) a change moved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from feeds import urls
from feeds.models import Post
from feeds.render.activity import ACTIVITY_JSON
from feeds.render.activity import pages as outbox_pages
from feeds.render.document import ACTIVITY, Change, Context, Doc, Listed, site_path
from feeds.render.scopes import Scope

#: The scopes that are fediverse accounts.
ACCOUNTS = ("site", "tag")


def fediverse(context: Context) -> Iterable[Doc]:
    """With ``fediverse`` on: the site's and each tag's outbox, paged like their archives, and each feed post's Article.

    An Article is at its id's path and at its post's path (negotiated at the post's URL); the newest are needed first.
    """
    if not context.config.fediverse:
        return
    for scope, listed in zip(context.scopes.all, context.listed, strict=True):
        if scope.kind in ACCOUNTS:
            yield from outbox(context, scope, listed, None)
    for number, post in enumerate(p for p in context.site.posts if p.feed):
        yield from article(context, post, number < context.config.items_per_feed)


def some_fediverse(context: Context, change: Change) -> tuple[list[Doc], set[str]]:
    """The outboxes of the accounts a change touched, the changed posts' Articles and those whose place among the newest moved."""
    if not context.config.fediverse:
        return [], set()
    docs: list[Doc] = []
    gone: set[str] = set()
    listed_of = {listed.prefix: listed for listed in context.listed}
    for prefix, span in change.scopes.items():
        scope = context.scopes.by_prefix[prefix]
        if scope.kind in ACCOUNTS:
            before = change.before.get(prefix)
            docs += outbox(context, scope, listed_of[prefix], span, len(before.posts) if before else 0)
            gone |= _pages_gone(scope, len(before.posts) if before else 0, len(scope.posts))
    for prefix in change.gone:
        before = change.before.get(prefix)
        if before is not None and before.kind in ACCOUNTS:
            gone.add(ACTIVITY + urls.outbox_path(urls.actor_path(before.slug or None)))
            gone |= _pages_gone(before, len(before.posts), 0)
    for post in change.removed:
        if post.feed:
            gone.update(_article_paths(context, post))
    # The newest posts' Articles are needed first: a change moves at most one post per changed post across that line.
    newest, size = context.config.items_per_feed + len(change.posts) + len(change.removed), context.config.items_per_feed
    planned: set[str] = set()
    for post in context.site.posts:
        if len(planned) >= newest:
            break
        if post.feed:
            docs += article(context, post, len(planned) < size)
            planned.add(post.id)
    docs += [doc for post in change.posts if post.feed and post.id not in planned for doc in article(context, post, False)]
    return docs, gone


def outbox(context: Context, scope: Scope, listed: Listed, span: tuple[int, int] | None, count_before: int = 0) -> Iterable[Doc]:
    """An account's outbox and its pages (``span``: only the pages holding those oldest-first positions, and the newest)."""
    actor, count, size = urls.actor_path(scope.slug or None), len(scope.posts), scope.size
    last = outbox_pages(count, size)
    digest = context.digests.of("outbox", actor, str(count), str(last))
    yield Doc(ACTIVITY + urls.outbox_path(actor), "outbox", ACTIVITY_JSON, digest, True, scope.newest, listed=(listed,), count=count)
    numbers = list(range(last, 0, -1))
    if span is not None:  # page k holds the oldest-first posts [(k-1)N, kN); the newest page before links to no next one
        lo, hi = span
        touched = set(range(lo // size + 1, min(hi // size + 1, last) + 1))
        before = outbox_pages(count_before, size)
        if before != last and min(before, last) >= 1:
            touched.add(min(before, last))
        numbers = sorted(touched, reverse=True)
    for number in numbers:
        chunk = scope.posts[max(0, count - number * size) : count - (number - 1) * size]
        key = ("outbox-page", actor, number, number < last, *context.entries(chunk))
        known = context.reusable.get(key)
        if known is None:
            path, newest = ACTIVITY + urls.outbox_path(actor, number), max(p.updated for p in chunk)
            doc = Doc(path, "outbox-page", ACTIVITY_JSON, context.digests.of(*map(str, key)), number == last, newest, posts=chunk)
            known = (replace(doc, post_tags=context.tags(chunk), listed=(listed,), count=count, number=number),)
        context.pages[key] = known
        yield from known


def _pages_gone(scope: Scope, count_before: int, count: int) -> set[str]:
    actor = urls.actor_path(scope.slug or None)
    return {
        ACTIVITY + urls.outbox_path(actor, n)
        for n in range(outbox_pages(count, scope.size) + 1, outbox_pages(count_before, scope.size) + 1)
    }


def article(context: Context, post: Post, first: bool) -> tuple[Doc, ...]:
    """A feed post's Article at its id's path and its post's path; addressed to the site's followers when the site shows it."""
    in_site = post.section not in context.left_out
    key = ("article", post.id, context.entry_keys[post.id], in_site, first, post.url)
    known = context.reusable.get(key)
    if known is None:
        audience = context.listed[:1] if in_site else ()
        doc = Doc("", "article", ACTIVITY_JSON, context.digests.of(*map(str, key[:4])), first, post.updated, posts=(post,))
        post_tags = (context.scopes.tags_of[post.id],)
        known = tuple(replace(doc, path=path, post_tags=post_tags, listed=audience) for path in _article_paths(context, post))
    context.pages[key] = known
    return known


def _article_paths(context: Context, post: Post) -> list[str]:
    paths = [urls.object_path(post.id), site_path(context.config.site_url, post.url) if context.config.post_pages else None]
    return [ACTIVITY + path for path in paths if path]
