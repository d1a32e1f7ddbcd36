"""Shared feedgen setup for RSS and Atom, working around feedgen's traps.

feedgen stamps ``updated``/``lastBuildDate`` with now() (we set both from the
content), prepends entries by default (we append), turns ``type="CDATA"`` into
an Atom attribute (we use escaped HTML), and cannot write RFC 5005 paging or
WebSub links (a small extension writes those ``atom:link`` elements).
"""

from __future__ import annotations

import html
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feeds import __version__
from feeds.models import Author, Entry, FeedPage, Post
from feeds.render.bounded import ByteBounded

from . import podcast
from ._text import atom_text, rss_text

ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_NS = "http://search.yahoo.com/mrss/"
DC_NS = "http://purl.org/dc/elements/1.1/"
#: RFC 5005 §4's namespace for ``fh:archive``: https://www.rfc-editor.org/rfc/rfc5005#section-4
FH_NS = "http://purl.org/syndication/history/1.0"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
GENERATOR_URI = "https://github.com/feeds/feeds"

# Types of the alternate links, so a paging link says what it points to.
_LINK_TYPES = {"feed.xml": "application/rss+xml", "atom.xml": "application/atom+xml"}


def feed_generator(page: FeedPage, filename: str) -> FeedGenerator:
    """Return a FeedGenerator for ``page``, whose own document is ``filename``."""
    fg = FeedGenerator()
    fg.id(page.url(filename, None))
    fg.title(page.title)
    fg.subtitle(page.description)  # also the RSS <description>
    # The self link must equal the URL the document is served at, ?page=N included
    # (validator SelfDoesntMatchLocation). feedgen uses the *last* link as the RSS
    # <link>, which must be the HTML page, so the alternate link goes last.
    fg.link(href=page.url(filename), rel="self", type=_LINK_TYPES[filename])
    fg.link(href=page.home_url, rel="alternate", type="text/html")
    fg.language(page.language)
    for author in page.authors:
        fg.author(_author(author))
    fg.updated(page.updated)  # sets lastBuildDate too: never the wall clock
    fg.generator("feeds", version=__version__, uri=GENERATOR_URI)
    if page.icon:
        # RSS <image>; feedgen also writes it as the Atom logo.
        fg.image(url=page.icon)
    if page.favicon:
        fg.icon(page.favicon)  # Atom icon: small and square (RFC 4287 §4.2.5)

    # RFC 5005 §4 archived-feed links: https://www.rfc-editor.org/rfc/rfc5005#section-4
    links = [(rel, page.url(filename, number)) for rel, number in page.archive_links()]
    links += [("hub", hub) for hub in page.hubs]
    namespaces = {}
    if any(e.post.image for e in page.entries):
        namespaces["media"] = MEDIA_NS
    if filename == "feed.xml" and page.entries:
        namespaces["dc"] = DC_NS  # every RSS item names its authors with dc:creator
    if page.archive is not None:
        namespaces["fh"] = FH_NS  # declared only in archives, which say so with fh:archive
    extension = _feed_extension(links, namespaces, _LINK_TYPES[filename], page.title, page.description, page.archive is not None)
    fg.register_extension("feeds", extension, None)
    if filename == "feed.xml" and page.podcast is not None:
        fg.register_extension("podcast", podcast.extension(page, page.podcast), None)

    show = filename == "feed.xml" and page.podcast is not None
    for entry in page.entries:
        fg.add_entry(feed_entry(entry, page.authors, page.full, page.language, show), order="append")
    return fg


def _feed_extension(
    links: list[tuple[str, str]], namespaces: dict[str, str], media_type: str, title: str, description: str, archive: bool
) -> type[BaseExtension]:
    class FeedLinks(BaseExtension):  # type: ignore[misc]
        def extend_ns(self) -> dict[str, str]:
            return namespaces

        def _append(self, parent: Any, tag: str) -> None:
            for rel, href in links:
                attrs = {"rel": rel, "href": href}
                if rel != "hub":
                    attrs["type"] = media_type
                etree.SubElement(parent, tag, attrs)

        def extend_atom(self, feed: Any) -> Any:
            # feedgen's Atom root declares the Atom namespace as a plain xmlns
            # attribute, so an un-namespaced <link> is an Atom link; a qualified
            # one would get an ns0: prefix (validator AvoidNamespacePrefix).
            self._append(feed, "link")
            if archive:
                etree.SubElement(feed, f"{{{FH_NS}}}archive")
            _atom_text(feed.find("title"), title)
            _atom_text(feed.find("subtitle"), description)
            return feed

        def extend_rss(self, rss: Any) -> Any:
            channel = rss.find("channel")
            self._append(channel, f"{{{ATOM_NS}}}link")
            if archive:
                # Before the first item: channel metadata after an item is MisplacedItem.
                first_item = channel.find("item")
                element = etree.Element(f"{{{FH_NS}}}archive")
                if first_item is not None:
                    first_item.addprevious(element)
                else:
                    channel.append(element)
            # The image title must equal the channel's (validator ImageTitleDoesntMatch).
            for element in (channel.find("title"), channel.find("image/title")):
                if element is not None:
                    element.text = rss_text(title)
            # feedparser reads every RSS <description> as HTML, so the plain-text
            # description is escaped: "C++ <Rust>" would otherwise lose "<Rust>".
            channel.find("description").text = html.escape(description, quote=False)
            return rss

    return FeedLinks


