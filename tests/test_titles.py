"""Titles, tags, names and site settings holding "&", "<" and ">" reach clients as typed, and the validator says nothing.

The site in tests/data/golden/titles/ (its golden bytes are pinned by test_golden.py)
is read by real parsers: feedparser 6 (RSS, Atom), reader (RSS, Atom, JSON Feed) and
feedparser's main branch for JSON Feed. How each format carries such text, and why,
is in the manual (docs/standards.md, "Titles") and feeds/render/formats/_text.py.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from typing import Any

import feedparser
import pytest
from lxml import etree

from feeds.render.formats import FORMATS
from feeds.render.formats._text import hex_references, looks_like_html
from feeds.web.app import create_app

from . import feedcheck
from .conftest import DATA
from .wellformed import assert_json_feed

SITE = DATA / "golden" / "titles"
URL = "http://127.0.0.1:8000"

#: What the author typed (titles/content/*.md, newest first, and titles/feeds.toml).
TITLES = ["Escaping: write &amp; for & and &#60; for <", "Why </title> and <script> tags fail", 'AT&T <b>bold</b> & "quotes"']
TAGS = {TITLES[0]: ["Q&A"], TITLES[1]: ["C++ & <Rust>"], TITLES[2]: ["C++ & <Rust>", "Q&A"]}
SITE_TITLE = 'Q&A <Notes> & "more"'
DESCRIPTION = "Fish & chips, </b> & <i>more</i>"
AUTHOR = "Tom & Jerry <cartoon>"
POST_AUTHOR = "Ben & Jerry <ice@cream>"  # the AT&T post's own author

#: The titles each XML format sends as HTML (an end tag or an entity reference in RSS, an end tag in Atom).
SENT_AS_HTML = {"feed.xml": set(TITLES), "atom.xml": set(TITLES[1:]), "feed.json": set()}


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, bytes]]:
    """The overall and the "C++ & <Rust>" tag feeds of the titles site, by path."""
    app = create_app({"content_dir": str(SITE / "content")}, config_file=SITE / "feeds.toml", env={})
    client = app.test_client()
    yield {f"{scope}{name}": client.get(f"/{scope}{name}").data for scope in ("", "tags/c-rust/") for name in FORMATS}
    app.extensions["feeds"].stop()


def shown(detail: Any) -> str:
    """What a client that honours feedparser's ``*_detail.type`` shows: text as is, HTML as the text it encodes."""
    if detail.type == "text/html":
        assert "<" not in detail.value, f"markup in {detail.value!r}"  # escaped text only: nothing to strip
        return html.unescape(detail.value)
    assert detail.type == "text/plain"
    return str(detail.value)


@pytest.mark.parametrize("name", ["feed.xml", "atom.xml"])
def test_feedparser_shows_every_title_tag_and_name_as_typed(served: dict[str, bytes], name: str) -> None:
    parsed = feedparser.parse(served[name])
    assert not parsed.bozo
    assert shown(parsed.feed.title_detail) == SITE_TITLE
    assert shown(parsed.feed.subtitle_detail) == DESCRIPTION
    assert [shown(e.title_detail) for e in parsed.entries] == TITLES
    assert [[t.term for t in e.tags] for e in parsed.entries] == [TAGS[t] for t in TITLES]
    names = [e.author_detail.get("name") or e.author for e in parsed.entries]
    assert names == [AUTHOR, AUTHOR, POST_AUTHOR]
    # The HTML/text split is the documented one, not an accident of these titles.
    assert {t for t, e in zip(TITLES, parsed.entries, strict=True) if e.title_detail.type == "text/html"} == SENT_AS_HTML[name]


def test_feedparser_shows_the_tag_feed_title_and_description_as_typed(served: dict[str, bytes]) -> None:
    for name in ("feed.xml", "atom.xml"):
        feed = feedparser.parse(served[f"tags/c-rust/{name}"]).feed
        assert shown(feed.title_detail) == f"{SITE_TITLE}: C++ & <Rust>"
        assert shown(feed.subtitle_detail) == f"Posts tagged C++ & <Rust> on {SITE_TITLE}."


def test_json_feed_carries_plain_text(served: dict[str, bytes]) -> None:
    """JSON Feed's title is plain text by spec (https://www.jsonfeed.org/version/1.1/): written as typed."""
    feed = assert_json_feed(served["feed.json"], "titles feed.json")
    assert (feed["title"], feed["description"], feed["authors"][0]["name"]) == (SITE_TITLE, DESCRIPTION, AUTHOR)
    assert [item["title"] for item in feed["items"]] == TITLES
    assert [item["tags"] for item in feed["items"]] == [TAGS[t] for t in TITLES]
    assert [item["authors"][0]["name"] for item in feed["items"]] == [AUTHOR, AUTHOR, POST_AUTHOR]


def test_the_w3c_rules_pass_on_every_titles_feed(served: dict[str, bytes]) -> None:
    problems = []
    for path, body in served.items():
        url = f"{URL}/{path}"
        home = url.rsplit("/", 1)[0] + "/"
        if path.endswith("feed.xml"):
            problems += feedcheck.rss(url, body, home=home, hubs=())
        elif path.endswith("atom.xml"):
            problems += feedcheck.atom(url, body, home=home, hubs=(), feed_id=url)
    assert problems == []


