"""End to end: a real server over the sample blog plus every bad file.

Every good post stays in every feed, the feeds stay valid, and each bad file
is named as ``path:line: message`` in the log, in ``feeds check`` and in /healthz.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from xml.etree import ElementTree

import frontmatter
import pytest
from flask import Flask

from feeds.config import Config, load_config
from feeds.content import files as sources
from feeds.content import post as content_module
from feeds.content.files import discover
from feeds.content.index import ContentIndex, Scan
from feeds.content.post import load
from feeds.content.tags import slugify

from . import feedcheck
from .conftest import SITE_CONFIG
from .corpus import CASES, CLEAN, OUTSIDE_TITLE, SAMPLE, add_bad_corpus, cases, sample_titles, without_dac_override
from .server import ServerProcess
from .wellformed import assert_json_feed, assert_xml_feed, titles

HOSTILE = ("<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "<b>bold</b>", "<i>Mallory</i>")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path, Path]]:
    """A server over sample content + the bad corpus; every post fits on one page."""
    root = tmp_path_factory.mktemp("bad-site")
    content = root / "content"
    shutil.copytree(SAMPLE, content)
    add_bad_corpus(content)
    config = root / "feeds.toml"
    config.write_text(SITE_CONFIG, encoding="utf-8")
    env = {"FEEDS_ITEMS_PER_FEED": "100"}
    with ServerProcess(content, config, env=env, preexec_fn=without_dac_override) as server:
        yield server, content, config


def get(server: ServerProcess, path: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(server.url(path), timeout=10) as response:
        return response.status, response.read()


def feed_paths(server: ServerProcess) -> list[str]:
    """Every feed of the site (overall and per tag, three formats), from the OPML list."""
    _, opml = get(server, "/feeds.opml")
    urls = [node.get("xmlUrl", "") for node in ElementTree.fromstring(opml).iter("outline") if node.get("xmlUrl")]
    prefixes = sorted({url.removeprefix(server.base).rsplit("/", 1)[0] + "/" for url in urls})
    assert "/" in prefixes and len(prefixes) > 10
    return [prefix + name for prefix in prefixes for name in ("feed.xml", "atom.xml", "feed.json")]


def test_every_good_post_is_in_every_feed(site: tuple[ServerProcess, Path, Path]) -> None:
    server, _, _ = site
    published = [case.title for case in CASES if case.title] + [t for t in CLEAN.values() if "<" not in t]
    for path in ("/feed.xml", "/atom.xml", "/feed.json"):
        status, data = get(server, path)
        assert status == 200
        found = titles(path, data, path)
        for title in sample_titles() + published:
            assert title in found, f"{title!r} missing from {path}"
        assert OUTSIDE_TITLE not in found
        # Titles of files that are skipped never appear.
        assert not {"Broken YAML", "Unparseable date", "Impossible date", "Tags as a mapping", "Unreadable", "Huge"} & set(found)
    # And each sample post is in the feeds of each of its tags.
    for source in sorted(SAMPLE.glob("*.md")):
        post = frontmatter.load(source)
        if post["title"] not in sample_titles():
            continue
        for tag in post.get("tags", []):
            for name in ("feed.xml", "atom.xml", "feed.json"):
                path = f"/tags/{slugify(str(tag))}/{name}"
                assert post["title"] in titles(name, get(server, path)[1], path), f"{post['title']!r} missing from {path}"


def test_every_feed_stays_valid(site: tuple[ServerProcess, Path, Path]) -> None:
    """Well-formed everywhere, and valid with zero warnings by the W3C validator's rules (tests/feedcheck.py)."""
    server, _, _ = site
    problems: list[str] = []
    for path in feed_paths(server):
        status, data = get(server, path)
        assert status == 200, path
        assert titles(path, data, path), f"{path} has no items"
        url = server.url(path)
        home = url.rsplit("/", 1)[0] + "/"
        if path.endswith("feed.xml"):
            problems += feedcheck.rss(url, data, home=home, hubs=())
        elif path.endswith("atom.xml"):
            problems += feedcheck.atom(url, data, home=home, hubs=(), feed_id=url)
    # Known and accepted: the validator warns about what these posts deliberately hold.
    # An HTML-looking title is text all the same (ContainsHTML); raw HTML that the author
    # left unbalanced passes through Markdown as written (NotHtml) -- still well-formed XML.
    accepted = [
        p for p in problems if ("ContainsHTML" in p and ("<" in p or "/b-bold-b/" in p)) or ("NotHtml" in p and "Unbalanced raw HTML" in p)
    ]
    assert accepted, "the hostile posts should show in the validator's warnings"
    assert [p for p in problems if p not in accepted] == [], "\n".join(problems)


