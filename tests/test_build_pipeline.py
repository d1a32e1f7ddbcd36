"""The fast build paths give the very bytes of the plain one: lazy pages, reuse on rescan, the disk cache."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from feeds.snapshot.build import Bodies, Key, Snapshot

from feeds.config import Config, load_config
from feeds.content.index import ContentIndex
from feeds.content.site import select
from feeds.models import Entry
from feeds.render import cache, markup, pages
from feeds.render.formats import FORMATS
from feeds.snapshot import build as snapshot

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _config(content: Path, **overrides: Any) -> Config:
    # Two posts per page: every scope has several pages, most of them built lazily.
    return load_config(None, env={}, overrides={"content_dir": str(content), "items_per_feed": 2, **overrides})


def _everything(snap: Snapshot) -> dict[Key, tuple[bytes, bytes, str, datetime | None]]:
    """Every body and every browser view (views under a ``view:`` path)."""
    out = {k: (b.data, b.gzip, b.media_type, b.last_modified) for k, b in snap.bodies.items()}
    out |= {("view:" + k[0], k[1]): (b.data, b.gzip, b.media_type, b.last_modified) for k, b in snap.views.items()}
    return out


def _reference(config: Config, content_dir: Path) -> dict[Key, bytes]:
    """Every feed page the straightforward way: render every post, then every page of every scope."""
    scan = ContentIndex(config).scan()
    site = select(scan.posts, NOW)
    entries = {}
    for post in site.posts:
        rendered = markup.render(post.body, post.url)
        entries[post.id] = Entry(post, rendered.html, post.summary or rendered.first_paragraph or post.title, site.tags.tags_of(post))
    scopes = [("/", None, [entries[p.id] for p in site.posts])]
    for tag in site.tags.tags:
        scopes.append((f"/tags/{tag.slug}/", tag, [entries[p.id] for p in site.posts if tag in entries[p.id].tags]))
    out: dict[Key, bytes] = {}
    index = pages.Index(config, site, (), {})
    for prefix, tag, scope_entries in scopes:
        for page in snapshot.feed_pages(config, prefix, tag, scope_entries):
            view = index.feed_view(page)
            for fmt in FORMATS.values():
                out[(prefix + fmt.filename, page.page)] = fmt.render(page)
                out[("view:" + prefix + fmt.filename, page.page)] = view
    return out


def test_lazy_pages_are_the_reference_bytes(content: Path) -> None:
    config = _config(content)
    snap = snapshot.build(ContentIndex(config).scan(), config, NOW)
    assert isinstance(snap.bodies, Bodies)
    older = [k for k in snap.bodies if snap.bodies.spec(k) is not None and k[1] > 1]
    assert older and all(snap.bodies.built(k) is None for k in older), "older pages are built on first lookup"
    expected = _reference(config, content)
    got = {k: b.data for k, b in snap.bodies.items() if k in expected}
    got |= {("view:" + k[0], k[1]): b.data for k, b in snap.views.items()}
    assert got == expected
    assert {("view:" + k[0], k[1]) for k in snap.feed_keys()} | set(snap.feed_keys()) == set(expected)
    body = snap.bodies[older[0]]
    assert snap.bodies[older[0]] is body, "built once, then kept"


def test_rescan_reuse_equals_a_full_build(content: Path) -> None:
    config = _config(content)
    index = ContentIndex(config)
    first = snapshot.build(index.scan(), config, NOW)
    first.bodies[("/feed.xml", 3)]  # built in the old snapshot: may be reused
    posts = sorted(content.glob("*.md"))
    posts[3].write_text(posts[3].read_text(encoding="utf-8") + "\nOne more paragraph.\n", encoding="utf-8")
    posts[7].unlink()
    (content / "2026-06-01-new.md").write_text('---\ntitle: "New"\ntags: ["Go", "brand new"]\n---\n\nHello [there](../x/).\n')
    scan = index.scan()
    assert scan.changed and scan.removed

    incremental = snapshot.build(scan, config, NOW, first)
    full = snapshot.build(ContentIndex(config).scan(), config, NOW)
    assert incremental.version == full.version != first.version
    assert incremental.pages == full.pages
    changed = snapshot.changed_keys(first, incremental)
    assert all(incremental.bodies.built(k) is None for k in incremental.bodies if k[1] > 1 and k not in (("/feed.xml", 3),))
    assert _everything(incremental) == _everything(full)
    before = {k: b.etag for k, b in first.bodies.items()}
    truly_changed = sorted(k for k, b in full.bodies.items() if before.get(k) != b.etag)
    assert set(truly_changed) <= set(changed), "every changed body is reported"


def test_unchanged_rescan_reuses_every_body(content: Path) -> None:
    config = _config(content)
    index = ContentIndex(config)
    first = snapshot.build(index.scan(), config, NOW)
    again = snapshot.build(index.scan(), config, NOW, first)
    assert again.version == first.version
    assert snapshot.changed_keys(first, again) == []
    assert all(again.bodies[k] is first.bodies[k] for k in first.bodies if k[1] == 1)


def test_disk_cache_gives_the_bytes_of_a_cold_render(content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cache"
    config = _config(content, cache_dir=str(folder))
    cache._memory.clear()
    cold = _everything(snapshot.build(ContentIndex(config).scan(), config, NOW))
    assert len(list(folder.glob("*/*"))) >= 18

    def no_rendering(body: str, base_url: str) -> markup.Rendered:
        raise AssertionError("a warm start renders nothing")

    cache._memory.clear()
    monkeypatch.setattr(markup, "render", no_rendering)
    warm = _everything(snapshot.build(ContentIndex(config).scan(), config, NOW))
    assert warm == cold


def test_disk_cache_misses_on_a_different_source_or_url(tmp_path: Path) -> None:
    assert cache.cache_key("a", "https://x/") != cache.cache_key("b", "https://x/")
    assert cache.cache_key("a", "https://x/") != cache.cache_key("a", "https://y/")
    store = cache.RenderCache(tmp_path)
    cache._memory.clear()
    first = store.render("[x](y)", "https://x/p/")
    cache._memory.clear()
    assert store.render("[x](y)", "https://x/p/") == first == markup.render("[x](y)", "https://x/p/")
    broken = next(tmp_path.glob("*/*"))
    broken.write_bytes(b"\xff\xfe not a cache entry")
    cache._memory.clear()
    assert store.render("[x](y)", "https://x/p/") == first, "a damaged entry is rendered again"


def test_parallel_render_gives_the_same_html() -> None:
    count = cache.PARALLEL_FROM + 5
    sources = [(f"# Post {i}\n\nSee [the last one](../{i - 1}/) and *more*.\n", f"https://x/posts/{i}/") for i in range(count)]
    cache._memory.clear()
    assert cache.RenderCache(None).render_many(sources) == [markup.render(b, u) for b, u in sources]


def test_reuse_follows_a_renamed_tag(content: Path) -> None:
    """A tag's display name follows the most used spelling: unchanged posts then show the new name."""
    config = _config(content)
    index = ContentIndex(config)
    first = snapshot.build(index.scan(), config, NOW)
    _everything(first)  # every page built, so every page could be reused
    for n in range(3):
        (content / f"2019-01-0{n + 1}-old-{n}.md").write_text(f'---\ntitle: "Old {n}"\ntags: ["ORCHESTRATION"]\n---\n\nText.\n')
    incremental = snapshot.build(index.scan(), config, NOW, first)
    full = snapshot.build(ContentIndex(config).scan(), config, NOW)
    pages = [b.data for k, b in incremental.bodies.items() if k[0] == "/feed.xml"]
    assert sum(data.count(b"<category>ORCHESTRATION</category>") for data in pages) == 4, "the three new posts and the old one"
    assert _everything(incremental) == _everything(full)
    assert incremental.version == full.version


