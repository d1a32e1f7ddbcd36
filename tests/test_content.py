from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from feeds.config import Config, load_config
from feeds.content.index import ContentIndex
from feeds.content.site import select
from feeds.content.tags import slugify

from .conftest import SAMPLE

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def _config(folder: Path, **overrides: object) -> Config:
    return load_config(env={}, overrides={"content_dir": str(folder), "site_url": "https://blog.example", **overrides})


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_sample_content_has_21_published_posts_a_draft_and_a_future_post() -> None:
    scan = ContentIndex(_config(SAMPLE)).scan()
    assert not [p for p in scan.problems if p.severity == "error"]
    assert len(scan.posts) == 23
    site = select(scan.posts, NOW)
    assert len(site.posts) == 21  # 18 blog posts and the podcast section's 3 episodes
    assert sorted(p.source for p in site.posts if p.section is not None) == sorted(
        f"podcast/{path.name}" for path in (SAMPLE / "podcast").glob("*.md")
    )
    assert site.next_change == datetime(2027, 6, 1, 9, tzinfo=UTC)
    page_one = [p for p in site.posts if p.published >= datetime(2026, 5, 1, tzinfo=UTC)]
    assert [p.published.day for p in page_one] == list(range(10, 0, -1))


def test_seed_tags_are_split_and_slugged() -> None:
    site = select(ContentIndex(_config(SAMPLE)).scan().posts, NOW)
    cdc = next(p for p in site.posts if p.published.day == 10 and p.published.month == 5)
    assert cdc.tags == ("Spanner", "Datastream", "Pub/Sub", "Dataflow", "Migration")
    bloom = next(p for p in site.posts if p.published.day == 9 and p.published.month == 5)
    assert [slugify(t) for t in bloom.tags] == ["terraform", "banking", "soc-2", "iso-27001", "aws", "azure"]


def test_front_matter_fields(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "2026-03-04-hello-world.md",
        """---
title: "Hello"
date: 2026-03-04T10:30:00
updated: 2026-03-05
summary: Short.
tags: Go
authors:
  - Ada
  - {name: Grace, url: /about/, email: grace@example.com}
image: cover.png
link: https://elsewhere.example/x
enclosure: {url: /media/a.mp3, type: audio/mpeg, length: 1234}
---
Body with [a link](../other/).
""",
    )
    config = _config(tmp_path, timezone="Europe/Amsterdam")
    (post,) = ContentIndex(config).scan().posts
    assert post.title == "Hello"
    assert post.slug == "hello-world"
    assert post.url == "https://blog.example/posts/hello-world/"
    assert post.published == datetime(2026, 3, 4, 10, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))
    assert post.updated == datetime(2026, 3, 5, tzinfo=ZoneInfo("Europe/Amsterdam"))
    assert post.summary == "Short."
    assert post.tags == ("Go",)
    assert [a.name for a in post.authors] == ["Ada", "Grace"]
    assert post.authors[1].url == "https://blog.example/about/"
    assert post.image == "https://blog.example/posts/hello-world/cover.png"
    assert post.link == "https://elsewhere.example/x"
    assert post.enclosure is not None and post.enclosure.url == "https://blog.example/media/a.mp3"
    assert post.id == "tag:blog.example,2026-03-04:hello-world"


def test_date_comes_from_the_file_name_and_id_survives_an_edit(tmp_path: Path) -> None:
    path = _write(tmp_path, "2025-12-31-year-end.md", "---\ntitle: Year end\n---\nFirst.\n")
    index = ContentIndex(_config(tmp_path))
    (before,) = index.scan().posts
    assert before.published == datetime(2025, 12, 31, tzinfo=UTC)
    path.write_text("---\ntitle: Year end, edited\nsummary: new\n---\nChanged body.\n", encoding="utf-8")
    (after,) = index.scan().posts
    assert after.title == "Year end, edited"
    assert after.id == before.id


