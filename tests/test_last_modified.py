"""Last-Modified: unchanged bytes keep their date, changed bytes move forward, and equal content gives equal dates anywhere."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from flask import Flask

from feeds.snapshot.manifest import Manifest, last_modified

from .builds import build, builder, changed_items, dates, site_config, touch_all, write_post

CLOCK = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
SECONDS = int(CLOCK.timestamp())
NOW = CLOCK + timedelta(days=30)
EDITED = "2026-05-02-three-layers-of-idempotency.md"  # no `updated:` in its front matter


# -- the rule --------------------------------------------------------------------------------


def test_unchanged_bytes_keep_their_date_whatever_the_clocks_say() -> None:
    later = CLOCK + timedelta(days=1)
    assert last_modified(('"a"', SECONDS), '"a"', later, later, NOW) == SECONDS


def test_new_bytes_take_the_content_clock_or_the_newest_post_if_later() -> None:
    assert last_modified((None, 0), '"a"', CLOCK, None, NOW) == SECONDS
    assert last_modified((None, 0), '"a"', CLOCK, CLOCK - timedelta(days=3), NOW) == SECONDS
    assert last_modified((None, 0), '"a"', CLOCK, CLOCK + timedelta(seconds=90), NOW) == SECONDS + 90


def test_changed_bytes_advance_a_second_when_no_clock_moved() -> None:
    assert last_modified(('"a"', SECONDS), '"b"', CLOCK, None, NOW) == SECONDS + 1
    assert last_modified(('"a"', SECONDS), '"b"', CLOCK, CLOCK, NOW) == SECONDS + 1


def test_changed_bytes_never_go_backwards_when_the_clock_does() -> None:
    earlier = CLOCK - timedelta(days=400)
    assert last_modified(('"a"', SECONDS), '"b"', earlier, earlier, NOW) == SECONDS + 1


def test_a_date_is_never_later_than_the_build() -> None:
    ahead = NOW + timedelta(hours=5)
    assert last_modified((None, 0), '"a"', ahead, ahead, NOW) == int(NOW.timestamp())
    assert last_modified(('"a"', SECONDS), '"b"', ahead, None, NOW) == int(NOW.timestamp())


# -- end to end: the builder -----------------------------------------------------------------


def _moved_only_where_bytes_changed(old: Manifest, new: Manifest) -> set[str]:
    """Check the rule over two manifests; return the paths whose bytes changed."""
    changed, same = changed_items(old, new)
    for path in same:
        assert new.items[path].last_modified == old.items[path].last_modified, path
    for path in changed:
        assert new.items[path].last_modified > old.items[path].last_modified, path
        assert new.items[path].last_modified <= int(new.built_at.timestamp()), path
    return changed


def test_new_settings_advance_the_date_of_every_changed_document(config_file: Path, content: Path, tmp_path: Path) -> None:
    first = build(site_config(config_file, content), tmp_path / "snap").manifest
    again = build(site_config(config_file, content, title="Renamed Notes"), tmp_path / "snap").manifest
    assert first is not None and again is not None
    assert again.content_time == first.content_time, "no file changed"
    changed = _moved_only_where_bytes_changed(first, again)
    assert "/feed.xml" in changed and "/" in changed
    assert all(again.items[p].last_modified == first.items[p].last_modified + 1 for p in changed), "the clock did not move: +1 s"


def test_an_edit_without_updated_advances_exactly_the_documents_it_changed(config_file: Path, content: Path, tmp_path: Path) -> None:
    made = build(site_config(config_file, content, items_per_feed=2), tmp_path / "snap")
    first = made.manifest
    post = content / EDITED
    post.write_text(post.read_text(encoding="utf-8") + "\nA late correction.\n", encoding="utf-8")
    assert made.rescan() and made.complete()
    assert made.manifest is not None and first is not None
    changed = _moved_only_where_bytes_changed(first, made.manifest)
    assert any(path.startswith("/tags/idempotency/") for path in changed) and any(path.startswith("/archive/") for path in changed)
    assert "/posts/three-layers-of-idempotency/" in changed
    assert "/tags/azure/feed.xml" not in changed and "/tags/azure/feed.xml" in made.manifest.items


def test_a_backdated_post_advances_the_documents_it_changed_even_with_old_file_times(
    config_file: Path, content: Path, tmp_path: Path
) -> None:
    made = build(site_config(config_file, content, items_per_feed=2), tmp_path / "snap")
    first = made.manifest
    assert first is not None
    folder_time = content.stat().st_mtime
    old = datetime(2019, 1, 1, tzinfo=UTC).timestamp()
    post = write_post(content, "2019-01-01-backdated.md", "Backdated", date="2019-01-01", tags=("Go", "Archive"))
    os.utime(post, (old, old))  # copied in with its old time: neither the file nor the folder moves the content clock
    os.utime(content, (folder_time, folder_time))
    assert made.rescan() and made.complete()
    assert made.manifest is not None
    assert made.manifest.content_time == first.content_time
    changed = _moved_only_where_bytes_changed(first, made.manifest)
    assert any(path.startswith("/tags/go/archive/") for path in changed)  # the new oldest post: archive 1 onwards
    assert all(made.manifest.items[p].last_modified == first.items[p].last_modified + 1 for p in changed)
    assert "/tags/archive/feed.xml" in made.manifest.items


def test_a_content_clock_set_back_never_moves_a_date_backwards(config_file: Path, content: Path, tmp_path: Path) -> None:
    made = build(site_config(config_file, content), tmp_path / "snap")
    first = made.manifest
    post = content / EDITED
    post.write_text(post.read_text(encoding="utf-8").replace("Three Layers", "Four Layers"), encoding="utf-8")
    touch_all(content, datetime(2001, 1, 1, tzinfo=UTC).timestamp())
    assert made.rescan()
    assert made.manifest is not None and first is not None
    assert made.manifest.content_time < first.content_time
    changed = _moved_only_where_bytes_changed(first, made.manifest)
    assert changed and all(made.manifest.items[p].last_modified == first.items[p].last_modified + 1 for p in changed)


def test_two_fresh_builds_of_the_same_content_give_the_same_dates(config_file: Path, content: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "posts"
    shutil.copytree(content, copy)  # copy2 keeps every file's and folder's time
    one = build(site_config(config_file, content, items_per_feed=3), tmp_path / "one").manifest
    two = builder(site_config(config_file, copy, items_per_feed=3), tmp_path / "two")
    assert two.rescan()
    two.render_now("/page/2/feed.xml")  # on demand or in the background: the same date
    assert two.complete()
    assert one is not None and two.manifest is not None
    assert dates(one) == dates(two.manifest)
    assert one.items == two.manifest.items


# -- end to end: HTTP ------------------------------------------------------------------------


def test_if_modified_since_answers_304_only_for_unchanged_bytes(make_app: Callable[..., Flask], content: Path, tmp_path: Path) -> None:
    app = make_app(snapshot_dir=str(tmp_path / "snap"))
    client = app.test_client()
    before = {path: client.get(path).headers["Last-Modified"] for path in ("/feed.xml", "/tags/azure/feed.xml")}
    post = content / EDITED
    post.write_text(post.read_text(encoding="utf-8") + "\nA late correction.\n", encoding="utf-8")
    assert app.extensions["feeds"].builder_run()

    edited = client.get("/feed.xml", headers={"If-Modified-Since": before["/feed.xml"]})
    assert edited.status_code == 200
    assert parsedate_to_datetime(edited.headers["Last-Modified"]) > parsedate_to_datetime(before["/feed.xml"])
    untouched = client.get("/tags/azure/feed.xml", headers={"If-Modified-Since": before["/tags/azure/feed.xml"]})
    assert untouched.status_code == 304
    item = app.extensions["feeds"].current.items["/feed.xml"]
    assert edited.headers["Last-Modified"] == format_datetime(item.modified, usegmt=True)