def test_body_only_edit_reuses_the_site_and_untouched_pages(content: Path) -> None:
    config = _config(content)
    index = ContentIndex(config)
    first = snapshot.build(index.scan(), config, NOW)
    _everything(first)
    post = sorted(content.glob("2025-*.md"))[0]
    post.write_text(post.read_text(encoding="utf-8") + "\nA late correction.\n", encoding="utf-8")
    incremental = snapshot.build(index.scan(), config, NOW, first)
    full = snapshot.build(ContentIndex(config).scan(), config, NOW)
    assert _everything(incremental) == _everything(full)
    assert incremental.version == full.version != first.version
    changed = snapshot.changed_keys(first, incremental)
    assert changed
    kept = [k for k in first.bodies if k not in changed and k[1] == 1]
    assert kept and all(incremental.bodies[k] is first.bodies[k] for k in kept), "untouched bodies are the same objects"


def test_post_cache_gives_the_posts_of_a_fresh_parse(content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from feeds.content import index as content_module

    for n in range(content_module.PARALLEL_FROM):  # enough files for a start-up-sized load
        (content / f"2020-01-01-many-{n}.md").write_text(f'---\ntitle: "Many {n}"\ntags: [Go]\n---\n\nPost {n}.\n')
    (content / "broken.md").write_text("---\ntitle: [unclosed\n---\n\nText.\n")
    config = _config(content, cache_dir=str(tmp_path / "cache"))
    cold = ContentIndex(config).scan()
    assert list((tmp_path / "cache").glob("posts-*.pickle"))

    def no_parsing(file: Any, config: Any) -> Any:
        raise AssertionError("a restart parses no unchanged file")

    cache._post_caches.clear()
    monkeypatch.setattr(content_module, "load", no_parsing)
    warm = ContentIndex(config).scan()
    assert warm.posts == cold.posts and warm.problems == cold.problems
    monkeypatch.undo()

    edited = content / "2020-01-01-many-7.md"
    edited.write_text(edited.read_text() + "\nEdited.\n")
    cache._post_caches.clear()
    again = ContentIndex(config).scan()
    assert next(p for p in again.posts if p.source == edited.name).body.endswith("Edited.\n")
    other = _config(content, cache_dir=str(tmp_path / "cache"), title="Other")
    assert cache.post_cache(other.cache_dir, repr(other)) is not cache.post_cache(config.cache_dir, repr(config))


def test_forked_first_pages_are_the_same_bytes(content: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(content)
    scan = ContentIndex(config).scan()
    monkeypatch.setattr(snapshot.threading, "active_count", lambda: 2)  # another thread: render here
    here = _everything(snapshot.build(scan, config, NOW))
    monkeypatch.setattr(snapshot.threading, "active_count", lambda: 1)  # start-up: fork renderers
    forked = snapshot.build(scan, config, NOW)
    assert sum(1 for k in forked.bodies if k[1] == 1 and forked.bodies.spec(k) is not None) >= 32
    assert _everything(forked) == here
