"""Markdown → sanitized HTML with every URL absolute, and the plain text of its first paragraph.

Markdown is rendered by comrak (a Rust port of GitHub's cmark-gfm that writes the same HTML:
CommonMark, GFM tables and footnotes; the choice is measured in bench/MARKDOWN.md). Raw HTML in
posts is allowed, so the result then goes through :mod:`feeds.render.sanitize`.
"""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser
from importlib import metadata
from pathlib import Path

import comrak

from feeds.limits import SUMMARY_LIMIT
from feeds.render import sanitize as sanitizer
from feeds.render.sanitize import sanitize, valid_chars
from feeds.urls import join as join_url


@dataclass(frozen=True)
class Rendered:
    #: Sanitized HTML of the body; every URL absolute.
    html: str
    #: Plain text of the first paragraph, shortened at a word boundary to SUMMARY_LIMIT with "…" (the default summary).
    first_paragraph: str


def render(body: str, base_url: str, *, iframe_hosts: tuple[str, ...] = ()) -> Rendered:
    """Render the Markdown ``body`` of a post published at ``base_url``."""
    html = sanitize(_markdown(body), base_url, iframe_hosts=iframe_hosts)
    return Rendered(html=html, first_paragraph=shorten(_first_paragraph(html), SUMMARY_LIMIT))


@lru_cache(maxsize=1)
def renderer_version() -> str:
    """Return a short hash that changes whenever the output for the same input could change."""
    # html.parser and urllib take part too (first paragraph, URL quoting), hence the Python version.
    parts = [Path(__file__).read_bytes(), Path(sanitizer.__file__).read_bytes()]
    parts += [metadata.version(name).encode() for name in ("comrak", "nh3")]
    parts.append(platform.python_version().encode())
    return hashlib.sha256(b"\n".join(parts)).hexdigest()[:16]


def _comrak_options() -> tuple[comrak.ExtensionOptions, comrak.RenderOptions]:
    extension = comrak.ExtensionOptions()
    extension.table = True  # https://github.github.com/gfm/#tables-extension-
    extension.footnotes = True  # written as GitHub writes them: <section class="footnotes" data-footnotes>
    options = comrak.RenderOptions()
    options.unsafe_ = True  # raw HTML is allowed in posts; sanitize() decides what of it stays
    return extension, options


_EXTENSION_OPTIONS, _RENDER_OPTIONS = _comrak_options()


def _markdown(body: str) -> str:
    try:
        return comrak.render_markdown(body, extension_options=_EXTENSION_OPTIONS, render_options=_RENDER_OPTIONS)
    except UnicodeEncodeError:  # lone surrogates cannot cross into Rust; checking first would cost every post
        return _markdown(valid_chars(body))


# Elements that separate words in plain text; inline ones (H<sub>2</sub>O) do not.
_BREAKS = frozenset(
    {
        *("p", "br", "hr", "div", "section", "article", "aside", "header", "footer", "nav", "main", "blockquote", "pre"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "figure", "figcaption", "details", "summary"),
        *("table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "img", "video", "audio", "iframe"),
    }
)
# A tight list item's text ends where a nested block starts.
_ITEM_ENDS = frozenset({"ul", "ol", "dl", "blockquote", "pre", "table", "div", "figure", "hr", "h1", "h2", "h3", "h4", "h5", "h6"})


class _Text(HTMLParser):
    """Collect the text of an HTML fragment, without script and style content."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.CDATA_CONTENT_ELEMENTS:
            self._hidden += 1
        elif tag in _BREAKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.CDATA_CONTENT_ELEMENTS:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BREAKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def plain_text(fragment: str) -> str:
    """Return the text of an HTML fragment: tags dropped, entities decoded, whitespace folded."""
    parser = _Text()
    parser.feed(fragment)
    parser.close()
    return " ".join("".join(parser.parts).split())


class _FirstParagraph(HTMLParser):
    """Collect the text of the first paragraph of rendered Markdown: a <p>, or a tight list's first item.

    Footnote references are left out; an image counts as its alt text.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = ""
        self._parts: list[str] | None = None  # while inside a candidate
        self._in_item = False  # the candidate is a list item, not a <p>
        self._footnote_ref = 0  # depth inside <sup class="footnote-ref">

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.text:
            return
        if tag == "p" or (tag == "li" and self._parts is None):
            self._parts, self._in_item = [], tag == "li"
        elif self._parts is None:
            return
        elif tag == "sup" and (self._footnote_ref or ("class", "footnote-ref") in attrs):
            self._footnote_ref += 1
        elif self._in_item and tag in _ITEM_ENDS:
            self._finish()
        elif tag == "br":
            self._parts.append(" ")
        elif tag == "img" and not self._footnote_ref:
            self._parts.append(dict(attrs).get("alt") or "")

    def handle_endtag(self, tag: str) -> None:
        if self.text or self._parts is None:
            return
        if tag == "sup" and self._footnote_ref:
            self._footnote_ref -= 1
        elif tag == "p" or (tag == "li" and self._in_item):
            self._finish()

    def handle_data(self, data: str) -> None:
        if self._parts is not None and not self.text and not self._footnote_ref:
            self._parts.append(data)

    def _finish(self) -> None:
        # An empty paragraph (an image without alt text, say) is not the first one: keep looking.
        self.text = " ".join("".join(self._parts or ()).split())
        self._parts = None


def _first_paragraph(html: str) -> str:
    """Return the text of the first paragraph of sanitized ``html``, parsing no further than needed."""
    parser = _FirstParagraph()
    position = 0
    while not parser.text:
        # Feed up to the next end of a paragraph or list item: html.parser costs ~50 µs per KB.
        ends = [end for end in (html.find("</p>", position), html.find("</li>", position)) if end >= 0]
        if not ends:
            parser.feed(html[position:])
            parser.close()
            break
        stop = html.index(">", min(ends)) + 1
        parser.feed(html[position:stop])
        position = stop
    return parser.text


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` at a word boundary to at most ``limit`` characters, ending with "…" when cut."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]  # leave room for the ellipsis
    if not text[limit - 1].isspace() and " " in head:
        head = head.rsplit(" ", 1)[0]  # the cut fell inside a word: drop that word
    return head.rstrip(" ,;:") + "…"


__all__ = ["Rendered", "join_url", "plain_text", "render", "renderer_version", "sanitize", "shorten"]
