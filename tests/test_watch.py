"""File-system events: an added, edited, moved or deleted post is published without waiting for the scheduled scan."""

from __future__ import annotations

import json
import os
from pathlib import Path

import feedparser
import pytest

from feeds.config import load_config
from feeds.content.errors import ContentRootError
from feeds.content.index import ContentIndex
from feeds.service import watch as watching
from feeds.service.watch import EVERYTHING, watch

from .server import ServerProcess
from .waiting import wait_until

pytestmark = pytest.mark.skipif(watching._LIBC is None, reason="inotify is Linux's")

#: No scheduled scan during the test: only events can show a change.
HOUR = {"FEEDS_SCAN_INTERVAL": "3600"}


def _titles(server: ServerProcess, path: str) -> list[str]:
    return [e.title for e in feedparser.parse(server.request(path).body).entries]


def _scans(server: ServerProcess) -> str:
    return str(json.loads(server.request("/healthz").body)["last_scan"])


def test_events_publish_added_edited_moved_and_deleted_posts(content: Path, config_file: Path) -> None:
    with ServerProcess(content, config_file, env=HOUR) as server:
        posts = json.loads(server.request("/healthz").body)["posts"]
        new = content / "2026-06-01-evented.md"
        new.write_text("---\ntitle: Seen By Its Event\ntags: [Go]\n---\nHello.\n")
        wait_until(lambda: "Seen By Its Event" in _titles(server, "/atom.xml"), 10, "the new post in the feed")

        saved = content / ".evented.md.swp"  # an editor's atomic save: a hidden file renamed over the post
        saved.write_text("---\ntitle: Seen Again\ntags: [Go]\n---\nHello again.\n")
        os.replace(saved, new)
        wait_until(lambda: "Seen Again" in _titles(server, "/tags/go/feed.xml"), 10, "the edit in the tag feed")

        folder = content / "notes"
        folder.mkdir()
        (folder / "2026-06-02-in-a-folder.md").write_text("---\ntitle: In A New Folder\n---\nBody.\n")
        wait_until(lambda: "In A New Folder" in _titles(server, "/feed.xml"), 10, "a post in a new folder")
        (folder / "2026-06-03-second.md").write_text("---\ntitle: Second In The Folder\n---\nBody.\n")
        wait_until(lambda: "Second In The Folder" in _titles(server, "/feed.xml"), 10, "a post in the folder watched since")

        new.unlink()
        wait_until(lambda: "Seen Again" not in _titles(server, "/feed.xml"), 10, "the deleted post gone")
        assert json.loads(server.request("/healthz").body)["posts"] == posts + 2  # the two in the new folder


def test_files_that_are_not_posts_are_ignored_and_a_post_after_them_is_published(content: Path, config_file: Path) -> None:
    with ServerProcess(content, config_file, env=HOUR) as server:
        version = json.loads(server.request("/healthz").body)["version"]
        scanned = _scans(server)
        (content / "notes.txt").write_text("not a post")
        (content / "_draft.md").write_text("---\ntitle: Underscored\n---\nNever a post.\n")
        # A post written next proves the events are read (the two above came first and changed nothing).
        (content / "2026-06-04-after.md").write_text("---\ntitle: Written After\n---\nBody.\n")
        wait_until(lambda: "Written After" in _titles(server, "/feed.xml"), 10, "the post written after")
        assert "Underscored" not in _titles(server, "/feed.xml")
        assert json.loads(server.request("/healthz").body)["version"] != version
        assert _scans(server) != scanned


def test_a_watch_names_changed_posts_and_asks_for_a_listing_for_folders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    events = watch(tmp_path)
    assert events is not None
    try:
        (tmp_path / "a" / "x.md").write_text("x")
        (tmp_path / "y.txt").write_text("y")
        assert events.wait(5) == {"a/x.md"}
        os.rename(tmp_path / "a", tmp_path / "b")
        assert events.wait(5) is EVERYTHING
        assert events.wait(0.01) == set()  # nothing more: the timeout's empty answer
    finally:
        events.close()
        assert events.wait(5) == set()
        events.release()


def test_events_are_looked_up_only_in_the_folder_last_listed_whole(content: Path, config_file: Path) -> None:
    """An empty folder put in the content folder's place (an unmounted volume's mount point) is listed whole, and refused.

    Events named a post before the swap: looking up only that path in the new folder would find it gone
    and publish the site without it. The folder is not the one last listed, so it is listed whole: no
    posts where there were some is the scan's error, and the posts stay.
    """
    index = ContentIndex(load_config(config_file, env={}, overrides={"content_dir": str(content)}))
    posts = index.scan().posts
    name = sorted(p.name for p in content.glob("*.md"))[0]
    (content / name).write_text((content / name).read_text(encoding="utf-8") + "\nEdited.\n", encoding="utf-8")
    assert index.scan(paths={name}).changed == (name,)  # the same folder: the one path is looked up

    content.rename(content.with_name("away"))
    content.mkdir()
    with pytest.raises(ContentRootError, match="has no posts now"):
        index.scan(paths={name})

    content.rmdir()  # the volume back: the folder last listed, every post there
    content.with_name("away").rename(content)
    assert len(index.scan(paths={name}).posts) == len(posts)