def test_the_w3c_rules_report_what_feeds_served_before() -> None:
    """titles/known-bad/: the same site before issue 10. The real validator reports these same messages there."""
    rss = "\n".join(feedcheck.rss(f"{URL}/feed.xml", (SITE / "known-bad" / "feed.xml").read_bytes(), home=f"{URL}/", hubs=()))
    atom_body = (SITE / "known-bad" / "atom.xml").read_bytes()
    atom = "\n".join(feedcheck.atom(f"{URL}/atom.xml", atom_body, home=f"{URL}/", hubs=(), feed_id=f"{URL}/atom.xml"))
    assert "channel/description: ContainsHTML </b>" in rss
    assert "title: ContainsHTML </b>" in rss and "title: ContainsHTML </title>" in rss and "title: ContainsHTML &amp" in rss
    assert "category: CharacterData" in rss and "author: CharacterData" in rss  # "C++ &amp; &lt;Rust&gt;"
    assert atom.count(" title: ContainsUndeclaredHTML") == 3 and "feed/subtitle: ContainsUndeclaredHTML </b>" in atom


def test_the_rules_spare_plain_text_only_when_it_is_spelled_with_hex_references() -> None:
    """The validator's RSS Profile check: "&" and "<" as &#x26; and &#x3C; mark the text as plain."""
    for spelling, expected in (("C++ &amp; &lt;Rust&gt;", ["CharacterData"]), ("C++ &#x26; &#x3C;Rust&#x3E;", [])):
        element = etree.fromstring(f"<category>{spelling}</category>")
        problems = feedcheck.nonhtml("x", element, [f"<category>{spelling}</category>"], rss2=True)
        assert [p.split(": ")[1].split(" ")[0] for p in problems] == expected


@pytest.mark.parametrize(
    ("text", "html_like"),
    [
        ('AT&T <b>bold</b> & "quotes"', True),
        ("Why </title> and <script> tags fail", True),
        ("write &amp; for &", True),
        ("&#60; or &#x3C;", True),
        ("C++ & <Rust>", False),
        ("a <b> c", False),
        ("Q&A", False),
        ("plain", False),
    ],
)
def test_what_looks_like_html(text: str, html_like: bool) -> None:
    assert looks_like_html(text) is html_like


def test_hex_references_change_the_spelling_only() -> None:
    xml = b"<r><title>A &amp; &lt;B&gt;</title><other>A &amp; B</other><title type='html'>&amp;lt;</title></r>"
    rewritten = hex_references(xml, ("title",))
    assert rewritten == b"<r><title>A &#x26; &#x3C;B&#x3E;</title><other>A &amp; B</other><title type='html'>&#x26;lt;</title></r>"
    assert [e.text for e in etree.fromstring(rewritten)] == [e.text for e in etree.fromstring(xml)]


# reader (https://github.com/lemon24/reader) through its public API, reading the served files.


@pytest.fixture(scope="module")
def read(served: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    reader = pytest.importorskip("reader")
    root = tmp_path_factory.mktemp("reader")
    for name in FORMATS:
        (root / name).write_bytes(served[name])
    library = reader.make_reader(":memory:", feed_root=str(root))
    for name in FORMATS:
        library.add_feed(f"file:{name}")
    library.update_feeds()
    feeds = {}
    for name in FORMATS:
        feed = library.get_feed(f"file:{name}")
        assert feed.last_exception is None, (name, feed.last_exception)
        feeds[name] = (feed, list(library.get_entries(feed=feed)))
    library.close()
    return feeds


@pytest.mark.parametrize("name", list(FORMATS))
def test_reader_shows_titles_as_typed_except_those_sent_as_html(read: dict[str, Any], name: str) -> None:
    """reader keeps feedparser's value but not its type, so a title sent as HTML shows escaped (lemon24/reader#121).

    For such titles no spelling satisfies both: any RSS or Atom text whose decoded value holds
    ``</b>`` draws the validator's ContainsHTML / ContainsUndeclaredHTML. JSON Feed is exact.
    """
    feed, entries = read[name]
    assert feed.title == SITE_TITLE
    expected = [html.escape(t, quote=False) if t in SENT_AS_HTML[name] else t for t in TITLES]
    assert [e.title for e in entries] == expected
    if name != "feed.xml":  # reader splits RSS "email (Name)" its own way
        assert [e.authors[0].name for e in entries] == [AUTHOR, AUTHOR, POST_AUTHOR]


def test_feedparser_main_reads_the_json_feed_author(served: dict[str, bytes]) -> None:
    """feedparser's JSON Feed parser (main branch, not released in 6.x) reads only the 1.0 ``author``.

    kurtmckee/feedparser a22c5521, feedparser/parsers/json.py: ``if "author" in data:
    self.parse_author(data["author"], self.feeddata)`` and the same per item; ``authors`` is
    never read. reader 3.26 vendors that file unchanged as reader._vendor.feedparser; feedparser 6
    (what rss2email and most Python tools use) does not read JSON Feed at all.
    """
    main = pytest.importorskip("reader._vendor.feedparser")
    parsed = main.parse(served["feed.json"])
    assert parsed.version == "json11"
    assert parsed.feed.author == AUTHOR
    assert [e.author for e in parsed.entries] == [AUTHOR, AUTHOR, POST_AUTHOR]
    assert [e.title for e in parsed.entries] == TITLES
    assert feedparser.parse(served["feed.json"]).entries == []


def test_json_feed_author_is_the_first_of_authors(served: dict[str, bytes]) -> None:
    feed = json.loads(served["feed.json"])
    assert feed["author"] == feed["authors"][0]
    assert all(item["author"] == item["authors"][0] for item in feed["items"])
