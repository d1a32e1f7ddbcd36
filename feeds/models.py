"""The immutable data that flows one way: files → posts → feeds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cached_property
from typing import Literal

from feeds import urls
from feeds.limits import MAX_PROBLEM_MESSAGE, cut
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
    #: What was wrong, cut to MAX_PROBLEM_MESSAGE characters: it names the field, never quotes more than a short cut of a value.
    message: str
    severity: Severity = "error"

    def __post_init__(self) -> None:
        if len(self.message) > MAX_PROBLEM_MESSAGE:  # whatever made it, a message stays small in /healthz, logs and manifests
            object.__setattr__(self, "message", cut(self.message, MAX_PROBLEM_MESSAGE))

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
    #: ``False``: published (page, URL) but in no feed (front matter ``feed: false``).
    feed: bool = True
    #: BCP 47 language of the post; ``None`` means the site's.
    language: str | None = None
    #: Slug of the section, the post's first-level folder (``notes/x.md`` → ``notes``); ``None`` at the top.
    section: str | None = None
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
    """One feed document of one scope (the current feed or an archive), independent of format.

    Archives follow RFC 5005 §4 (https://www.rfc-editor.org/rfc/rfc5005#section-4): numbered
    from the oldest, archive ``k`` holds the scope's posts ``(k-1)N .. kN-1`` in oldest-first order.
    """

    title: str
    description: str
    #: The site's base URL (no trailing slash) and the scope's path (``/`` or ``/tags/<slug>/``).
    site_url: str
    prefix: str
    entries: tuple[Entry, ...]
    #: Newest change among the scope's posts (current feed) or the archive's posts, never the wall clock.
    updated: datetime
    #: ``None`` for the current feed, else the archive's number (from 1, the oldest).
    archive: int | None = None
    #: How many full archives the scope has.
    archives: int = 0
    #: The authors of the feed as a whole (the site author).
    authors: tuple[Author, ...] = ()
    #: BCP 47 language tag of the content.
    language: str = "en"
    #: ``site``, ``tag``, ``author``, ``section`` or ``language``.
    kind: str = "site"
    #: ``False``: summary-only items (summary, link, image; no body).
    full: bool = True
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

    def url(self, filename: str, archive: int | None | Literal["self"] = "self") -> str:
        """Return the absolute URL of ``filename`` in archive ``archive`` (``None``: the current feed; default: this one)."""
        number = self.archive if archive == "self" else archive
        return urls.absolute(self.site_url, urls.feed_path(self.prefix, filename, number))

    def archive_links(self) -> list[tuple[str, int | None]]:
        """RFC 5005 §4 links as (rel, archive number or None for the current feed)."""
        if self.archive is None:
            return [("prev-archive", self.archives)] if self.archives else []
        links: list[tuple[str, int | None]] = [("current", None)]
        if self.archive > 1:
            links.append(("prev-archive", self.archive - 1))
        if self.archive < self.archives:
            links.append(("next-archive", self.archive + 1))
        return links

    @property
    def older(self) -> int | None:
        """The archive holding the posts just older than this document's (JSON Feed ``next_url`` walks there)."""
        if self.archive is None:
            return self.archives or None
        return self.archive - 1 or None
