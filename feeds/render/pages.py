"""The HTML index pages and the OPML list, rendered into the snapshot like feeds."""

from __future__ import annotations

import email.utils
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from feeds.config import Config
from feeds.content.site import Site
from feeds.models import Entry, FeedPage, Post, Tag


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # Autoescape HTML and XML: a post titled "<script>" stays text.
    env = Environment(
        loader=PackageLoader("feeds.render", "templates"),
        autoescape=select_autoescape(["html", "xml", "opml"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["rfc822"] = email.utils.format_datetime
    # Tag slugs may hold any letter (café): links carry them percent-encoded, as the feeds do.
    env.filters["path"] = quote
    env.globals["entry_html"] = entry_html
    return env


@lru_cache(maxsize=16384)
def entry_html(entry: Entry, site_url: str) -> Markup:
    """Return one post's list item; rendered once and shared by every page that lists it."""
    return Markup(_environment().get_template("_entry.html").render(entry=entry, site_url=site_url))


@dataclass(frozen=True)
class FeedLink:
    label: str
    url: str
    media_type: str


def feed_links(config: Config, prefix: str) -> list[FeedLink]:
    """Return the three feeds of a scope (``/`` or ``/tags/<slug>/``)."""
    from feeds.render.formats import FORMATS  # the registry imports models only; no cycle at run time

    return [FeedLink(f.label, config.site_url + quote(prefix) + f.filename, f.media_type.split(";")[0]) for f in FORMATS.values()]


@dataclass(frozen=True)
class Index:
    """Everything the HTML pages show, rendered to bytes on demand of the builder."""

    config: Config
    site: Site
    newest: Sequence[Entry]
    posts_by_tag: Mapping[str, Sequence[Post]]

    def _render(self, template: str, **context: Any) -> bytes:
        page = _environment().get_template(template)
        return page.render(config=self.config, site=self.site, **context).encode("utf-8")

    def home(self) -> bytes:
        return self._render("index.html", feeds=feed_links(self.config, "/"), entries=self.newest)

    def tag_list(self) -> bytes:
        rows = [(tag, len(self.posts_by_tag[tag.slug]), feed_links(self.config, f"/tags/{tag.slug}/")) for tag in self.site.tags.tags]
        return self._render("tags.html", rows=rows, feeds=feed_links(self.config, "/"))

    def tag_page(self, tag: Tag, entries: Sequence[Entry]) -> bytes:
        return self._render(
            "tag.html",
            tag=tag,
            count=len(self.posts_by_tag[tag.slug]),
            feeds=feed_links(self.config, f"/tags/{tag.slug}/"),
            entries=entries,
        )

    def opml(self, filename: str = "feed.xml") -> bytes:
        """Return the OPML 2.0 subscription list: one outline per scope, in the format of ``filename``.

        One outline per scope, not three: an aggregator importing three formats
        of one feed would show every post three times. http://opml.org/spec2.opml
        """
        from feeds.render.formats import FORMATS

        newest = self.site.posts[0].updated if self.site.posts else None
        scopes: list[tuple[str, str, Tag | None]] = [(self.config.title, "/", None)]
        scopes += [(f"{self.config.title}: {tag.name}", f"/tags/{tag.slug}/", tag) for tag in self.site.tags.tags]
        # "version" is defined for RSS only (RSS, RSS1, RSS2, scriptingNews).
        version = "RSS2" if filename == "feed.xml" else None
        return self._render("feeds.opml", scopes=scopes, newest=newest, filename=filename, version=version, label=FORMATS[filename].label)

    def feed_view(self, page: FeedPage) -> bytes:
        """Return the HTML a browser gets for one page of a feed scope (any of its formats)."""
        prefix = "/" if page.tag is None else f"/tags/{page.tag.slug}/"
        return self._render("feed.html", page=page, feeds=feed_links(self.config, prefix), entries=page.entries, home=page.home_url)


#: OPML subscription lists by path, each naming one format's URL of every scope.
OPML_FILES = {"/feeds.opml": "feed.xml", "/feeds-atom.opml": "atom.xml", "/feeds-json.opml": "feed.json"}