def test_bom_and_crlf_simply_work(tmp_path: Path) -> None:
    (tmp_path / "2026-01-01-bom.md").write_bytes(b"\xef\xbb\xbf---\r\ntitle: BOM\r\n---\r\nHello\r\n")
    index = ContentIndex(_config(tmp_path))
    (post,) = index.scan().posts
    assert post.title == "BOM"
    assert index.body(post) == "Hello\n"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("---\ntitle: [unclosed\n---\nx\n", 2, "invalid YAML"),
        ("---\n- a list\n---\nx\n", 2, "must be a mapping"),
        ("---\ndate: 2026-01-01\n---\nno title\n", 1, "title: missing"),
        ('---\ntitle: "  "\n---\nx\n', 2, "title: is empty"),
        ("---\ntitle: T\ndate: 2026-02-30\n---\nx\n", 3, "date"),
        ("---\ntitle: T\ndate: yesterday\n---\nx\n", 3, "date: 'yesterday'"),
        ("---\ntitle: T\ntags: {a: 1}\n---\nx\n", 3, "tags: expected a list"),
        ("", 1, "empty file"),
        ("just text\n", 1, "no front matter"),
    ],
)
def test_a_broken_file_is_reported_with_path_and_line_and_the_others_still_load(tmp_path: Path, text: str, line: int, message: str) -> None:
    _write(tmp_path, "2026-01-01-good.md", "---\ntitle: Good\n---\nfine\n")
    _write(tmp_path, "2026-01-02-bad.md", text)
    scan = ContentIndex(_config(tmp_path)).scan()
    assert [p.title for p in scan.posts] == ["Good"]
    (problem,) = [p for p in scan.problems if p.severity == "error"]
    assert problem.path == "2026-01-02-bad.md"
    assert problem.line == line
    assert message in problem.message
    assert str(problem).startswith(f"2026-01-02-bad.md:{line}: ")


def test_non_utf8_is_reported(tmp_path: Path) -> None:
    (tmp_path / "2026-01-01-latin1.md").write_bytes(b"---\ntitle: caf\xe9\n---\nx\n")
    scan = ContentIndex(_config(tmp_path)).scan()
    assert not scan.posts
    assert scan.problems[0].line == 2 and "UTF-8" in scan.problems[0].message


def test_hidden_and_underscore_files_are_ignored_and_folders_are_recursive(tmp_path: Path) -> None:
    _write(tmp_path, "2026-01-01-top.md", "---\ntitle: Top\n---\nx\n")
    _write(tmp_path, "nested/deeper/2026-01-02-deep.md", "---\ntitle: Deep\n---\nx\n")
    _write(tmp_path, ".hidden.md", "---\ntitle: Hidden\n---\nx\n")
    _write(tmp_path, "_drafts/2026-01-03-x.md", "---\ntitle: Underscore\n---\nx\n")
    _write(tmp_path, "notes.txt", "not markdown")
    titles = sorted(p.title for p in ContentIndex(_config(tmp_path)).scan().posts)
    assert titles == ["Deep", "Top"]


def test_rescan_rereads_only_changed_files_and_notices_added_and_deleted(tmp_path: Path) -> None:
    a = _write(tmp_path, "2026-01-01-a.md", "---\ntitle: A\n---\nx\n")
    _write(tmp_path, "2026-01-02-b.md", "---\ntitle: B\n---\nx\n")
    index = ContentIndex(_config(tmp_path))
    assert sorted(index.scan().changed) == ["2026-01-01-a.md", "2026-01-02-b.md"]
    assert index.scan().changed == ()
    a.write_text("---\ntitle: A2\n---\nlonger body\n", encoding="utf-8")
    _write(tmp_path, "2026-01-03-c.md", "---\ntitle: C\n---\nx\n")
    (tmp_path / "2026-01-02-b.md").unlink()
    scan = index.scan()
    assert sorted(scan.changed) == ["2026-01-01-a.md", "2026-01-03-c.md"]
    assert scan.removed == ("2026-01-02-b.md",)
    assert sorted(p.title for p in scan.posts) == ["A2", "C"]


def test_the_listing_cache_keeps_one_compact_record_a_file(content: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The files a walk found are kept (a listing again makes no new records), each one small record with no path of its own."""
    from feeds.content import files

    monkeypatch.setattr(files, "_listed", {})  # (other tests' folders may fill it to its bound)
    first = files.discover(content)
    again = files.discover(content)
    assert first.files and all(a is b for a, b in zip(first.files, again.files, strict=True)), "the same records"
    for file in again.files:
        assert getattr(file, "where", "") is None and not hasattr(file, "__dict__"), file.rel
        assert file.path == content.resolve() / file.rel and file.stamp == (file.size, file.mtime_ns, file.inode, None)
