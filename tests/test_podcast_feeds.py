"""The sample show's feeds, served by a real ``feeds serve``: valid by the W3C validator's rules and read back by podcast apps' parsers.

Three parsers read the RSS feed, each the way its app does: gPodder's ``podcastparser``,
the Podcast Index's ``podcast-partytime`` (Node, installed under tests/podcast-apps by
``make test``) and feedparser's iTunes support (rss2email, reader and most Python tools).
Every field Apple requires or recommends is checked in what each one read.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import podcastparser
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from feeds.podcast import show_guid

from . import feedcheck
from .conftest import DATA
from .server import ServerProcess

SHOW = DATA / "podcast"
APPS = Path(__file__).resolve().parent / "podcast-apps"
SCHEMA = json.loads((DATA / "jsonfeed-1.1.schema.json").read_text(encoding="utf-8"))
#: What the sample show's episodes are, newest first: (title, media file, duration, season, episode, type).
EPISODES = [
    ("A Falling Scale (Bonus)", "episode-3.mp3", 8, 1, None, "bonus"),
    ("Two Tones", "episode-2.mp3", 8, 1, 2, None),
    ("Three Tones", "episode-1.mp3", 10, 1, 1, None),
]


def fetch(url: str, method: str = "GET") -> tuple[str, bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, method=method)) as response:
        return response.headers["Content-Type"], response.read()


@pytest.fixture(scope="module")
def show(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("show")
    shutil.copytree(SHOW / "content", root / "content")
    shutil.copy(SHOW / "feeds.toml", root / "feeds.toml")
    with ServerProcess(root / "content", root / "feeds.toml") as server:
        yield server


@pytest.fixture(scope="module")
def rss(show: ServerProcess) -> bytes:
    return fetch(show.url("/feed.xml"))[1]


def test_rss_atom_and_json_feed_are_valid_with_zero_warnings(show: ServerProcess, rss: bytes) -> None:
    home = show.url("/")
    assert feedcheck.rss(show.url("/feed.xml"), rss, home=home, hubs=()) == []
    atom = fetch(show.url("/atom.xml"))[1]
    assert feedcheck.atom(show.url("/atom.xml"), atom, home=home, hubs=(), feed_id=show.url("/atom.xml")) == []
    feed = json.loads(fetch(show.url("/feed.json"))[1])
    assert [e.message for e in Draft202012Validator(SCHEMA, format_checker=FormatChecker()).iter_errors(feed)] == []


def test_the_itunes_checks_catch_what_they_name() -> None:
    """The stand-in for the validator's iTunes rules is not vacuous: a show missing what Apple needs is reported."""
    bad = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel><title>t</title>
