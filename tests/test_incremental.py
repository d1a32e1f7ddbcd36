"""The incremental plan is the plan from scratch: same paths, digests, version, counts and problems after any change."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.config import load_config
from feeds.content.site import select
from feeds.models import Author, Post
from feeds.render.incremental import Planned, Planner
from feeds.render.plan import Plan, plan

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SITE = "https://blog.example"
TAGS = ["Go", "go", "Rust", "Pub/Sub", "pub sub", "C++", "C#", "SRE"]
AUTHORS = ["Ann", "Bob", "ann"]


def _config(**overrides: Any) -> Any:
    return load_config(env={}, overrides={"content_dir": "content", "site_url": SITE, "items_per_feed": 3, **overrides})


def _post(number: int, day: int, tags: tuple[str, ...] = (), **fields: Any) -> Post:
    published = NOW - timedelta(days=day)
    source = fields.pop("source", f"{'notes/' if fields.get('section') == 'notes' else ''}p{number}.md")
    return Post(
        source=source,
        id=f"{SITE}/posts/p{number}/",
        slug=f"p{number}",
        title=f"Post {number}",
        url=f"{SITE}/posts/p{number}/",
        link=f"{SITE}/posts/p{number}/",
        published=published,
        updated=fields.pop("updated", published),
        body_digest=fields.pop("body", "0" * 64),
        tags=tags,
        **fields,
    )


def _shape(made: Plan) -> dict[str, Any]:
    return {
        "docs": {path: (doc.kind, doc.digest, doc.first) for path, doc in made.by_path.items()},
        "version": made.version,
        "counts": dict(made.counts),
        "problems": sorted(map(str, made.problems)),
    }


def _check(planner: Planner, posts: dict[str, Post], delta: dict[str, tuple[Post | None, Post | None]], previous: Plan | None) -> Planned:
    config = planner.config
    planned = planner.plan(tuple(posts.values()), delta, NOW, previous)
    site = select(posts.values(), NOW, config.author.name)
    scratch = plan(site, config)
    assert _shape(planned.plan) == _shape(scratch)
    assert planned.site.posts == site.posts
    assert planned.site.tags.tags == site.tags.tags
    assert sorted(map(str, planned.site.problems)) == sorted(map(str, site.problems))
    assert planned.site.next_change == site.next_change
    if planned.changed is not None:  # what it says changed is all that changed
        before = previous.by_path if previous is not None else {}
        differ = {p for p, d in planned.plan.by_path.items() if (old := before.get(p)) is None or old.digest != d.digest}
        assert differ <= {d.path for d in planned.changed}
        assert set(before) - set(planned.plan.by_path) == planned.removed
    return planned


_KINDS = ["add", "add_newest", "edit", "delete", "retag", "redate", "unfeed", "language", "section", "author", "draft", "future"]
_edits = st.sampled_from(_KINDS)


#: The fediverse's outboxes and Articles, and podcast shows for the site and a tag (their feeds carry the show).
FEDIVERSE_AND_SHOWS = {
    "fediverse": True,
    "podcast": {"category": "Technology", "owner": {"name": "Ann", "email": "ann@example.com"}},
    "tags": {"go": {"podcast": {"category": "News"}}},
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_edits, st.integers(0, 10_000), st.integers(0, 400)), min_size=1, max_size=25), st.booleans(), st.booleans())
def test_incremental_plans_equal_plans_from_scratch(steps: list[tuple[str, int, int]], sections: bool, fediverse: bool) -> None:
    config = _config(
        **({"sections": {"notes": {"title": "Notes", "items_per_feed": 2, "site_feeds": False}}} if sections else {}),
        **(FEDIVERSE_AND_SHOWS if fediverse else {}),
    )
    assert not fediverse or (config.fediverse and config.show("tag", "go") is not None)
    planner = Planner(config)
    posts = {p.source: p for p in (_post(n, n * 3, (TAGS[n % 3], TAGS[3 + n % 2])) for n in range(1, 30))}
    previous = _check(planner, posts, {}, None).plan
    fresh = 1000
    for kind, pick, value in steps:
        chosen = sorted(posts)[pick % len(posts)] if posts else None
        old = posts.get(chosen) if chosen else None
        new: Post | None = None
        if kind in ("add", "add_newest") or old is None:
            fresh += 1
            day = -0 if kind == "add_newest" else value % 300
            new = _post(fresh, day, (TAGS[value % len(TAGS)],))
            chosen = new.source
            old = None
        elif kind == "edit":
            new = replace(old, title=f"{old.title}!", body_digest=f"{value:064d}")
        elif kind == "delete":
            new = None
        elif kind == "retag":
            new = replace(old, tags=(TAGS[value % len(TAGS)], TAGS[(value // 7) % len(TAGS)]))
        elif kind == "redate":
            new = replace(old, published=NOW - timedelta(days=value % 300), updated=NOW - timedelta(days=value % 300))
        elif kind == "unfeed":
            new = replace(old, feed=not old.feed)
        elif kind == "language":
            new = replace(old, language=[None, "de", "fr"][value % 3])
        elif kind == "section":
            new = replace(old, section="notes" if old.section is None else None)
        elif kind == "author":
            new = replace(old, authors=(Author(AUTHORS[value % len(AUTHORS)]),) if value % 4 else ())
        elif kind == "draft":
            new = replace(old, draft=not old.draft)
        elif kind == "future":
            new = replace(old, published=NOW + timedelta(days=1 + value % 5), updated=NOW + timedelta(days=1 + value % 5))
        assert chosen is not None
        if new is None:
            posts.pop(chosen, None)
        else:
            posts[chosen] = new
        previous = _check(planner, posts, {chosen: (old, new)}, previous).plan


def test_common_changes_are_planned_incrementally_and_touch_few_documents() -> None:
    config = _config()
    planner = Planner(config)
    posts = {p.source: p for p in (_post(n, n, (TAGS[n % 3],)) for n in range(1, 400))}
    previous = _check(planner, posts, {}, None).plan

    edited = posts["p200.md"]
    posts["p200.md"] = replace(edited, title="Edited", body_digest="1" * 64)
    planned = _check(planner, posts, {"p200.md": (edited, posts["p200.md"])}, previous)
    assert planned.changed is not None and len(planned.changed) < 40, "an edit plans its chunks, pages and lists"

    newest = _post(999, -1, ("Go",))
    posts[newest.source] = newest
    planned = _check(planner, posts, {newest.source: (None, newest)}, planned.plan)
    assert planned.changed is not None and len(planned.changed) < 40, "a new post plans the current feeds and what it fills"

    del posts[newest.source]
    planned = _check(planner, posts, {newest.source: (newest, None)}, planned.plan)
    assert planned.changed is not None and len(planned.changed) < 40
