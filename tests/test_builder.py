"""The builder: a cold build, an edit, a restart, two phases and the pool all give the bytes of the reference rendering."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

import pytest

from feeds.render.store import render_key
from feeds.service import jobs, state
from feeds.service.pool import Pool
from feeds.snapshot.manifest import Manifest

from .builds import Events, bodies, build, builder, record_calls, record_events, reference, site_config, write_post
from .sitegen import generate

EDITED = "2026-05-02-three-layers-of-idempotency.md"


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Events:
    return record_events(monkeypatch)


def _files(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` with its modification time (to tell a folder nobody wrote to)."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


# -- a cold build --------------------------------------------------------------------------


def test_a_cold_build_gives_the_bytes_of_the_reference_rendering(config_file: Path, content: Path, tmp_path: Path) -> None:
    config = site_config(config_file, content, items_per_feed=2)  # most scopes have archives
    made = build(config, tmp_path / "snap")
    expected = reference(config)
    assert made.manifest is not None and made.plan is not None
    assert made.manifest.version == expected.plan.version
    assert list(made.manifest.items) == list(expected.bodies), "every planned document, in plan order"
    assert bodies(made) == expected.bodies
    assert any("/archive/" in path for path in expected.bodies) and any(path.startswith("/posts/") for path in expected.bodies)
    assert made.manifest.post_count == len(expected.site.posts) == 21  # 18 in the site's feeds, the podcast section's 3 apart


# -- an edit and a rescan ------------------------------------------------------------------


def _body_edit(content: Path) -> None:
    post = content / EDITED
    post.write_text(post.read_text(encoding="utf-8") + "\nA late correction, with a [link](../elsewhere/).\n", encoding="utf-8")


def _title_edit(content: Path) -> None:
    post = content / EDITED
    post.write_text(post.read_text(encoding="utf-8").replace("Three Layers of Idempotency", "Three Layers, Revisited"), encoding="utf-8")


def _tag_renamed(content: Path) -> None:
    """Four of the six posts tagged "Distributed Systems" now spell it in lower case: the display name follows."""
    spelled = sorted(p for p in content.glob("*.md") if "Distributed Systems" in p.read_text(encoding="utf-8"))
    for post in spelled[:4]:
        post.write_text(post.read_text(encoding="utf-8").replace("Distributed Systems", "distributed systems"), encoding="utf-8")


def _new_post(content: Path) -> None:
    write_post(content, "2026-06-01-newest.md", "The newest post", date="2026-06-01", tags=("Go",), body="Hello [there](../x/).")


def _deleted_post(content: Path) -> None:
    (content / "2025-04-22-distributed-tracing-a-practical-guide.md").unlink()


def _new_tag(content: Path) -> None:
    post = content / EDITED
    post.write_text(post.read_text(encoding="utf-8").replace("tags: [Idempotency,", 'tags: ["Brand New", Idempotency,'), encoding="utf-8")


EDITS: dict[str, Callable[[Path], None]] = {
    "body": _body_edit,
    "title": _title_edit,
    "tag renamed": _tag_renamed,
    "new post": _new_post,
    "deleted post": _deleted_post,
    "new tag": _new_tag,
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_an_edit_and_a_rescan_give_the_bytes_of_a_fresh_build(
    edit: Callable[[Path], None], config_file: Path, content: Path, tmp_path: Path
) -> None:
    config = site_config(config_file, content, items_per_feed=2)
    made = build(config, tmp_path / "live")
    before = made.manifest
    edit(content)
    assert made.rescan(), made.error
    assert made.complete()
    fresh = build(config, tmp_path / "fresh")
    assert made.manifest is not None and fresh.manifest is not None and before is not None
    assert made.manifest.version == fresh.manifest.version != before.version
    assert bodies(made) == bodies(fresh)
    assert {p: i.etag for p, i in made.manifest.items.items()} == {p: i.etag for p, i in fresh.manifest.items.items()}
    assert made.manifest.seq > before.seq


def test_a_renamed_tag_shows_its_new_spelling_in_untouched_posts(config_file: Path, content: Path, tmp_path: Path) -> None:
    made = build(site_config(config_file, content), tmp_path / "snap")
    _tag_renamed(content)
    assert made.rescan()
    feed = bodies(made)["/feed.xml"].decode()
    assert "<category>Distributed Systems</category>" not in feed
    assert feed.count("<category>distributed systems</category>") == 6, "the four edited posts and the two untouched ones"


def test_an_unchanged_rescan_publishes_nothing(config_file: Path, content: Path, tmp_path: Path, events: Events) -> None:
    made = build(site_config(config_file, content), tmp_path / "snap")
    name = made.store.current_name()
    seq = made.manifest.seq if made.manifest else None
    files = _files(tmp_path / "snap")
    # The build published twice: current feeds and HTML pages, then the post pages (pending after a cold start).
    assert events.count("rebuild") == 1 and events.count("publish") == 2
    assert made.rescan() is False
    assert made.store.current_name() == name and made.manifest is not None and made.manifest.seq == seq
    assert _files(tmp_path / "snap") == files
    assert events.count("rebuild") == 1 and events.count("publish") == 2


# -- a restart -----------------------------------------------------------------------------


def _forbid(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("nothing is parsed or rendered again")

    for name in names:
        monkeypatch.setattr(jobs, name, refuse)


def test_a_restart_over_unchanged_content_adopts_the_snapshot_and_renders_nothing(
    config_file: Path, content: Path, tmp_path: Path, events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = site_config(config_file, content, items_per_feed=2)
    (content / "broken.md").write_text("---\ntitle: [unclosed\n---\n\nText.\n", encoding="utf-8")  # its problem survives too
    first = build(config, tmp_path / "snap")
    assert first.manifest is not None and first.manifest.problems
    files = _files(tmp_path / "snap")
    _forbid(monkeypatch, "load_files", "render_posts", "render_docs")
    again = builder(config, tmp_path / "snap")
    assert again.manifest == first.manifest, "served from the first moment"
    assert again.rescan() is False, again.error
    assert again.complete()
    assert events.count("adopt") == 1 and events.count("rebuild") == 1
    assert again.manifest == first.manifest and again.error is None
    assert _files(tmp_path / "snap") == files, "no object, manifest, rendering or state written"


def test_a_restart_mid_build_adopts_the_page_ones_and_renders_only_the_older_pages(
    config_file: Path, content: Path, tmp_path: Path, events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = site_config(config_file, content, items_per_feed=2)
    first = builder(config, tmp_path / "snap")
    assert first.rescan()  # killed before complete(): older pages are still pending
    assert first.manifest is not None and first.manifest.pending
    cold = bodies(build(config, tmp_path / "cold"))
    docs_calls = record_calls(monkeypatch, jobs, "render_docs")
    posts_calls = record_calls(monkeypatch, jobs, "render_posts")
    _forbid(monkeypatch, "load_files")
    again = builder(config, tmp_path / "snap")
    assert again.rescan() is False
    assert events.count("adopt") == 1 and not docs_calls and not posts_calls
    assert again.complete()
    assert again.plan is not None
    assert sorted(doc.path for docs in docs_calls for doc in docs) == sorted(first.manifest.pending)
    shown_first = {render_key(p) for doc in again.plan.docs if doc.first for p in doc.posts}
    shown_later = {render_key(p) for doc in again.plan.docs if not doc.first for p in doc.posts}
    rendered_posts = sorted(key for work in posts_calls for key, _, _ in work)
    assert rendered_posts == sorted(shown_later - shown_first), "only posts no page 1 shows were left to render"
    assert bodies(again) == cold


def test_a_restart_after_one_post_changed_renders_only_that_post(
    config_file: Path, content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = site_config(config_file, content)
    build(config, tmp_path / "snap")
    _body_edit(content)
    parsed = record_calls(monkeypatch, jobs, "load_files")
    calls = record_calls(monkeypatch, jobs, "render_posts")
    again = builder(config, tmp_path / "snap")
    assert again.rescan()
    assert again.plan is not None
    assert [file.rel for files in parsed for file in files] == [EDITED], "only the edited file is read again"
    (edited,) = {post for doc in again.plan.docs for post in doc.posts if post.source == EDITED}
    assert [key for work in calls for key, _, _ in work] == [render_key(edited)]
    assert again.complete(), "its archive pages come right after its page (snapshot/diff.py)"
    assert bodies(again) == reference(config).bodies


def test_an_edit_saves_only_the_shard_of_the_saved_index_that_holds_it(config_file: Path, content: Path, tmp_path: Path) -> None:
    config = site_config(config_file, content)
    first = build(config, tmp_path / "snap")
    shards = tmp_path / "snap" / "state" / state.NAME
    written = {path.name: path.stat().st_ino for path in shards.iterdir()}
    assert written.keys() == {state.shard_name(state.shard_of(rel)) for rel in first.index.state()}, "every shard with a file"
    with (content / EDITED).open("a", encoding="utf-8") as post:
        post.write("\nOne more line.\n")
    assert first.rescan()
    rewritten = {name for name, inode in written.items() if (shards / name).stat().st_ino != inode}
    assert rewritten == {state.shard_name(state.shard_of(EDITED))}
    again = builder(config, tmp_path / "snap")
    assert again.index.state() == first.index.state(), "the shards of different ages make up the whole index"
    assert again.index.unsaved() == set()


def test_an_upgrade_reads_every_file_again_and_keeps_the_last_good_version_of_a_broken_post(
    config_file: Path, content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = site_config(config_file, content)
    first = build(config, tmp_path / "snap")
    published = bodies(first)
    (content / EDITED).write_text("---\ntitle: [half saved\n---\n", encoding="utf-8")
    first.rescan()
    assert first.complete(), first.error
    assert first.manifest is not None and [k.path for k in first.manifest.kept] == [EDITED]
    assert bodies(first) == published, "the broken post is kept: the same bytes"
    monkeypatch.setattr("feeds.service.state.code_digest", lambda: "another version of feeds")
    parsed = record_calls(monkeypatch, jobs, "load_files")
    again = builder(config, tmp_path / "snap")
    again.rescan()
    assert again.complete(), again.error
    assert len([file for files in parsed for file in files]) == len(list(content.rglob("*.md"))), "every file read again"
    assert again.manifest is not None and [k.path for k in again.manifest.kept] == [EDITED]
    assert [k.since for k in again.manifest.kept] == [k.since for k in first.manifest.kept]
    assert bodies(again) == published, "the upgrade serves the broken post's last good version, byte for byte"


# -- two phases ------------------------------------------------------------------------------


def test_page_ones_come_first_and_older_pages_on_demand_or_in_the_background(config_file: Path, content: Path, tmp_path: Path) -> None:
    config = site_config(config_file, content, items_per_feed=2)
    made = builder(config, tmp_path / "snap")
    assert made.rescan()
    first, planned = made.manifest, made.plan
    assert first is not None and planned is not None
    assert first.pending and not first.complete
    assert {p for p, d in planned.by_path.items() if d.first} == set(first.items)
    assert {p for p, d in planned.by_path.items() if not d.first} == set(first.pending)
    assert made.store.current_name() == first.name()

    paths = ("/archive/3/feed.xml", "/tags/go/archive/1/atom.xml", "/_views/archive/4/view.html", "/posts/three-layers-of-idempotency/")
    asked = {path: made.render_now(path) for path in paths}
    assert all(asked.values()) and made.render_now("/archive/3/feed.xml") == asked["/archive/3/feed.xml"], "rendered once"
    assert made.render_now("/archive/99/feed.xml") is None
    assert made.render_now("/feed.xml") == first.items["/feed.xml"]
    assert made.manifest is first, "answered, not published"

    assert made.complete()
    done = made.manifest
    assert done is not None and done.complete and done.seq == first.seq + 1
    for path, item in asked.items():
        assert done.items[path] == item, path  # the same ETag and Last-Modified as when it was asked for
    cold = build(config, tmp_path / "cold")
    assert cold.manifest is not None
    assert done.items == cold.manifest.items
    assert bodies(made) == bodies(cold)


def test_an_edit_while_older_pages_are_pending_completes_to_the_edited_site(config_file: Path, content: Path, tmp_path: Path) -> None:
    config = site_config(config_file, content, items_per_feed=2)
    made = builder(config, tmp_path / "snap")
    assert made.rescan()
    made.render_now("/archive/2/feed.xml")
    _new_post(content)
    assert made.rescan()
    assert made.complete()
    assert bodies(made) == reference(config).bodies


def test_an_edit_publishes_its_post_page_first_and_its_archive_pages_right_after(config_file: Path, content: Path, tmp_path: Path) -> None:
    config = site_config(config_file, content, items_per_feed=2)  # the edited post is in archives of several scopes
    made = build(config, tmp_path / "snap")
    _body_edit(content)
    assert made.rescan()
    first = made.manifest
    assert first is not None
    archives = sorted(path for path in first.pending if "/archive/" in path)
    assert archives, "the archive pages holding the post wait for the second publish"
    assert not any(path.startswith("/posts/") for path in first.pending), "its post page is in the first publish"
    expected = reference(config).bodies
    page = next(path for path in first.items if path.startswith("/posts/") and "three-layers" in path)
    assert made.store.read(first.items[page].etag) == expected[page] and b"A late correction" in expected[page]
    asked = made.render_now(archives[0], first.pending[archives[0]].digest)  # meanwhile one asked for has the edit
    assert asked is not None and made.store.read(asked.etag) == expected[archives[0]]
    assert made.complete() and made.manifest is not None and made.manifest.seq == first.seq + 1
    assert bodies(made) == expected


# -- the pool ------------------------------------------------------------------------------


def _many_posts(folder: Path, count: int) -> Path:
    """The benchmarks' synthetic site, shorter posts: 50 tags (C++, C#, Pub/Sub…), code, tables, links between posts."""
    generate(count, folder, words=120)
    return folder