<link>http://x.test/</link><description>d</description>
<itunes:category text="Tech"/><itunes:explicit>yes</itunes:explicit><itunes:complete>Yes</itunes:complete>
<item><title>a</title><enclosure url="http://x.test/a.wav" length="1" type="audio/wav"/>
<itunes:duration>1:75</itunes:duration><itunes:episode>0</itunes:episode><itunes:episodeType>full</itunes:episodeType>
<itunes:episodeType>full</itunes:episodeType></item></channel></rss>"""
    text = "\n".join(feedcheck.itunescheck.check("http://x.test/feed.xml", feedcheck.parse(bad).find("channel")))
    for message in (
        "MissingItunesElement language",
        "MissingItunesEmail",
        "InvalidItunesCategory 'Tech'",
        "InvalidTrueFalse 'yes'",
        "UndefinedElement itunes:complete",  # the validator predates Apple's itunes:complete (see docs/podcasts.md)
        "UnsupportedItunesFormat 'wav'",
        "InvalidDuration '1:75'",
        "InvalidPositiveInteger '0'",
        "DuplicateElement itunes:episodeType",
    ):
        assert message in text, message


def test_gpodders_podcastparser_reads_the_show_and_every_episode(show: ServerProcess, rss: bytes) -> None:
    parsed = podcastparser.parse(show.url("/feed.xml"), io.BytesIO(rss))
    assert parsed["title"] == "Tones and Overtones"
    assert parsed["description"].startswith("A tiny sample show")
    assert parsed["link"] == show.url("/")
    assert parsed["language"] == "en"
    assert parsed["cover_url"] == show.url("/media/cover.png")  # itunes:image, over the RSS <image>
    assert parsed["itunes_categories"] == [["Science", "Physics"]]
    assert parsed["explicit"] is False
    assert parsed["itunes_owner"] == {"name": "Sample Studio", "email": "studio@example.com"}
    assert parsed["itunes_author"] == "Sample Studio"
    assert parsed["type"] == "episodic"
    episodes = parsed["episodes"]
    assert [e["title"] for e in episodes] == [title for title, *_ in EPISODES]
    for episode, (_, media, duration, season, number, kind) in zip(episodes, EPISODES, strict=True):
        size = (SHOW / "content" / "media" / media).stat().st_size
        assert episode["enclosures"] == [{"url": show.url(f"/media/{media}"), "file_size": size, "mime_type": "audio/mpeg"}]
        assert episode["total_time"] == duration
        assert episode["season"] == season
        assert episode.get("number") == number
        assert episode.get("type", "full") == (kind or "full")
        assert episode["explicit"] is False
        assert episode["guid"].startswith("tag:") and episode["published"] > 0 and episode["link"].startswith(show.url("/posts/"))
        assert episode["description"]
    # podcastparser 0.6.11 knows the Podcasting 2.0 namespace only by its GitHub alias, not by
    # https://podcastindex.org/namespace/1.0 (which the spec says readers must accept): it sees
    # no transcript, chapters or funding in any feed written to the spec, ours included.
    assert "transcript_url" not in episodes[0] and "funding_url" not in parsed


def _partytime(rss: bytes, tmp_path: Path) -> dict[str, Any]:
    node, script = shutil.which("node"), APPS / "read-feed.js"
    if node is None or not (APPS / "node_modules" / "podcast-partytime").is_dir():
        if os.environ.get("CI"):
            pytest.fail("podcast-partytime is not installed (make test installs it with npm under tests/podcast-apps)")
        pytest.skip("podcast-partytime is not installed: run make test (needs node and npm)")
    feed = tmp_path / "feed.xml"
    feed.write_bytes(rss)
    result = subprocess.run([node, str(script), str(feed)], capture_output=True, text=True, timeout=60, cwd=APPS)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_podcast_index_partytime_reads_the_itunes_and_podcasting_2_tags(show: ServerProcess, rss: bytes, tmp_path: Path) -> None:
    feed = _partytime(rss, tmp_path)
    assert feed["title"] == "Tones and Overtones" and feed["link"] == show.url("/") and feed["language"] == "en"
    assert feed["itunesImage"] == show.url("/media/cover.png")
    assert feed["itunesCategory"] == ["Science > Physics"]
    assert feed["explicit"] is False and feed["itunesType"] == "episodic" and feed["itunesComplete"] is False
    assert feed["owner"] == {"name": "Sample Studio", "email": "studio@example.com"}
    assert feed["author"] == "Sample Studio"
    # Podcasting 2.0: the phase-1 and phase-3 tags it found, and their values.
    assert sorted(feed["pc20support"]["1"]) == ["chapters", "funding", "locked", "transcript"]
    assert feed["pc20support"]["3"] == ["guid"]
    assert feed["guid"] == show_guid(show.url("/feed.xml"))
    assert feed["locked"] is True and feed["podcastOwner"] == "studio@example.com"
    assert feed["podcastFunding"] == [{"message": "Support the show", "url": "https://example.com/support"}]
    items = feed["items"]
    assert [item["title"] for item in items] == [title for title, *_ in EPISODES]
    for item, (_, media, duration, season, number, kind) in zip(items, EPISODES, strict=True):
        size = (SHOW / "content" / "media" / media).stat().st_size
        assert item["enclosure"] == {"url": show.url(f"/media/{media}"), "length": size, "type": "audio/mpeg"}
        assert item["duration"] == duration and item["itunesSeason"] == season and item.get("itunesEpisode") == number
        assert item.get("itunesEpisodeType", "full") == (kind or "full")
        assert item["explicit"] is False and item["guid"].startswith("tag:") and item["pubDate"]
        stem = media.removesuffix(".mp3")
        assert item["podcastChapters"] == {"url": show.url(f"/media/{stem}.chapters.json"), "type": "application/json+chapters"}
        assert item["podcastTranscripts"][0]["url"].startswith(show.url(f"/media/{stem}."))
    three = items[2]["podcastTranscripts"]
    assert [(t["type"], t.get("rel")) for t in three] == [("text/vtt", "captions"), ("text/plain", None)]
    assert items[1]["itunesImage"] == show.url("/media/cover.png")


def test_feedparsers_itunes_support_reads_the_show(show: ServerProcess, rss: bytes) -> None:
    parsed = feedparser.parse(rss)
    assert not parsed.bozo
    feed = parsed.feed
    assert feed.title == "Tones and Overtones" and feed.language == "en"
    assert feed.image.href == show.url("/media/cover.png")
    assert [tag.term for tag in feed.tags] == ["Science", "Physics"]
    assert feed.publisher_detail == {"name": "Sample Studio", "email": "studio@example.com"}  # itunes:owner
    assert feed.author == "Sample Studio" and feed.itunes_type == "episodic"
    # feedparser 6 knows only the old explicit values (yes/clean); Apple's true/false, which the
    # validator requires, read as None (see docs/podcasts.md).
    assert feed.itunes_explicit is None
    for entry, (title, media, duration, season, number, kind) in zip(parsed.entries, EPISODES, strict=True):
        assert entry.title == title
        assert entry.enclosures == [
            {"href": show.url(f"/media/{media}"), "type": "audio/mpeg", "length": str((SHOW / "content" / "media" / media).stat().st_size)}
        ]
        assert entry.itunes_duration == str(duration) and entry.itunes_season == str(season)
        assert entry.get("itunes_episode") == (str(number) if number else None)
        assert entry.get("itunes_episodetype") == kind


def test_every_linked_media_file_is_served_with_its_type_and_length(show: ServerProcess, rss: bytes) -> None:
    root = feedcheck.parse(rss)
    itunes, podcast = feedcheck.itunescheck.ITUNES, feedcheck.itunescheck.PODCAST
    links = [(e.get("url"), e.get("type"), e.get("length")) for e in root.iter("enclosure")]
    links += [(e.get("url"), e.get("type"), None) for e in root.iter(f"{{{podcast}}}transcript", f"{{{podcast}}}chapters")]
    links += [(e.get("href"), "image/png", None) for e in root.iter(f"{{{itunes}}}image")]
    assert len(links) == 3 + 7 + 2
    for url, media_type, length in links:
        content_type, body = fetch(url)
        assert content_type.split(";")[0] == media_type, url
        if length is not None:
            assert len(body) == int(length), url
    chapters = json.loads(fetch(show.url("/media/episode-1.chapters.json"))[1])
    assert chapters["version"] == "1.2.0" and [c["startTime"] for c in chapters["chapters"]] == [0, 3.996, 6.984]


def test_scopes_that_are_not_the_show_carry_no_podcast_tags(show: ServerProcess) -> None:
    """Only the site is the show here: its tags' feeds stay plain RSS (an app would list a tag as a second show)."""
    _, body = fetch(show.url("/tags/tones/feed.xml"))
    assert b"itunes" not in body and b"podcastindex" not in body
    _, body = fetch(show.url("/atom.xml"))
    assert b"itunes" not in body and b'rel="enclosure"' in body
