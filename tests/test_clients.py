"""Real third-party consumers, end to end, against a real ``feeds serve`` on 127.0.0.1.

Nobody here wrote these clients: lemon24's ``reader`` (a feed reader library,
with its own SQLite storage and HTTP caching), ``feedparser``'s own HTTP client
(the engine of rss2email and many aggregators) and flask-websub's WebSub hub
(a separate process, ``tests/hub.py``), delivering to a subscriber callback
that runs here. The same checks with newsboat and rss2email from Debian are in
``scripts/check-clients.sh`` (run by hand).
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import feedparser
import pytest
from prometheus_client.parser import text_string_to_metric_families
from reader import Reader, UpdatedFeed, make_reader

from .conftest import SAMPLE
from .hub import HubProcess
from .server import ServerProcess, free_port
from .waiting import wait_until

FORMATS = ("feed.xml", "atom.xml", "feed.json")
TOKEN = "client-tests"
#: A post tagged only with non-ASCII tags, titled with every character XML and HTML escape.
UNICODE_POST = "2026-05-12-unicode-tags.md"
TAGS = ("日本語", "café")
#: (A title with an end tag such as </b> is sent as escaped HTML in RSS and Atom, which reader shows escaped because
#: it ignores the type, lemon24/reader#121; tests/test_titles.py pins that case with feedparser, which honours it.)
TITLE = 'Tags & <Rust> "quoted" it\'s'
#: A sample post without ``updated:`` in its front matter.
EDITED = "2026-05-02-three-layers-of-idempotency.md"
EDITED_ID = "tag:127.0.0.1,2026-05-02:three-layers-of-idempotency"


def tag_path(tag: str, name: str = "feed.xml") -> str:
    """Return a tag feed's path, percent-encoded as its self link (these tags are their own slugs)."""
    return f"/tags/{quote(tag.casefold())}/{name}"


@pytest.fixture
def served(content: Path, config_file: Path) -> Iterator[ServerProcess]:
    """A real ``feeds serve`` over the sample posts plus one with non-ASCII tags; rescans only on POST /-/rebuild."""
    title = TITLE.replace("'", "''")  # YAML single quotes
    (content / UNICODE_POST).write_text(f"---\ntitle: '{title}'\ntags: [{', '.join(TAGS)}]\n---\nTagged in two scripts.\n", "utf-8")
    env = {"FEEDS_REBUILD_TOKEN": TOKEN, "FEEDS_SCAN_INTERVAL": "3600", "FEEDS_ITEMS_PER_FEED": "50"}
    with ServerProcess(content, config_file, env=env) as server:
        yield server


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Reader]:
    """lemon24's reader with its own SQLite file; timeouts, so an answer that never comes fails the test."""
    opened = make_reader(str(tmp_path / "reader.sqlite"), session_timeout=(5, 5))
    yield opened
    opened.close()


def rebuild(server: ServerProcess) -> None:
    """Rescan now, as a deploy hook would, and check the snapshot changed (or a queued run, which can publish it, ran)."""
    queued = server.request("/-/rebuild", {"Authorization": f"Bearer {TOKEN}"}, method="POST")
    reply = server.rebuild(TOKEN) if queued.status == 202 else queued
    assert reply.status == 200, reply.body
    assert json.loads(reply.body)["changed"] is True or queued.status == 202


def answered(server: ServerProcess, name: str, status: int) -> float:
    """Return how many feed answers of a format and status the server counted (its /metrics)."""
    wanted = {"route": "feed", "format": {"feed.xml": "rss", "atom.xml": "atom", "feed.json": "json"}[name], "status": str(status)}
    for family in text_string_to_metric_families(server.request("/metrics").body.decode()):
        for sample in family.samples:
            if sample.name == "feeds_requests_total" and sample.labels == wanted:
                return sample.value
    return 0.0


def update(subscribed: Reader) -> dict[str, UpdatedFeed | None]:
    """Update every feed now (not only those reader has scheduled); None means the server said 304."""
    results = {result.url: result.value for result in subscribed.update_feeds_iter(scheduled=False, workers=3)}
    errors = {url: value for url, value in results.items() if isinstance(value, Exception)}
    assert not errors, errors
    return {url: value for url, value in results.items() if not isinstance(value, Exception)}


def texts(subscribed: Reader, url: str, entry_id: str) -> str:
    """Return everything reader stored as an entry's text: content and summary."""
    entry = subscribed.get_entry((url, entry_id))
    return " ".join([*(c.value for c in entry.content), entry.summary or ""])


def append_paragraph(post: Path, text: str) -> None:
    """Edit a post's body only: front matter (and so ``updated``) untouched."""
    post.write_text(post.read_text("utf-8") + f"\n{text}\n", "utf-8")


def add_backdated_post(folder: Path) -> str:
    """Add a post dated before the newest one; return its title."""
    (folder / "2026-05-03-written-last-dated-earlier.md").write_text(
        "---\ntitle: Written last, dated earlier\ndate: 2026-05-03T12:00:00Z\ntags: [Go]\n---\nA backdated post.\n", "utf-8"
    )
    return "Written last, dated earlier"


