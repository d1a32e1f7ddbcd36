"""The sample's shows, served by a real ``feeds serve``: valid by the W3C validator's rules and read back by podcast apps' parsers.

Two shows of the sample content: the section ``podcast`` (``[sections.podcast.podcast]`` in the
tests' SITE_CONFIG, as in the shipped feeds.toml) and the tag ``tones`` (TAG_SHOW_CONFIG: 2 episodes
a feed, so its current feed and archive 1 are both read). Three parsers read each RSS document,
each the way its app does: gPodder's ``podcastparser``, the Podcast Index's ``podcast-partytime``
(Node, installed under tests/podcast-apps by ``make test``) and feedparser's iTunes support (rss2email,
reader and most Python tools). Every field Apple requires or recommends is checked in what each one read.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import feedparser
import podcastparser
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from feeds.podcast import show_guid

from . import fedihelpers, feedcheck
from .conftest import DATA, SAMPLE, SITE_CONFIG, TAG_SHOW_CONFIG
from .server import ServerProcess

MEDIA = SAMPLE / "media"
APPS = Path(__file__).resolve().parent / "podcast-apps"
SCHEMA = json.loads((DATA / "jsonfeed-1.1.schema.json").read_text(encoding="utf-8"))
#: What the sample show's episodes are, newest first: (title, media file, duration, season, episode, type).
EPISODES = [
    ("A Falling Scale (Bonus)", "episode-3.mp3", 8, 1, None, "bonus"),
    ("Two Tones", "episode-2.mp3", 8, 1, 2, None),
    ("Three Tones", "episode-1.mp3", 10, 1, 1, None),
]


@dataclass(frozen=True)
class Show:
    """One RSS document of a show and what its channel and items must say."""

    #: The scope's prefix, and the archive read (None: the current feed).
    prefix: str
    archive: int | None
    title: str
    author: str
    category: tuple[str, str]
    #: podcast:locked (None: not said) and podcast:funding.
    locked: bool | None
    funding: tuple[tuple[str, str], ...]
    episodes: tuple[tuple[str, str, int, int, int | None, str | None], ...]

    @property
    def path(self) -> str:
        return self.prefix + (f"archive/{self.archive}/" if self.archive else "") + "feed.xml"


SECTION = Show(
    "/sections/podcast/",
    None,
    "Test Notes: Tones and Overtones",
    "Sample Studio",
    ("Science", "Physics"),
    True,
    (("Support the show", "https://example.com/support"),),
    tuple(EPISODES),
)
TAG = Show("/tags/tones/", None, "Test Notes: Tones", "Test Author", ("Music", "Music Commentary"), None, (), tuple(EPISODES[:2]))
TAG_ARCHIVE = Show("/tags/tones/", 1, TAG.title, TAG.author, TAG.category, None, (), tuple(EPISODES[1:]))
SHOWS = [pytest.param(SECTION, id="section"), pytest.param(TAG, id="tag"), pytest.param(TAG_ARCHIVE, id="tag-archive")]


def fetch(url: str, method: str = "GET") -> tuple[str, bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, method=method)) as response:
        return response.headers["Content-Type"], response.read()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("shows")
    shutil.copytree(SAMPLE, root / "content")
    (root / "feeds.toml").write_text(SITE_CONFIG + TAG_SHOW_CONFIG, encoding="utf-8")
    with ServerProcess(root / "content", root / "feeds.toml") as server:
        yield server


def rss(site: ServerProcess, show: Show) -> bytes:
    return fetch(site.url(show.path))[1]


def size(media: str) -> int:
    return (MEDIA / media).stat().st_size


@pytest.mark.parametrize("show", SHOWS)
def test_rss_atom_and_json_feed_of_each_show_are_valid_with_zero_warnings(site: ServerProcess, show: Show) -> None:
    home = site.url(show.prefix)
    assert feedcheck.rss(site.url(show.path), rss(site, show), home=home, hubs=()) == []
    atom = site.url(show.path.replace("feed.xml", "atom.xml"))
    current_atom = site.url(show.prefix + "atom.xml")
    assert feedcheck.atom(atom, fetch(atom)[1], home=home, hubs=(), feed_id=current_atom) == []
    feed = json.loads(fetch(site.url(show.path.replace("feed.xml", "feed.json")))[1])
    assert [e.message for e in Draft202012Validator(SCHEMA, format_checker=FormatChecker()).iter_errors(feed)] == []
    durations = [item["attachments"][0].get("duration_in_seconds") for item in feed["items"]]
    assert durations == [duration for _, _, duration, *_ in show.episodes]


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


@pytest.mark.parametrize("show", SHOWS)
def test_gpodders_podcastparser_reads_the_show_and_every_episode(site: ServerProcess, show: Show) -> None:
    parsed = podcastparser.parse(site.url(show.path), io.BytesIO(rss(site, show)))
    assert parsed["title"] == show.title
    assert parsed["link"] == site.url(show.prefix)
    assert parsed["language"] == "en"
    assert parsed["cover_url"] == site.url("/media/cover.png")  # itunes:image, over the RSS <image>
    assert parsed["itunes_categories"] == [list(show.category)]
    assert parsed["explicit"] is False
    assert parsed["itunes_owner"] == {"name": "Sample Studio", "email": "studio@example.com"}
    assert parsed["itunes_author"] == show.author
    assert parsed["type"] == "episodic"
    episodes = parsed["episodes"]
    assert [e["title"] for e in episodes] == [title for title, *_ in show.episodes]
    for episode, (_, media, duration, season, number, kind) in zip(episodes, show.episodes, strict=True):
        assert episode["enclosures"] == [{"url": site.url(f"/media/{media}"), "file_size": size(media), "mime_type": "audio/mpeg"}]
        assert episode["total_time"] == duration
        assert episode["season"] == season
        assert episode.get("number") == number
        assert episode.get("type", "full") == (kind or "full")
        assert episode["explicit"] is False
        assert episode["guid"].startswith("tag:") and episode["published"] > 0 and episode["link"].startswith(site.url("/posts/"))
        assert episode["description"]
    # podcastparser 0.6.11 knows the Podcasting 2.0 namespace only by its GitHub alias, not by
    # https://podcastindex.org/namespace/1.0 (which the spec says readers must accept): it sees
    # no transcript, chapters or funding in any feed written to the spec, ours included.
    assert "transcript_url" not in episodes[0] and "funding_url" not in parsed


def _partytime(rss: bytes, tmp_path: Path) -> dict[str, Any]:
    node, script = fedihelpers.node(), APPS / "read-feed.js"
    if node is None or not (APPS / "node_modules" / "podcast-partytime").is_dir():
        if os.environ.get("CI"):
            pytest.fail("podcast-partytime is not installed (make test installs it with npm under tests/podcast-apps)")
        pytest.skip("podcast-partytime is not installed: run make test (the test extra's Node and npm)")
    feed = tmp_path / "feed.xml"
    feed.write_bytes(rss)
    result = subprocess.run([node, str(script), str(feed)], capture_output=True, text=True, timeout=60, cwd=APPS)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@pytest.mark.parametrize("show", SHOWS)
def test_podcast_index_partytime_reads_the_itunes_and_podcasting_2_tags(site: ServerProcess, show: Show, tmp_path: Path) -> None:
    feed = _partytime(rss(site, show), tmp_path)
    assert feed["title"] == show.title and feed["link"] == site.url(show.prefix) and feed["language"] == "en"
    assert feed["itunesImage"] == site.url("/media/cover.png")
    assert feed["itunesCategory"] == [" > ".join(show.category)]
    assert feed["explicit"] is False and feed["itunesType"] == "episodic" and feed["itunesComplete"] is False
    assert feed["owner"] == {"name": "Sample Studio", "email": "studio@example.com"}
    assert feed["author"] == show.author
    # Podcasting 2.0: the phase-1 and phase-3 tags it found, and their values. The guid is the show's, in its
    # archives too: the UUIDv5 of its current feed's URL (https://podcastindex.org/namespace/1.0#guid).
    phase_1 = ["chapters", "transcript"] + (["funding"] if show.funding else []) + (["locked"] if show.locked is not None else [])
    assert sorted(feed["pc20support"]["1"]) == sorted(phase_1)
    assert feed["pc20support"]["3"] == ["guid"]
    assert feed["guid"] == show_guid(site.url(show.prefix + "feed.xml"))
    if show.locked is not None:
        assert feed["locked"] is show.locked and feed["podcastOwner"] == "studio@example.com"
    assert [(f["message"], f["url"]) for f in feed.get("podcastFunding", [])] == list(show.funding)
    items = feed["items"]
    assert [item["title"] for item in items] == [title for title, *_ in show.episodes]
    for item, (_, media, duration, season, number, kind) in zip(items, show.episodes, strict=True):
        assert item["enclosure"] == {"url": site.url(f"/media/{media}"), "length": size(media), "type": "audio/mpeg"}
        assert item["duration"] == duration and item["itunesSeason"] == season and item.get("itunesEpisode") == number
        assert item.get("itunesEpisodeType", "full") == (kind or "full")
        assert item["explicit"] is False and item["guid"].startswith("tag:") and item["pubDate"]
        stem = media.removesuffix(".mp3")
        assert item["podcastChapters"] == {"url": site.url(f"/media/{stem}.chapters.json"), "type": "application/json+chapters"}
        assert item["podcastTranscripts"][0]["url"].startswith(site.url(f"/media/{stem}."))
        if stem == "episode-1":
            assert [(t["type"], t.get("rel")) for t in item["podcastTranscripts"]] == [("text/vtt", "captions"), ("text/plain", None)]
        if stem == "episode-2":
            assert item["itunesImage"] == site.url("/media/cover.png")


@pytest.mark.parametrize("show", SHOWS)
def test_feedparsers_itunes_support_reads_the_show(site: ServerProcess, show: Show) -> None:
    parsed = feedparser.parse(rss(site, show))
    assert not parsed.bozo
    feed = parsed.feed
    assert feed.title == show.title and feed.language == "en"
    assert feed.image.href == site.url("/media/cover.png")
    assert [tag.term for tag in feed.tags] == list(show.category)
    assert feed.publisher_detail == {"name": "Sample Studio", "email": "studio@example.com"}  # itunes:owner
    assert feed.author == show.author and feed.itunes_type == "episodic"
    # feedparser 6 knows only the old explicit values (yes/clean); Apple's true/false, which the
    # validator requires, read as None (see docs/podcasts.md).
    assert feed.itunes_explicit is None
    for entry, (title, media, duration, season, number, kind) in zip(parsed.entries, show.episodes, strict=True):
        assert entry.title == title
        assert entry.enclosures == [{"href": site.url(f"/media/{media}"), "type": "audio/mpeg", "length": str(size(media))}]
        assert entry.itunes_duration == str(duration) and entry.itunes_season == str(season)
        assert entry.get("itunes_episode") == (str(number) if number else None)
        assert entry.get("itunes_episodetype") == kind


def test_every_linked_media_file_is_served_with_its_type_and_length(site: ServerProcess) -> None:
    root = feedcheck.parse(rss(site, SECTION))
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
    chapters = json.loads(fetch(site.url("/media/episode-1.chapters.json"))[1])
    assert chapters["version"] == "1.2.0" and [c["startTime"] for c in chapters["chapters"]] == [0, 3.996, 6.984]


def test_scopes_that_are_not_shows_carry_no_podcast_tags(site: ServerProcess) -> None:
    """Only the section and the tag tones are shows: the site, the tag bonus and the author feeds stay plain RSS
    (an app would list each as another show), and Atom has no iTunes tags; the section stays out of the site's feeds."""
    for path in ("/feed.xml", "/tags/bonus/feed.xml", "/authors/test-author/feed.xml"):
        body = fetch(site.url(path))[1]
        assert b"itunes" not in body and b"podcastindex" not in body, path
    assert b"/media/episode-3.mp3" in fetch(site.url("/tags/bonus/feed.xml"))[1]  # the same episode, plain RSS
    assert b"/media/episode-" not in fetch(site.url("/feed.xml"))[1]  # site_feeds = false
    body = fetch(site.url("/sections/podcast/atom.xml"))[1]
    assert b"itunes" not in body and b'rel="enclosure"' in body
