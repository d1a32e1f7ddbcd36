"""Rebuild the golden feeds in tests/data/golden/ with the real app, so any byte change is a reviewed diff.

Usage (needs the test extras, e.g. after `make test`):

    .venv/bin/python scripts/regen-golden.py           # rewrite what changed, list it
    .venv/bin/python scripts/regen-golden.py --check   # change nothing; exit 1 with a diff if a file differs

The documents: the sample site's (content/, the tests' SITE_CONFIG, 10 posts per feed)
overall feed, one tag's feed, the overall feed's archive 1 (found through prev-archive)
and the podcast section's show, the overall feed of tests/data/golden/titles/ (posts and
site settings full of "&" and "<") and of tests/data/golden/empty/ (posts with no body),
each as RSS, Atom and JSON Feed; from tests/data/scopes/ (sections, authors, languages,
summary-only feeds, feed: false) one feed of each kind of scope, an archive, a post page,
the index and the OPML list; and the sample's tag "tones" as its own show of 2 episodes a
feed (TAG_SHOW_CONFIG): its current feed and archive 1. `tests/test_golden.py` compares the served
bytes with the files.
"""

from __future__ import annotations

import difflib
import json
import logging
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from feeds.render.formats import FORMATS  # noqa: E402
from feeds.web.app import create_app  # noqa: E402
from tests.conftest import SITE_CONFIG, TAG_SHOW_CONFIG  # noqa: E402

GOLDEN = ROOT / "tests" / "data" / "golden"
TITLES = GOLDEN / "titles"
EMPTY = GOLDEN / "empty"
#: The clock the goldens are built at, so a post scheduled later (content/ has one for
#: 2027) never appears in them; after every published sample post.
AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
#: Posts per feed for the sample site, so its 18 posts make an archive.
ITEMS_PER_FEED = 10
#: The tag whose feed is kept: the sample's largest (7 posts).
TAG = "distributed-systems"
SCOPES = ROOT / "tests" / "data" / "scopes"
#: The documents of tests/data/scopes/ kept, by folder under tests/data/golden/scopes/.
SCOPE_FEEDS = {
    "site": "/",
    "site-archive-1": "/archive/1/",
    "section-notes": "/sections/notes/",
    "author-bo-chen": "/authors/bo-chen/",
    "tag-history": "/tags/history/",
    "language-de": "/languages/de/",
}
SCOPE_PAGES = {
    "post-why-archives-stay-put.html": "/posts/why-archives-stay-put/",
    "post-eine-kurze-notiz.html": "/posts/eine-kurze-notiz/",
    "index.html": "/",
    "author-bo-chen.html": "/authors/bo-chen/",
    "feeds.opml": "/feeds.opml",
}
#: The podcast section of the sample (content/podcast/, [sections.podcast.podcast] in SITE_CONFIG).
SHOW = "podcast"
REGENERATE = ".venv/bin/python scripts/regen-golden.py"


@contextmanager
def client(content: Path, config: str, as_of: datetime = AS_OF, **overrides: object) -> Iterator[FlaskClient]:
    """Serve ``content`` with the settings in ``config`` (TOML) and ``overrides``, as the app would at ``as_of``."""
    with tempfile.TemporaryDirectory() as tmp:
        config_file = Path(tmp) / "feeds.toml"
        config_file.write_text(config, encoding="utf-8")
        app = create_app({"content_dir": str(content), **overrides}, config_file=config_file, env={})
        logging.getLogger("feeds").setLevel(logging.WARNING)  # content problems still show
        state = app.extensions["feeds"]
        try:
            state.builder.clock = lambda: as_of
            state.builder.rescan(force=True)
            yield app.test_client()
        finally:
            state.stop()


def get(client: FlaskClient, url: str) -> bytes:
    """Return the body served at ``url`` (absolute or a path), which must be a 200."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code} {response.data[:200]!r}")
    return bytes(response.data)


def next_url(filename: str, body: bytes) -> str:
    """Return the URL of the next older document, as the document itself says (RFC 5005 prev-archive, JSON Feed next_url)."""
    if filename.endswith(".json"):
        url = json.loads(body).get("next_url")
    else:
        links = etree.fromstring(body).iterfind(".//{http://www.w3.org/2005/Atom}link[@rel='prev-archive']")
        url = next((link.get("href") for link in links), None)
    if not url:
        raise SystemExit(f"{filename}: no older document")
    return str(url)


def documents() -> dict[str, bytes]:
    """Return every golden document by its path under tests/data/golden/."""
    found: dict[str, bytes] = {}
    with client(ROOT / "content", SITE_CONFIG, items_per_feed=ITEMS_PER_FEED) as site:
        for filename in FORMATS:
            first = get(site, f"/{filename}")
            found[f"site/overall/{filename}"] = first
            found[f"site/overall-archive-1/{filename}"] = get(site, next_url(filename, first))
            found[f"site/tag-{TAG}/{filename}"] = get(site, f"/tags/{TAG}/{filename}")
            found[f"site/section-{SHOW}/{filename}"] = get(site, f"/sections/{SHOW}/{filename}")
    with client(TITLES / "content", (TITLES / "feeds.toml").read_text(encoding="utf-8")) as titles:
        for filename in FORMATS:
            found[f"titles/{filename}"] = get(titles, f"/{filename}")
    with client(EMPTY / "content", (EMPTY / "feeds.toml").read_text(encoding="utf-8")) as empty:
        for filename in FORMATS:
            found[f"empty/{filename}"] = get(empty, f"/{filename}")
    with client(SCOPES / "content", (SCOPES / "feeds.toml").read_text(encoding="utf-8")) as scopes:
        for folder, prefix in SCOPE_FEEDS.items():
            for filename in FORMATS:
                found[f"scopes/{folder}/{filename}"] = get(scopes, prefix + filename)
        for name, path in SCOPE_PAGES.items():
            found[f"scopes/{name}"] = get(scopes, path)
    with client(ROOT / "content", SITE_CONFIG + TAG_SHOW_CONFIG, items_per_feed=ITEMS_PER_FEED) as shows:
        for filename in FORMATS:
            current = get(shows, f"/tags/tones/{filename}")
            found[f"shows/tag-tones/{filename}"] = current
            found[f"shows/tag-tones-archive-1/{filename}"] = get(shows, next_url(filename, current))
    return found


def diff(path: str, expected: bytes | None, served: bytes) -> str:
    """Return a unified diff from the golden file to the served bytes."""
    old = (expected or b"").decode("utf-8", "replace").splitlines(keepends=True)
    new = served.decode("utf-8", "replace").splitlines(keepends=True)
    return "".join(difflib.unified_diff(old, new, f"tests/data/golden/{path}", f"served {path}"))


def main(argv: list[str]) -> int:
    check = "--check" in argv
    changed = []
    for path, body in documents().items():
        file = GOLDEN / path
        old = file.read_bytes() if file.exists() else None
        if old == body:
            continue
        changed.append(path)
        if check:
            print(diff(path, old, body))
        else:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(body)
    if check and changed:
        print(f"{len(changed)} golden file(s) differ; if intended: {REGENERATE}", file=sys.stderr)
        return 1
    for path in changed:
        print(f"wrote tests/data/golden/{path}")
    print("golden files up to date" if not changed else "review the change: git diff tests/data/golden/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
