"""Podcasts as data: a show's settings (``[podcast]``), an episode's fields, Apple's categories, the show's GUID.

Apple's rules: https://podcasters.apple.com/support/823-podcast-requirements (archived in
podcastindex-org/podcast-namespace, itunes_reference.md); the Podcasting 2.0 tags:
https://podcastindex.org/namespace/1.0 (podcastindex-org/podcast-namespace, docs/tags/).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from feeds import limits
from feeds.errors import ConfigError

#: https://podcastindex.org/namespace/1.0 — the canonical URI (the GitHub one is an alias readers must accept too).
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
#: The namespace of podcast:guid's UUIDv5 (docs/tags/guid.md).
GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
SHOW_TYPES = ("episodic", "serial")
EPISODE_TYPES = ("full", "trailer", "bonus")
#: podcast:transcript types (docs/tags/transcript.md).
TRANSCRIPT_TYPES = ("text/plain", "text/html", "text/vtt", "application/json", "application/x-subrip")
CHAPTERS_TYPE = "application/json+chapters"

# Apple Podcasts categories and their sub-categories, as Apple lists them
# (https://podcasters.apple.com/support/1691-apple-podcasts-categories) and the W3C
# validator checks them (feedvalidator/itunes.py, valid_itunes_categories). Case matters.
CATEGORIES: Mapping[str, tuple[str, ...]] = {
    "Arts": ("Books", "Design", "Fashion & Beauty", "Food", "Performing Arts", "Visual Arts"),
    "Business": ("Careers", "Entrepreneurship", "Investing", "Management", "Marketing", "Non-Profit"),
    "Comedy": ("Comedy Interviews", "Improv", "Stand-Up"),
    "Education": ("Courses", "How To", "Language Learning", "Self-Improvement"),
    "Fiction": ("Comedy Fiction", "Drama", "Science Fiction"),
    "Government": (),
    "History": (),
    "Health & Fitness": ("Alternative Health", "Fitness", "Medicine", "Mental Health", "Nutrition", "Sexuality"),
    "Kids & Family": ("Education for Kids", "Parenting", "Pets & Animals", "Stories for Kids"),
    "Leisure": ("Animation & Manga", "Automotive", "Aviation", "Crafts", "Games", "Hobbies", "Home & Garden", "Video Games"),
    "Music": ("Music Commentary", "Music History", "Music Interviews"),
    "News": ("Business News", "Daily News", "Entertainment News", "News Commentary", "Politics", "Sports News", "Tech News"),
    "Religion & Spirituality": ("Buddhism", "Christianity", "Hinduism", "Islam", "Judaism", "Religion", "Spirituality"),
    "Science": (
        "Astronomy",
        "Chemistry",
        "Earth Sciences",
        "Life Sciences",
        "Mathematics",
        "Natural Sciences",
        "Nature",
        "Physics",
        "Social Sciences",
    ),
    "Society & Culture": ("Documentary", "Personal Journals", "Philosophy", "Places & Travel", "Relationships"),
    "Sports": (
        "Baseball",
        "Basketball",
        "Cricket",
        "Fantasy Sports",
        "Football",
        "Golf",
        "Hockey",
        "Rugby",
        "Running",
        "Soccer",
        "Swimming",
        "Tennis",
        "Volleyball",
        "Wilderness",
        "Wrestling",
    ),
    "Technology": (),
    "True Crime": (),
    "TV & Film": ("After Shows", "Film History", "Film Interviews", "Film Reviews", "TV Reviews"),
}

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_EMAIL = re.compile(r"[^@\s<>()\"]+@[^@\s<>()\"]+\.[^@\s<>()\"]+")
#: Apple's limit on most tag values (characters).
TEXT_LIMIT = 255
#: podcast:funding text: "Please do not exceed 128 characters" (docs/tags/funding.md).
FUNDING_TEXT_LIMIT = 128


class SubkeyError(ValueError):
    """A value inside a settings table is wrong; ``key`` names it inside the table (``owner.email``)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Owner:
    #: itunes:owner: who Apple and the directories write to about the show.
    name: str | None
    email: str | None


@dataclass(frozen=True)
class Funding:
    #: Where listeners support the show, and the text apps show beside the link.
    url: str
    text: str


