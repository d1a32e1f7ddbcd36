"""End to end: a real server over the sample blog plus every bad file.

Every good post stays in every feed, the feeds stay valid, and each bad file
is named as ``path:line: message`` in the log, in ``feeds check`` and in /healthz.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest

from .conftest import SITE_CONFIG
from .corpus import CASES, CLEAN, OUTSIDE_TITLE, SAMPLE, add_bad_corpus, sample_titles, without_dac_override
from .server import ServerProcess
from .wellformed import titles

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


def test_every_good_post_is_in_every_overall_feed(site: tuple[ServerProcess, Path, Path]) -> None:
    server, _, _ = site
    published = [case.title for case in CASES if case.title] + [t for t in CLEAN.values() if "<" not in t]
    skipped = {case.name for case in CASES if case.title is None}
    for path in ("/feed.xml", "/atom.xml", "/feed.json"):
        status, data = get(server, path)
        assert status == 200
        found = titles(path, data, path)
        for title in sample_titles() + published:
            assert title in found, f"{title!r} missing from {path}"
        assert OUTSIDE_TITLE not in found
        # The skipped files' titles (where they have one) never appear.
        assert not {"Broken YAML", "Unparseable date", "Impossible date", "Tags as a mapping", "Unreadable", "Huge"} & set(found)
        assert skipped  # documented above: cases without a title are the skipped ones


def test_every_feed_stays_valid(site: tuple[ServerProcess, Path, Path]) -> None:
    server, _, _ = site
    paths = feed_paths(server)
    for path in paths:
        status, data = get(server, path)
        assert status == 200, path
        assert titles(path, data, path), f"{path} has no items"


def test_healthz_names_each_bad_file(site: tuple[ServerProcess, Path, Path]) -> None:
    server, _, _ = site
    status, data = get(server, "/healthz")
    health = json.loads(data)
    assert status == 200
    assert health["status"] == "degraded"  # files with errors need a human
    for case in CASES:
        assert any(case.report.match(p) for p in health["problems"]), f"{case.name} not in /healthz"
    assert not any(p.startswith(f"bad/{name}:") for p in health["problems"] for name in CLEAN)


def test_log_names_each_bad_file(site: tuple[ServerProcess, Path, Path]) -> None:
    server, _, _ = site
    log = server.log.read_text(encoding="utf-8")
    lines = [json.loads(line.split("problem=", 1)[1]) for line in log.splitlines() if "event=content_problem" in line]
    for case in CASES:
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
    for case in CASES:
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