def test_healthz_names_each_bad_file(site: tuple[ServerProcess, Path, Path]) -> None:
    server, _, _ = site
    status, data = get(server, "/healthz")
    health = json.loads(data)
    assert status == 200
    assert health["status"] == "degraded"  # files with errors need a human
    for case in cases():
        assert any(case.report.match(p) for p in health["problems"]), f"{case.name} not in /healthz"
    assert not any(p.startswith(f"bad/{name}:") for p in health["problems"] for name in CLEAN)


def test_log_names_each_bad_file(site: tuple[ServerProcess, Path, Path]) -> None:
    server, _, _ = site
    log = server.log.read_text(encoding="utf-8")
    lines = [json.loads(line.split("problem=", 1)[1]) for line in log.splitlines() if "event=content_problem" in line]
    for case in cases():
        assert any(case.report.match(line) for line in lines), f"{case.name} not in the log"


def test_feeds_check_names_each_bad_file_and_exits_1(site: tuple[ServerProcess, Path, Path]) -> None:
    _, content, config = site
    result = subprocess.run(
        [sys.executable, "-m", "feeds", "check", "--content", str(content), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=without_dac_override,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    for case in cases():
        assert any(case.report.match(line) for line in lines), f"{case.name} not in feeds check output"


def test_html_pages_escape_post_fields(site: tuple[ServerProcess, Path, Path]) -> None:
    server, _, _ = site
    pages = ["/", "/tags/", "/tags/b-bold-b/", "/feeds.opml"]
    for path in pages:
        status, data = get(server, path)
        assert status == 200, path
        text = data.decode("utf-8")
        for hostile in HOSTILE:
            assert hostile not in text, f"{hostile!r} unescaped in {path}"
    home = get(server, "/")[1].decode("utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in home


# In-process: the loader's own defences.


def scan_of(content: Path, **overrides: object) -> Scan:
    return ContentIndex(config_of(content, **overrides)).scan()


def config_of(content: Path, **overrides: object) -> Config:
    """Settings for ``content`` from the tests' site config next to it (never the project's feeds.toml)."""
    file = content.parent / "feeds.toml"
    file.write_text(SITE_CONFIG, encoding="utf-8")
    return load_config(file, env={}, overrides={"content_dir": str(content), **overrides})


def test_folder_reached_twice_is_scanned_once(content: Path) -> None:
    (content / "again").symlink_to(content)  # a symlink to the content folder itself
    (content / "sub").mkdir()
    (content / "sub" / "back").symlink_to(content / "sub")
    scan = scan_of(content)
    assert len(scan.posts) == 23  # the sample's 20 files at the top and the podcast section's 3
    assert {str(p) for p in scan.problems} == {
        "again:1: warning: is the same folder as .; not scanned twice",
        "sub/back:1: warning: is the same folder as sub; not scanned twice",
    }


def test_file_swapped_after_listing_is_checked_again(content: Path, tmp_path: Path) -> None:
    config = config_of(content)
    files = discover(content).files
    by_name = {f.rel: f for f in files}
    secret = tmp_path / "secret.md"
    secret.write_text("---\ntitle: Secret\ndate: 2026-01-01\n---\nx\n", encoding="utf-8")

    outside = by_name["2026-05-01-stop-switching-on-status-codes-normalising-partner-errors.md"]
    outside.path.unlink()
    outside.path.symlink_to(secret)  # replaced by a symlink out of the folder after it was listed
    loaded = load(outside, config)
    assert loaded.post is None and "now points outside the content folder" in loaded.problems[0].message

    pipe = by_name["2026-05-02-three-layers-of-idempotency.md"]
    pipe.path.unlink()
    os.mkfifo(pipe.path)  # replaced by a pipe: opening it must not block
    loaded = load(pipe, config)
    assert loaded.post is None and loaded.problems[0].message == "is not a regular file; skipped"


def test_max_file_size_is_a_setting(content: Path) -> None:
    scan = scan_of(content, max_file_size=2000)
    skipped = [p for p in scan.problems if "over max_file_size (2000)" in p.message]
    assert skipped and len(scan.posts) + len(skipped) == 23


def test_a_loader_bug_is_reported_not_raised(content: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object) -> None:
        raise ZeroDivisionError("surprise")

    monkeypatch.setattr(content_module, "_post_from", explode)
    scan = scan_of(content)
    assert not scan.posts
    assert any(p.message == "cannot be loaded: ZeroDivisionError: surprise" for p in scan.problems)


def test_recursive_yaml_aliases_are_refused_without_hanging(content: Path) -> None:
    (content / "aliases.md").write_text(
        '---\ntitle: Aliases\ndate: 2026-01-01\nextra: &a [*a, *a, "\\0"]\nlaughs: &b [&c [*a, *a], *c, *c, *c]\n---\nBody.\n',
        encoding="utf-8",
    )
    scan = scan_of(content)
    assert not any(p.source == "aliases.md" for p in scan.posts)
    (problem,) = [p for p in scan.problems if p.path == "aliases.md"]
    assert (problem.line, problem.message) == (4, "extra: a YAML alias refers to a value that holds it (it would expand for ever)")


def test_urls_from_front_matter_become_ascii_uris(content: Path) -> None:
    (content / "urls.md").write_text(
        "---\ntitle: URLs\ndate: 2026-01-01\nimage: /img/café [1].png\nlink: https://example.com/a b\n---\nBody.\n", encoding="utf-8"
    )
    scan = scan_of(content)
    assert any("link: 'https://example.com/a b' is not a URL (contains spaces)" in str(p) for p in scan.problems)
    (content / "urls.md").write_text(
        "---\ntitle: URLs\ndate: 2026-01-01\nimage: /img/café%zz[1].png\nlink: https://example.com/ü?q=ü#ü\n---\nBody.\n",
        encoding="utf-8",
    )
    post = next(p for p in scan_of(content).posts if p.source == "urls.md")
    assert post.image == "http://127.0.0.1:8000/img/caf%C3%A9%25zz%5B1%5D.png"
    assert post.link == "https://example.com/%C3%BC?q=%C3%BC#%C3%BC"
    for bad in ("javascript:alert(1)", "https://exämple.com/", "http://[::1", "http://h:port/", "mailto:a@b.c"):
        (content / "urls.md").write_text(f"---\ntitle: URLs\ndate: 2026-01-01\nimage: '{bad}'\n---\nBody.\n", encoding="utf-8")
        scan = scan_of(content)
        assert not any(p.source == "urls.md" for p in scan.posts), bad
        assert any(p.path == "urls.md" and p.line == 4 and "image:" in p.message for p in scan.problems), bad


def test_unicode_tag_feeds_are_served_with_ascii_urls(make_app: Callable[..., Flask], content: Path) -> None:
    (content / "cafe.md").write_text("---\ntitle: Café\ndate: 2026-01-01\ntags: [Café, 東京]\n---\nBody.\n", encoding="utf-8")
    client = make_app().test_client()
    for slug, quoted in (("café", "caf%C3%A9"), ("東京", "%E6%9D%B1%E4%BA%AC")):
        response = client.get(f"/tags/{quoted}/feed.json")
        assert response.status_code == 200
        document = assert_json_feed(response.data)
        assert document["feed_url"] == f"http://127.0.0.1:8000/tags/{quoted}/feed.json"
        assert_xml_feed(client.get(f"/tags/{quoted}/atom.xml").data, slug)


@pytest.mark.parametrize("replacement", ["pipe", "dangling symlink", "symlink outside"])
def test_published_file_replaced_by_something_unreadable_keeps_its_last_good_version(
    content: Path, tmp_path: Path, replacement: str
) -> None:
    index = ContentIndex(config_of(content))
    name = "2026-05-02-three-layers-of-idempotency.md"
    before = next(p for p in index.scan().posts if p.source == name)
    path = content / name
    path.unlink()
    if replacement == "pipe":
        os.mkfifo(path)
    elif replacement == "dangling symlink":
        path.symlink_to(content / "gone.md")
    else:
        (tmp_path / "elsewhere.md").write_text("---\ntitle: Elsewhere\n---\nx\n", encoding="utf-8")
        path.symlink_to(tmp_path / "elsewhere.md")
    scan = index.scan()
    assert before in scan.posts
    assert f"{name}:1: serving the last good version of this post until the file is fixed" in [str(p) for p in scan.problems]
    assert index.scan().changed == ()  # reported once, not re-read at every scan

    path.unlink()  # deleted for real: the post goes
    scan = index.scan()
    assert before not in scan.posts and scan.removed == (name,)


def test_posts_in_a_folder_that_becomes_unreadable_keep_their_last_good_version(content: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (content / "sub").mkdir()
    (content / "sub" / "2026-01-05-inside.md").write_text("---\ntitle: Inside\n---\nx\n", encoding="utf-8")
    index = ContentIndex(config_of(content))
    inside = next(p for p in index.scan().posts if p.title == "Inside")

    real_scandir = os.scandir

    def scandir(path: str | Path) -> object:
        # Root can read any folder, so the refusal is injected where the loader meets the OS.
        if Path(path).name == "sub":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(sources.os, "scandir", scandir)
    scan = index.scan()
    assert inside in scan.posts and scan.removed == ()
    reports = {str(p) for p in scan.problems}
    assert "sub:1: cannot read folder: Permission denied" in reports
    assert "sub/2026-01-05-inside.md:1: serving the last good version of this post until the file is fixed" in reports