# lemon24's reader


def test_reader_reads_every_post_in_every_format(served: ServerProcess, reader: Reader) -> None:
    urls = [served.url(f"/{name}") for name in FORMATS]
    for url in urls:
        reader.add_feed(url)
    results = update(reader)
    # Every published post but the podcast section's, which has its own feeds (site_feeds = false).
    posts = json.loads(served.request("/healthz").body)["posts"] - len(list((SAMPLE / "podcast").glob("*.md")))
    assert {url: (value.new if value else None) for url, value in results.items()} == dict.fromkeys(urls, posts)
    titles = [{entry.title for entry in reader.get_entries(feed=url)} for url in urls]
    assert titles[0] == titles[1] == titles[2]
    assert TITLE in titles[0]  # the characters as typed, in RSS, Atom and JSON Feed alike
    assert [reader.get_feed(url).version for url in urls] == ["rss20", "atom10", "json11"]


def test_reader_second_update_of_unchanged_feeds_is_answered_304(served: ServerProcess, reader: Reader) -> None:
    for name in FORMATS:
        reader.add_feed(served.url(f"/{name}"))
    update(reader)
    before = {name: (answered(served, name, 200), answered(served, name, 304)) for name in FORMATS}
    assert set(update(reader).values()) == {None}  # reader's own word for "not modified"
    after = {name: (answered(served, name, 200), answered(served, name, 304)) for name in FORMATS}
    assert after == {name: (ok, not_modified + 1) for name, (ok, not_modified) in before.items()}  # the server's word


def test_reader_sees_a_body_edit_that_leaves_updated_alone(served: ServerProcess, reader: Reader, content: Path) -> None:
    urls = [served.url(f"/{name}") for name in FORMATS]
    for url in urls:
        reader.add_feed(url)
    update(reader)
    assert all("Edited after the first poll" not in texts(reader, url, EDITED_ID) for url in urls)
    append_paragraph(content / EDITED, "Edited after the first poll.")
    rebuild(served)
    results = update(reader)
    assert {url: getattr(results[url], "modified", None) for url in urls} == dict.fromkeys(urls, 1)  # the edited entry, no other
    for url in urls:
        assert "Edited after the first poll" in texts(reader, url, EDITED_ID), url


def test_reader_sees_a_backdated_post(served: ServerProcess, reader: Reader, content: Path) -> None:
    urls = [served.url(f"/{name}") for name in FORMATS]
    for url in urls:
        reader.add_feed(url)
    update(reader)
    title = add_backdated_post(content)
    rebuild(served)
    results = update(reader)
    assert {url: (value.new if value else None) for url, value in results.items()} == dict.fromkeys(urls, 1)
    for url in urls:
        assert title in {entry.title for entry in reader.get_entries(feed=url)}


@pytest.mark.parametrize("tag", ["日本語", "café"])
def test_reader_follows_a_non_ascii_tag_feed(served: ServerProcess, reader: Reader, content: Path, tag: str) -> None:
    urls = [served.url(tag_path(tag, name)) for name in FORMATS]
    assert f'xmlUrl="{urls[0]}"'.encode() in served.request("/feeds.opml").body  # the URL a subscriber discovers
    for url in urls:
        reader.add_feed(url)
    assert {url: (value.new if value else None) for url, value in update(reader).items()} == dict.fromkeys(urls, 1)
    assert all({entry.title for entry in reader.get_entries(feed=url)} == {TITLE} for url in urls)
    assert set(update(reader).values()) == {None}
    append_paragraph(content / UNICODE_POST, "Edited in every tag feed.")
    rebuild(served)
    update(reader)
    for url in urls:
        entry = next(iter(reader.get_entries(feed=url)))
        assert "Edited in every tag feed" in texts(reader, url, entry.id), url


# feedparser's HTTP client when it keeps only Last-Modified (no ETag), as some pollers do


@pytest.mark.parametrize("change", ["edit", "backdated"])
def test_a_client_sending_only_if_modified_since_sees_the_change(served: ServerProcess, content: Path, change: str) -> None:
    url = served.url("/atom.xml")
    first = feedparser.parse(url)
    assert first.status == 200 and first.modified
    if change == "edit":
        append_paragraph(content / EDITED, "Edited for a Last-Modified poller.")
        wanted = "Edited for a Last-Modified poller"
    else:
        wanted = add_backdated_post(content)
    rebuild(served)
    second = feedparser.parse(url, modified=first.modified)
    assert second.status == 200
    assert wanted in json.dumps(second.entries, default=str)


# A real WebSub hub (flask-websub, from PyPI) and a subscriber