@dataclass(frozen=True)
class Show:
    """A scope's podcast settings (``[podcast]``): what turns its RSS feed into a show Apple and Podcasting 2.0 apps list."""

    #: Apple category and optional sub-category, e.g. ("Technology",) or ("Society & Culture", "Documentary").
    category: tuple[str, ...] = ()
    #: itunes:explicit; None: not said (Apple requires it, ``feeds check`` reports it).
    explicit: bool | None = None
    owner: Owner | None = None
    #: itunes:author (the group behind the show); None: the site author's name.
    author: str | None = None
    #: Show artwork: an absolute URL or a site path; square JPEG or PNG, 1400–3000 px.
    image: str | None = None
    #: itunes:type: episodic (newest first) or serial (in order).
    type: str = "episodic"
    #: podcast:locked: whether other hosts may import the feed; None: not said.
    locked: bool | None = None
    funding: tuple[Funding, ...] = ()
    #: podcast:guid; None: the UUIDv5 of the feed URL (see :func:`show_guid`).
    guid: str | None = None
    #: itunes:complete: no episode will ever follow.
    complete: bool = False
    #: itunes:new-feed-url: where the show moved.
    new_feed_url: str | None = None


@dataclass(frozen=True)
class Transcript:
    #: Absolute URL of the transcript or captions file.
    url: str
    #: One of TRANSCRIPT_TYPES.
    type: str
    #: BCP 47 language of the file, when not the feed's.
    language: str | None = None
    #: "captions" when the file is timed captions.
    rel: str | None = None


@dataclass(frozen=True)
class Episode:
    """The podcast fields of a post (front matter), beside its enclosure."""

    #: Length of the media in whole seconds.
    duration: int | None = None
    season: int | None = None
    #: itunes:episode (front matter ``episode``).
    number: int | None = None
    #: full, trailer or bonus.
    episode_type: str | None = None
    explicit: bool | None = None
    transcripts: tuple[Transcript, ...] = ()
    #: Absolute URL of the JSON chapters file.
    chapters: str | None = None


def settings_key(kind: str, slug: str) -> str:
    """The settings key of a scope's show: ``podcast``, ``sections.<slug>.podcast`` or ``tags.<slug>.podcast``."""
    return "podcast" if kind == "site" else f"{kind}s.{slug}.podcast"


def show_guid(feed_url: str) -> str:
    """Return the podcast:guid of a feed: UUIDv5 of its URL without the scheme and trailing slashes (docs/tags/guid.md)."""
    parts = urlsplit(feed_url)
    bare = feed_url[len(parts.scheme) + 3 :] if parts.scheme else feed_url
    return str(uuid.uuid5(GUID_NAMESPACE, bare.rstrip("/")))


