"""The served bytes of the golden documents equal tests/data/golden/ (see its README.md).

A difference fails with a unified diff and the command that rewrites the files
(scripts/regen-golden.py, which also decides what is served: this test only compares).
"""

from __future__ import annotations

import importlib.util
import re
from datetime import UTC, datetime
from types import ModuleType

import pytest

from . import feedcheck
from .conftest import DATA, ROOT, SITE_CONFIG
from .wellformed import assert_json_feed

GOLDEN = DATA / "golden"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("regen_golden", ROOT / "scripts" / "regen-golden.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REGEN = load_script()


@pytest.fixture(scope="module")
def served() -> dict[str, bytes]:
    documents: dict[str, bytes] = REGEN.documents()
    return documents


def test_golden_documents_cover_every_kind_of_scope_the_titles_site_and_the_shows_in_every_format(served: dict[str, bytes]) -> None:
    feeds = {path.rsplit("/", 1)[0] for path in served if path.endswith(("feed.xml", "atom.xml", "feed.json"))}
    shows = {f"site/section-{REGEN.SHOW}", "shows/tag-tones", "shows/tag-tones-archive-1"}
    assert feeds == {"site/overall", "site/overall-archive-1", f"site/tag-{REGEN.TAG}", "titles", "empty"} | shows | {
        f"scopes/{folder}" for folder in REGEN.SCOPE_FEEDS
    }
    assert len(served) == 3 * len(feeds) + len(REGEN.SCOPE_PAGES)
    # The archive was found through prev-archive and is not the current feed again.
    assert served["site/overall-archive-1/feed.xml"] != served["site/overall/feed.xml"]
    assert served["shows/tag-tones-archive-1/feed.xml"] != served["shows/tag-tones/feed.xml"]


def test_served_bytes_equal_the_golden_files(served: dict[str, bytes]) -> None:
    report = []
    for path, body in served.items():
        file = GOLDEN / path
        expected = file.read_bytes() if file.exists() else None
        if expected != body:
            lines = REGEN.diff(path, expected, body).splitlines()
            report += lines[:80] + ([f"... {len(lines) - 80} more lines"] if len(lines) > 80 else [])
    if report:
        report.append(f"If the change is intended, run {REGEN.REGENERATE} and review git diff tests/data/golden/")
        pytest.fail("\n".join(report), pytrace=False)


def test_no_stray_golden_files(served: dict[str, bytes]) -> None:
    kept = {str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*") if p.is_file() and p.suffix in (".xml", ".json", ".html", ".opml")}
    kept -= {str(p.relative_to(GOLDEN)) for p in (GOLDEN / "titles" / "known-bad").iterdir()}
    assert kept == set(served)


def test_goldens_are_built_at_a_fixed_time(served: dict[str, bytes]) -> None:
    """content/ holds a post scheduled for 2027: built as of AS_OF, the goldens never show it, whatever the date."""
    slug = next((ROOT / "content").glob("2027-*.md")).stem[len("2027-06-01-") :].encode()
    assert not any(slug in body for body in served.values())
    with REGEN.client(ROOT / "content", SITE_CONFIG, as_of=datetime(2027, 7, 1, tzinfo=UTC)) as later:
        assert slug in later.get("/feed.xml").data


def test_posts_with_no_body_write_no_blank_element(served: dict[str, bytes]) -> None:
    """The validator's NotBlank: an empty body leaves content and summary out (JSON Feed: an empty content_text)."""
    site = "http://empty.example"
    assert feedcheck.rss(f"{site}/feed.xml", served["empty/feed.xml"], home=f"{site}/", hubs=()) == []
    assert feedcheck.atom(f"{site}/atom.xml", served["empty/atom.xml"], home=f"{site}/", hubs=(), feed_id=f"{site}/atom.xml") == []
    items = assert_json_feed(served["empty/feed.json"])["items"]
    assert [(item.get("content_html"), item.get("content_text"), item.get("summary")) for item in items] == [
        ("<h2>Only a heading</h2>\n", None, None),
        (None, "", "The front matter's summary is all there is."),
        (None, "", None),
        (None, "", None),
    ]
    for filename in ("feed.xml", "atom.xml"):
        assert not re.search(rb"<(content|summary|description|content:encoded)[^>]*(/>|>\s*</)", served[f"empty/{filename}"])