@dataclass
class Subscriber:
    """A WebSub subscriber's callback on 127.0.0.1: echoes ``hub.challenge``, records each delivery.

    https://www.w3.org/TR/websub/#hub-verifies-intent, https://www.w3.org/TR/websub/#content-distribution
    """

    verified: list[dict[str, str]] = field(default_factory=list)
    #: (callback path, headers, body) of every content POST.
    deliveries: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                with subscriber.lock:
                    subscriber.verified.append(query)
                body = query.get("hub.challenge", "").encode()
                self.send_response(200 if query.get("hub.mode") == "subscribe" else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with subscriber.lock:
                    subscriber.deliveries.append((urllib.parse.urlsplit(self.path).path, dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def subscribe(self, hub: HubProcess, topic: str, name: str) -> str:
        """Ask the hub for ``topic`` at callback ``/<name>``; wait (bounded) until the hub has verified and stored it."""
        callback = f"{self.base}/{name}"
        form = urllib.parse.urlencode({"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": callback}).encode()
        with urllib.request.urlopen(urllib.request.Request(hub.url, data=form), timeout=10) as response:
            assert response.status == 202

        def stored() -> bool:
            return (topic, callback) in hub.subscriptions()

        wait_until(stored, 20, f"the hub to store {topic} → {callback}", detail=hub.log.read_text)
        return callback

    def received(self, name: str) -> list[tuple[dict[str, str], bytes]]:
        """Return what the hub delivered to ``/<name>``, bodies decoded."""
        with self.lock:
            found = [(headers, body) for path, headers, body in self.deliveries if path == f"/{name}"]
        # flask-websub forwards the topic's response headers (Content-Encoding: gzip
        # included) beside the body requests already decoded: decode only real gzip.
        return [(headers, gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body) for headers, body in found]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    running = Subscriber()
    yield running
    running.close()


def pings_ok(server: ServerProcess) -> float:
    text = server.request("/metrics").body.decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "feeds_websub_pings_total" and s.labels.get("result") == "ok"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/feed.xml",
        tag_path("日本語"),
        tag_path("café"),
    ],
)
def test_a_real_hub_delivers_an_edit_to_a_subscriber(
    content: Path, config_file: Path, tmp_path: Path, subscriber: Subscriber, path: str
) -> None:
    tags = ", ".join(TAGS)
    (content / UNICODE_POST).write_text(f"---\ntitle: Tagged twice\ntags: [{tags}]\n---\nFirst version.\n", "utf-8")
    with HubProcess(tmp_path, free_port()) as hub:
        env = {"FEEDS_WEBSUB_HUBS": hub.url, "FEEDS_REBUILD_TOKEN": TOKEN, "FEEDS_SCAN_INTERVAL": "3600"}
        with ServerProcess(content, config_file, env=env) as server:
            topic = server.url(path)
            subscriber.subscribe(hub, topic, "inbox")
            append_paragraph(content / UNICODE_POST, "Second version, pushed by the hub.")
            rebuild(server)
            changed = 3 * (1 + len(TAGS))  # the overall feeds and both tags' feeds, three formats each
            wait_until(lambda: pings_ok(server) >= changed, 20, "the hub to accept every ping", detail=server.log.read_text)
            wait_until(lambda: subscriber.received("inbox"), 8, f"a delivery for {topic}", detail=hub.log.read_text)
        headers, body = subscriber.received("inbox")[-1]
    assert b"Second version, pushed by the hub." in body
    assert re.search(rf'<atom:link href="{re.escape(topic)}" rel="self"'.encode(), body)  # the topic is the feed's self link
    assert f'<{topic}>; rel="self"' in headers["Link"] and f'<{hub.url}>; rel="hub"' in headers["Link"]


@pytest.fixture
def scopes_served(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real ``feeds serve`` over tests/data/scopes/: sections, several authors, two languages."""
    root = Path(__file__).resolve().parent / "data" / "scopes"
    shutil.copytree(root / "content", tmp_path / "scopes")
    with ServerProcess(tmp_path / "scopes", root / "feeds.toml") as server:
        yield server


def test_reader_and_feedparser_read_author_and_section_feeds_with_the_authors_names(scopes_served: ServerProcess, reader: Reader) -> None:
    """Issue 19.8: a reader shows the author's name (RSS dc:creator), never an email address."""
    feeds = {f"/authors/bo-chen/{name}": "Bo Chen" for name in FORMATS} | {f"/sections/essays/{name}": "Ana Lima" for name in FORMATS}
    for path in feeds:
        reader.add_feed(scopes_served.url(path))
    update(reader)
    for path, name in feeds.items():
        entries = list(reader.get_entries(feed=scopes_served.url(path)))
        assert entries, path
        assert all(entry.author and "@" not in entry.author for entry in entries), path
        assert name in {entry.author for entry in entries}, (path, [entry.author for entry in entries])
        if path.endswith(".xml"):  # feedparser 6 reads RSS and Atom
            parsed = feedparser.parse(scopes_served.request(path).body)
            # (feedparser writes an Atom author as "Name (email)" when the document gives an email, as Atom may.)
            names = {entry.author_detail.name for entry in parsed.entries}
            assert not parsed.bozo and name in names and not any("@" in n for n in names), path
    essays = {entry.title for entry in reader.get_entries(feed=scopes_served.url("/sections/essays/feed.xml"))}
    assert essays == {"Written together", "Why archives stay put"}