def as_show(value: Any) -> Show | None:
    """Parse a ``[podcast]`` table (or its JSON from the environment); a bad value raises SubkeyError naming its key.

    An empty table is a show with every default (``feeds check`` says what Apple still requires).
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ValueError(f"expected a table (JSON in the environment): {e}") from e
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a table of podcast settings, got {type(value).__name__}")
    known = {"category", "explicit", "owner", "author", "image", "type", "locked", "funding", "guid", "complete", "new_feed_url"}
    unknown = sorted(set(value) - known, key=str)
    if unknown:
        raise SubkeyError(str(unknown[0]), f"unknown podcast setting (known: {', '.join(sorted(known))})")
    return Show(
        category=_category(value.get("category")),
        explicit=_optional_bool(value, "explicit"),
        owner=_owner(value.get("owner")),
        author=_text(value, "author"),
        image=_url(value, "image", site_path=True),
        type=_choice(value, "type", SHOW_TYPES) or "episodic",
        locked=_optional_bool(value, "locked"),
        funding=_funding(value.get("funding")),
        guid=_guid(value.get("guid")),
        complete=bool(_optional_bool(value, "complete")),
        new_feed_url=_url(value, "new_feed_url"),
    )


def as_podcast(value: Any, key: str = "podcast") -> Show | None:
    """Parse a ``[podcast]`` setting; ConfigError names the full key at fault (``sections.talks.podcast.owner.email``)."""
    try:
        return as_show(value)
    except SubkeyError as e:
        raise ConfigError(f"{key}.{e.key}", str(e)) from e
    except ValueError as e:
        raise ConfigError(key, str(e)) from e


def _category(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(">")] if ">" in value else [value.strip()]
    elif isinstance(value, list) and all(isinstance(part, str) for part in value):
        parts = [part.strip() for part in value]
    else:
        raise SubkeyError("category", 'expected "Category", "Category > Sub-category" or [category, sub-category]')
    if not 1 <= len(parts) <= 2:
        raise SubkeyError("category", "expected a category and at most one sub-category")
    main = parts[0]
    if main not in CATEGORIES:
        raise SubkeyError("category", f"{_shown(main)} is not an Apple Podcasts category{_hint(main, CATEGORIES)}")
    if len(parts) == 2 and parts[1] not in CATEGORIES[main]:
        subs = CATEGORIES[main]
        where = f" (its sub-categories: {', '.join(subs)})" if subs else " (it has no sub-categories)"
        raise SubkeyError("category", f"{_shown(parts[1])} is not a sub-category of {main}{_hint(parts[1], subs) or where}")
    return tuple(parts)


def _hint(name: str, choices: Mapping[str, object] | tuple[str, ...]) -> str:
    folded = {choice.casefold().replace("-", " "): choice for choice in choices}
    match = folded.get(name.casefold().replace("-", " "))
    return f" (did you mean {match!r}? case matters)" if match else ""


def _owner(value: Any) -> Owner | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise SubkeyError("owner", "expected a table {name, email}")
    unknown = sorted(set(value) - {"name", "email"}, key=str)
    if unknown:
        raise SubkeyError(f"owner.{unknown[0]}", "unknown field (an owner has a name and an email)")
    email = _text(value, "email", "owner.")
    if email is not None and not _EMAIL.fullmatch(email):
        raise SubkeyError("owner.email", f"not an email address: {_shown(email)}")
    return Owner(_text(value, "name", "owner."), email)


def _funding(value: Any) -> tuple[Funding, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        raise SubkeyError("funding", "expected a table {url, text} or a list of them")
    if len(items) > limits.MAX_FUNDING:
        raise SubkeyError("funding", f"{len(items)} links, at most {limits.MAX_FUNDING}")
    links = []
    for index, item in enumerate(items):
        key = "funding." if isinstance(value, Mapping) else f"funding[{index}]."
        unknown = sorted(set(item) - {"url", "text"}, key=str)
        if unknown:
            raise SubkeyError(key + str(unknown[0]), "unknown field (a funding link has a url and a text)")
        url = _url(item, "url", prefix=key)
        text = _text(item, "text", key)
        if url is None or text is None:
            raise SubkeyError(key + ("url" if url is None else "text"), "missing")
        if len(text) > FUNDING_TEXT_LIMIT:
            raise SubkeyError(key + "text", f"{len(text)} characters, at most {FUNDING_TEXT_LIMIT} (apps cut longer ones)")
        links.append(Funding(url, text))
    return tuple(links)


def _guid(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _UUID.fullmatch(value.strip()):
        raise SubkeyError("guid", f"expected a UUID such as ead4c236-bf58-58c6-a2c6-a6b28d128cb6, got {_shown(value)}")
    return value.strip().lower()


def _optional_bool(table: Mapping[str, Any], key: str) -> bool | None:
    value = table.get(key)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "false", "no"):
        return value.strip().lower() in ("true", "yes")
    raise SubkeyError(key, f"expected true or false, got {_shown(value)}")


def _choice(table: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or value.strip().lower() not in choices:
        raise SubkeyError(key, f"expected one of {', '.join(choices)}, got {_shown(value)}")
    return value.strip().lower()


def _text(table: Mapping[str, Any], key: str, prefix: str = "") -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SubkeyError(prefix + key, f"expected text, got {type(value).__name__}")
    text = " ".join(value.split())
    if len(text) > TEXT_LIMIT:
        raise SubkeyError(prefix + key, f"{len(text)} characters, at most {TEXT_LIMIT} (Apple's limit)")
    return text or None


def _url(table: Mapping[str, Any], key: str, site_path: bool = False, prefix: str = "") -> str | None:
    value = table.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SubkeyError(prefix + key, f"expected a URL, got {type(value).__name__}")
    text = value.strip()
    if site_path and text.startswith("/") and not text.startswith("//") and not any(c.isspace() for c in text):
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in text):
        expected = "an absolute http(s) URL or a site path (/media/cover.png)" if site_path else "an absolute http(s) URL"
        raise SubkeyError(prefix + key, f"expected {expected}, got {_shown(text)}")
    return text


def _shown(value: object) -> str:
    """A value in an error message, bounded (messages never echo unbounded input)."""
    return limits.quoted(value)
