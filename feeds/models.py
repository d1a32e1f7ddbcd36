"""The immutable data that flows one way: files → posts → feeds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cached_property
from typing import Literal

from feeds import urls
from feeds.podcast import Episode, Show

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Author:
    #: Display name; always present.
    name: str
    email: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Enclosure:
    #: Absolute URL of the attached file.
    url: str
    #: Its media type, e.g. ``audio/mpeg``.
    type: str
    #: Size in bytes (0 when unknown).
    length: int


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the content, reported as ``path:line: message``."""

    #: Path relative to the content folder (``posts/x.md``), or the folder itself.
    path: str
    line: int
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.path}:{self.line}: {prefix}{self.message}"


@dataclass(frozen=True)
class Post:
    """One published (or draft) post, as read from one Markdown file."""

    #: Path of the source file relative to the content folder, with ``/`` separators.
    source: str
    #: Permanent identity (Atom ``id``, RSS ``guid``, JSON Feed ``id``).
    id: str
    slug: str
    title: str
    #: Absolute URL of the post's page on the site.
    url: str
    #: Where the item links to: ``url``, or the external URL of a link post.
    link: str
    #: Publication time, tz-aware.
    published: datetime
    #: Last change, tz-aware, never before ``published``.
    updated: datetime
    #: SHA-256 (hex) of the Markdown body; with ``url`` it names the rendered HTML. The body itself
    #: stays out of the record (the content index keeps it compressed), so 50,000 posts stay small.
    body_digest: str
    #: Summary from the front matter; ``None`` means "first paragraph of the body".
    summary: str | None = None
    #: Tag names as written in the front matter, duplicates removed, in order.
    tags: tuple[str, ...] = ()
    #: Authors from the front matter; empty means "the site author".
    authors: tuple[Author, ...] = ()
    #: Absolute URL of the lead image.
    image: str | None = None
    enclosure: Enclosure | None = None
    draft: bool = False
    #: Estimated reading time in minutes.
    reading_time: int | None = None
    #: Podcast fields (duration, season, transcripts…), for a post whose enclosure is an episode.
    episode: Episode | None = None

    @cached_property
    def digest(self) -> str:
        """Hash of every field: two records with the same digest render the same bytes."""
        values = repr(tuple(getattr(self, f.name) for f in fields(self)))
        return hashlib.sha256(values.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class Tag:
    #: URL slug, unique within the site (``pub-sub``).
    slug: str
    #: Display name: the spelling most posts use (``Pub/Sub``).
    name: str


@dataclass(frozen=True)
class Entry:
    """A post ready to render: the post plus its rendered HTML and summary text."""

    post: Post
    #: Full HTML of the body, every link and image absolute.
    content_html: str
    #: Plain-text summary.
    summary: str
    #: Display tags of the post, in its order.
    tags: tuple[Tag, ...] = ()


@dataclass(frozen=True)
class FeedPage:
    """One page of one feed scope (the site or a tag), independent of format."""

    title: str
    description: str
    #: The site's base URL (no trailing slash) and the scope's path (``/`` or ``/tags/<slug>/``).
    site_url: str
    prefix: str
    #: 1-based page number and the number of pages (at least 1).
    page: int
    last_page: int
    entries: tuple[Entry, ...]
    #: Newest change among the scope's posts (all pages), never the wall clock.
    updated: datetime
    #: The authors of the feed as a whole (the site author).
    authors: tuple[Author, ...] = ()
    #: BCP 47 language tag of the content.
    language: str = "en"
    tag: Tag | None = None
    #: WebSub hubs that this feed announces.
    hubs: tuple[str, ...] = ()
    #: Absolute URLs of a square icon and a small favicon, if configured.
    icon: str | None = None
    favicon: str | None = None
    #: The scope's show, when its RSS feed is a podcast.
    podcast: Show | None = None

    @property
    def home_url(self) -> str:
        """Absolute URL of the HTML page this feed belongs to."""
        return urls.absolute(self.site_url, self.prefix)

    def url(self, filename: str, page: int | None = None) -> str:
        """Return the absolute URL of ``filename`` (e.g. ``atom.xml``) at ``page`` (this page by default)."""
        return urls.absolute(self.site_url, urls.feed_path(self.prefix, filename, self.page if page is None else page))