def _atom_text(element: Any, text: str) -> None:
    kind, element.text = atom_text(text)
    if kind != "text":
        element.set("type", kind)


def _author(author: Author) -> dict[str, str]:
    data = {"name": author.name}
    if author.email:
        data["email"] = author.email
    if author.url:
        data["uri"] = author.url
    return data


def rss_creators(post: Post, site_authors: tuple[Author, ...]) -> tuple[Author, ...]:
    """Return the authors an RSS item names: every one, by name, as dc:creator.

    RSS <author> is an email address (https://www.rssboard.org/rss-profile#element-channel-item-author);
    readers show that address instead of the name (lemon24's reader showed ``taro@example.com``), and
    an item with both <author> and dc:creator is the validator's DuplicateItemSemantics. So names go
    in dc:creator, one per author (https://www.rssboard.org/rss-profile#namespace-elements-dublin-creator),
    and no item carries <author>; the addresses stay in Atom's author/email.
    """
    return post.authors or site_authors


#: Bytes of feed entries kept for the next feed that shows the same post (each holds its post's HTML): an edit's
#: documents show about 200 entries, every page 1 of a cold start about 1,000; more only costs the builder memory.
FEED_ENTRY_BYTES = 16 << 20
#: What a kept entry holds besides its HTML and summary: feedgen's record, its extension class, the key.
ENTRY_OVERHEAD = 4096


def _entry_weight(fe: FeedEntry, entry: Entry, *args: Any) -> int:
    return len(entry.content_html) + 2 * len(entry.summary) + ENTRY_OVERHEAD


def _feed_entry(
    entry: Entry, site_authors: tuple[Author, ...], full: bool = True, language: str | None = None, show: bool = False
) -> FeedEntry:
    """Return the feedgen entry of ``entry``; built once, shared by every feed that shows it.

    ``full=False`` makes a summary-only item (summary, link, image; no body: RSS ``description``
    without ``content:encoded``, Atom ``summary`` without ``content``). ``language`` is the feed's:
    an entry in another one says so with ``xml:lang`` (Atom). ``show``: the RSS item of a podcast
    show, with its ``itunes:``/``podcast:`` tags.
    """
    post = entry.post
    fe = FeedEntry()
    fe.id(post.id)
    fe.guid(post.id, permalink=post.id == post.url)
    fe.title(post.title)
    fe.link(href=post.link, rel="alternate", type="text/html")
    fe.published(post.published)
    fe.updated(post.updated)
    # content() before summary(): summary() then fills the RSS <description>,
    # and content:encoded carries the full HTML. Never description(): it overwrites Atom content.
    # A post with no body has neither: an empty element is the validator's NotBlank, and an item or
    # entry may go without them (RSS needs a title or a description; an Atom entry without content
    # has its alternate link: https://www.rfc-editor.org/rfc/rfc4287#section-4.1.2).
    if full and entry.content_html.strip():
        fe.content(entry.content_html, type="html")
    # RSS <description> is HTML, so the plain-text summary is HTML-escaped ("AT&T" would
    # otherwise be a broken entity: validator NotHtml); Atom says so with type="html".
    if entry.summary.strip():
        fe.summary(html.escape(entry.summary, quote=False), type="html")
    for tag in entry.tags:
        fe.category(term=tag.name)
    authors = post.authors or site_authors
    for author in authors:
        fe.author(_author(author))
    if post.enclosure is not None:
        e = post.enclosure
        fe.enclosure(e.url, str(e.length), e.type)

    class Extras(BaseEntryExtension):  # type: ignore[misc]
        def extend_atom(self, element: Any) -> Any:
            # feedgen 1.0 drops rel/type/length from entry links (a shadowed
            # variable), turning the enclosure into a second "alternate" link
            # (RFC 4287 §4.1.1, validator DuplicateAtomLink): write them here.
            _atom_text(element.find("title"), post.title)
            if post.language and post.language != language:
                element.set(XML_LANG, post.language)  # RFC 4287 §2: xml:lang on any element
            for old in element.findall("link"):
                element.remove(old)
            etree.SubElement(element, "link", {"rel": "alternate", "type": "text/html", "href": post.link})
            if post.enclosure is not None:
                e = post.enclosure
                etree.SubElement(element, "link", {"rel": "enclosure", "type": e.type, "length": str(e.length), "href": e.url})
            self._media(element)
            return element

        def extend_rss(self, element: Any) -> Any:
            element.find("title").text = rss_text(post.title)
            for old in element.findall("author"):
                element.remove(old)
            for author in rss_creators(post, site_authors):
                etree.SubElement(element, f"{{{DC_NS}}}creator").text = author.name
            self._media(element)
            if show:
                element.extend(podcast.item_elements(entry))
            return element

        def _media(self, element: Any) -> None:
            if post.image:
                # Podcast apps take every media:content for the episode's media (gPodder lists the image as a
                # second file to download): a show's items give their image as itunes:image and media:thumbnail.
                if not show:
                    etree.SubElement(element, f"{{{MEDIA_NS}}}content", {"url": post.image, "medium": "image"})
                etree.SubElement(element, f"{{{MEDIA_NS}}}thumbnail", {"url": post.image})

    fe.register_extension("feeds", Extras)
    return fe


feed_entry = ByteBounded(_feed_entry, FEED_ENTRY_BYTES, _entry_weight)