def test_the_pool_gives_the_bytes_of_the_in_process_build(config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Above every min_items threshold, and the pool started at once: files are parsed, posts and documents
    # rendered in the pool's processes.
    monkeypatch.setattr("feeds.service.rendering.START_POOL", {"files": 1, "posts": 1, "docs": 1})
    config = site_config(config_file, _many_posts(tmp_path / "many", 260))
    pool = Pool(workers=2)
    try:
        parallel = builder(config, tmp_path / "pooled", pool)
        assert parallel.rescan()
        assert pool._executor is not None, "the work went to the forkserver processes"
        assert parallel.complete()
    finally:
        pool.close()
    here = build(config, tmp_path / "here")
    assert parallel.manifest is not None and here.manifest is not None
    assert parallel.manifest.items == here.manifest.items
    assert bodies(parallel) == bodies(here) == reference(config).bodies


def test_a_closed_pool_ends_its_fork_server_and_starts_it_again_for_the_next_big_job() -> None:
    # An idle fork server holds the rendering code it imported (~25 MB): closed with the pool after each build.
    pool = Pool(workers=2)
    try:
        assert pool.map(sorted, list(range(200)), min_items=1) == list(range(200))
        assert pool._executor is not None, "the work went to the forkserver processes"
        server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
        assert server is not None and Path(f"/proc/{server}").exists()
        pool.close(wait=True)
        assert forkserver._forkserver._forkserver_pid is None  # type: ignore[attr-defined]
        assert not Path(f"/proc/{server}").exists()  # ended and reaped
        assert pool.map(sorted, list(range(200)), min_items=1) == list(range(200))
        assert pool._executor is not None and forkserver._forkserver._forkserver_pid not in (None, server)  # type: ignore[attr-defined]
    finally:
        pool.close(wait=True)


# -- lost bodies and failures -------------------------------------------------------------


def test_a_build_after_the_objects_were_removed_writes_them_again(config_file: Path, content: Path, tmp_path: Path) -> None:
    config = site_config(config_file, content)
    made = build(config, tmp_path / "snap")
    manifest = made.manifest
    assert manifest is not None
    lost = manifest.items["/tags/go/feed.xml"]
    made.store.object_path(lost.etag).unlink()
    made.store.object_path(lost.etag, gzip=True).unlink()
    assert made.render_now("/tags/go/feed.xml") == lost
    assert made.store.read(lost.etag) == reference(config).bodies["/tags/go/feed.xml"]


def test_a_rendering_that_fails_keeps_the_published_snapshot(
    config_file: Path, content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, events: Events
) -> None:
    made = build(site_config(config_file, content), tmp_path / "snap")
    published = made.manifest
    _title_edit(content)

    def broken(*args: Any) -> Any:
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(jobs, "render_docs", broken)
    assert made.rescan() is False
    assert made.manifest is published and made.store.load_current() == published
    assert made.error is not None and "renderer crashed" in made.error
    assert events.count("rebuild_failed") == 1
    monkeypatch.undo()
    assert made.rescan() and made.error is None, "the next scan tries again"
    assert made.manifest is not published and b"Revisited" in bodies(made)["/feed.xml"]


# -- known bugs ------------------------------------------------------------------------------


def test_a_pending_page_asked_for_right_after_the_swap_is_never_the_previous_one(
    config_file: Path, content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = site_config(config_file, content, items_per_feed=1)
    made = build(config, tmp_path / "snap")
    for day in range(1, 21):  # 20 new archives in the site's feeds alone: more than SMALL_CHANGE (snapshot/diff.py) are left pending
        write_post(content, f"2026-07-{day:02d}-new-{day}.md", f"New {day}", date=f"2026-07-{day:02d}", body="New.")
    asked: dict[str, Any] = {}
    publish = made.store.publish

    def publish_then_ask(manifest: Manifest, data: bytes) -> None:
        publish(manifest, data)
        # `current` names the new manifest now: a follower polling at this moment serves it and asks for a pending page.
        asked["waiting"] = manifest.pending.get("/archive/30/feed.xml")
        asked["answer"] = made.render_now("/archive/30/feed.xml")

    monkeypatch.setattr(made.store, "publish", publish_then_ask)
    assert made.rescan()
    assert asked["waiting"] is not None, "the page is pending in the published manifest"
    answer = asked["answer"]
    assert answer is None or answer.digest == asked["waiting"].digest, "a 503 to retry, or the new page; never the old one"


def test_a_body_whose_object_and_renderings_were_cleaned_up_is_rendered_again(config_file: Path, content: Path, tmp_path: Path) -> None:
    config = site_config(config_file, content, items_per_feed=2)
    made = build(config, tmp_path / "snap")
    assert made.manifest is not None
    lost = made.manifest.items["/archive/6/feed.xml"]
    for gzip in (False, True):
        made.store.object_path(lost.etag, gzip).unlink()
    shutil.rmtree(tmp_path / "snap" / "render")  # nobody read them for ten days
    assert made.render_now("/archive/6/feed.xml") == lost
    assert made.store.read(lost.etag) == reference(config).bodies["/archive/6/feed.xml"]


def test_a_damaged_rendering_is_rendered_again(config_file: Path, content: Path, tmp_path: Path) -> None:
    build(site_config(config_file, content), tmp_path / "snap")
    for entry in (tmp_path / "snap" / "render").glob("*/*"):
        entry.write_bytes(b"")
    config = site_config(config_file, content, title="Other Notes")  # every document is rendered again
    again = builder(config, tmp_path / "snap")
    assert again.rescan(), again.error
    assert again.complete()
    assert bodies(again) == reference(config).bodies
