"""Property tests: whatever a post file holds, every format stays well-formed.

Hypothesis writes a post with arbitrary front matter values and body (any
Unicode including lone surrogates and control characters, markup, odd types),
saves it next to one good post, and publishes the folder through the reference
pipeline of tests/builds.py (scan, select, plan, render every document), then
checks every body: RSS/Atom parse strictly with lxml and without bozo in feedparser,
JSON Feed validates against the JSON Feed 1.1 schema, HTML/OPML are UTF-8
(OPML parses as XML). A file may be rejected, but only as a reported problem.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from .builds import Reference, reference, site_config
from .conftest import SITE_CONFIG
from .wellformed import assert_json_feed, assert_xml_feed

NOW = datetime(2026, 11, 1, tzinfo=UTC)

GOOD_POST = "---\ntitle: A good post\ndate: 2026-01-01\ntags: [Good]\n---\nHello.\n"

#: Characters that break feeds, YAML or HTML when let through.
NASTY = [
    "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\x9f",
    "\ud800", "\udbff", "\udc00", "\udfff", "\ufffe", "\uffff", "\ufeff", "\u2028", "\u2029",
    "\r", "\n", "\t", "\U0001f600", "\u202e", "\u0301",
]  # fmt: skip
#: Markup and syntax fragments.
MARKUP = [
    "<script>alert(1)</script>", "]]>", "<![CDATA[", "&", "&amp;", "&#0;", "&#1;", "&#xD800;", "&#xFFFF;", "&bogus;",
    "<!--", "-->", "<", ">", '"', "'", "---", "```", "`", "*", "_", "[x](javascript:alert(1))", "![i](../img.png)",
    "[^1]", "[^1]: note", "| a | b |\n|---|---|\n| 1 | 2 |", "<a href='rel/x'>x</a>", "<img srcset='a.png 1x, b.png 2x'>",
    "\\", "{{ x }}", "{% x %}", "%s", "# ", "> ", "- ", "1. ", "    code", ":", "- [", "{", "}", "&lt;", "<?xml?>",
]  # fmt: skip

chars = st.one_of(st.characters(codec=None, categories=None), st.sampled_from(NASTY))
texts = st.lists(st.one_of(st.text(chars, max_size=8), st.sampled_from(MARKUP), st.sampled_from(NASTY)), max_size=12).map("".join)
zones = st.sampled_from([None, UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12)), timezone(timedelta(minutes=345))])
moments = st.datetimes(min_value=datetime(1901, 1, 2), max_value=datetime(2026, 10, 1), timezones=zones)
scalars = st.one_of(texts, st.integers(), st.floats(), st.booleans(), st.none(), moments, st.dates(max_value=date(2026, 10, 1)))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3), max_leaves=6)


@st.composite
def front_matter(draw: st.DrawFn) -> dict[str, Any]:
    """A mapping of mostly plausible fields with arbitrary content, and sometimes anything at all."""
    meta: dict[str, Any] = {"title": draw(st.one_of(texts, texts.map(lambda t: "T" + t), values))}
    meta["date"] = draw(st.one_of(moments, st.dates(min_value=date(1901, 1, 2), max_value=date(2026, 10, 1)), texts, values))
    optional: dict[str, st.SearchStrategy[Any]] = {
        "updated": st.one_of(moments, texts),
        "summary": st.one_of(texts, values),
        "tags": st.one_of(st.lists(st.one_of(texts, st.text(chars, min_size=1, max_size=3)), max_size=3), texts, values),
        "authors": st.one_of(
            st.lists(st.one_of(texts, st.fixed_dictionaries({"name": texts}, optional={"email": texts, "url": texts})), max_size=2),
            values,
        ),
        "slug": st.one_of(texts, st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)),
        "id": texts,
        "link": st.one_of(texts, st.just("https://example.com/a?b=<c>&d")),
        "image": st.one_of(texts, st.just("/img/x.png")),
        "draft": st.one_of(st.just(False), values),
        "enclosure": st.one_of(
            st.fixed_dictionaries({"url": texts, "type": st.sampled_from(["audio/mpeg", "x"]), "length": st.integers()}), values
        ),
        "reading_time": values,
        "extra": values,
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            meta[name] = draw(strategy)
    return meta


@st.composite
def post_files(draw: st.DrawFn) -> bytes:
    """The bytes of a post file: YAML-dumped (escapes included) or raw text, in varied encodings."""
    meta = draw(front_matter())
    body = draw(texts)
    if draw(st.booleans()):
        fm = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False)
    else:  # raw values straight into the file, as a careless editor would write them
        fm = "".join(f"{key}: {value}\n" for key, value in meta.items())
    text = f"---\n{fm}---\n{body}\n"
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8", "surrogatepass")  # lone surrogates as bytes, as a buggy tool writes them
    return b"\xef\xbb\xbf" + data if draw(st.booleans()) else data


def check_bodies(published: Reference) -> None:
    """Every feed parses strictly (JSON Feed against its schema), OPML is XML, HTML pages and views are UTF-8."""
    assert published.bodies.keys() == {doc.path for doc in published.plan.docs}
    for path, body in published.bodies.items():
        if path.endswith(".json"):
            assert_json_feed(body, path)
        elif path.endswith(".xml"):
            assert_xml_feed(body, path)
        elif path.endswith(".opml"):
            etree.fromstring(body, etree.XMLParser(recover=False))
        else:
            body.decode("utf-8")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(post_files())
def test_any_post_file_keeps_every_format_well_formed(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        content = root / "content"
        content.mkdir()
        (content / "2026-01-01-good.md").write_text(GOOD_POST, encoding="utf-8")
        (content / "2025-06-01-generated.md").write_bytes(data)
        (root / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
        published = reference(site_config(root / "feeds.toml", content), NOW)

        generated = [p for p in published.scan.posts if p.source == "2025-06-01-generated.md"]
        reported = [p for p in published.scan.problems if p.path == "2025-06-01-generated.md"]
        assert generated or reported, "a rejected file must be reported"
        assert any(p.source == "2026-01-01-good.md" for p in published.site.posts)
        check_bodies(published)


@settings(max_examples=60, deadline=None)
@given(title=texts, body=texts, tags=st.lists(texts, max_size=3))
def test_any_field_text_publishes_well_formed(title: str, body: str, tags: list[str]) -> None:
    """A valid post whose title, tags and body hold anything: it publishes, and the feeds stay valid."""
    meta = {"title": "T " + title, "date": date(2026, 1, 2), "tags": tags}
    data = f"---\n{yaml.safe_dump(meta, allow_unicode=True)}---\n{body}\n".encode("utf-8", "surrogatepass")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        content = root / "content"
        content.mkdir()
        (content / "post.md").write_bytes(data)
        (root / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
        published = reference(site_config(root / "feeds.toml", content), NOW)
        scan = published.scan
        assert [p.source for p in scan.posts] == ["post.md"], [str(p) for p in scan.problems]
        assert not [p for p in scan.problems if p.severity == "error"]
        assert [p.source for p in published.site.posts] == ["post.md"]
        check_bodies(published)
