"""Markdown → HTML (CommonMark + tables + footnotes) with every URL made absolute."""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin

SUMMARY_LIMIT = 600


@dataclass(frozen=True)
class Rendered:
    #: The body as HTML, every relative href/src/srcset absolute.
    html: str
    #: The first paragraph as plain text (the default summary).
    first_paragraph: str


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable("table").use(footnote_plugin)


def render(body: str, base_url: str, *, iframe_hosts: tuple[str, ...] = ()) -> Rendered:
    """Render Markdown ``body`` for a post published at ``base_url``."""
    md = _parser()
    tokens = md.parse(body)
    return Rendered(
        html=absolutize(md.renderer.render(tokens, md.options, {}), base_url),
        first_paragraph=first_paragraph(tokens),
    )


def first_paragraph(tokens: list[Token]) -> str:
    """Return the text of the first paragraph, shortened to a sentence boundary."""
    for index, token in enumerate(tokens):
        if token.type == "paragraph_open" and index + 1 < len(tokens):
            text = " ".join(_inline_text(tokens[index + 1].children or []).split())
            if text:
                return shorten(text, SUMMARY_LIMIT)
    return ""


def _inline_text(children: list[Token]) -> str:
    parts: list[str] = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_inline_text(child.children or []))
    return "".join(parts)


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` at a word boundary before ``limit`` characters, adding an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


# An opening tag, then each URL-bearing attribute inside it. Text and code are
# escaped by the renderer, so "<" only starts real markup here.
_TAG = re.compile(r"<[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?>")
_URL_ATTR = re.compile(
    r"""(\s(?:href|src|srcset|poster|cite|action|data)\s*=\s*)("[^"]*"|'[^']*'|[^\s"'=<>`]+)""",
    re.IGNORECASE,
)


def absolutize(fragment: str, base_url: str) -> str:
    """Make every relative URL in an HTML fragment absolute against ``base_url``.

    Readers and RSS-to-email tools ignore ``xml:base``, so links are resolved here.
    Absolute, ``mailto:`` and other scheme URLs are kept; protocol-relative ones
    get the post's scheme; fragment-only links (footnotes) point into the post's
    page, since inside a feed ``#fn1`` would resolve against the feed's URL
    (the W3C validator flags any href without a scheme as ContainsRelRef).
    """

    def fix_attr(match: re.Match[str]) -> str:
        prefix, value = match.groups()
        name = prefix.strip().split("=")[0].strip().lower()
        quote = value[0] if value[0] in "\"'" else '"'
        raw = html.unescape(value.strip("\"'"))
        fixed = _join_srcset(raw, base_url) if name == "srcset" else join_url(raw, base_url)
        return f"{prefix}{quote}{html.escape(fixed, quote=True)}{quote}"

    return _TAG.sub(lambda tag: _URL_ATTR.sub(fix_attr, tag.group(0)), fragment)


def join_url(url: str, base_url: str) -> str:
    """Resolve ``url`` against ``base_url`` unless it already has a scheme."""
    url = url.strip()
    if not url or urlsplit(url).scheme:
        return url
    return urljoin(base_url, url)


def _join_srcset(srcset: str, base_url: str) -> str:
    candidates = []
    for candidate in srcset.split(","):
        parts = candidate.split()
        if parts:
            candidates.append(" ".join([join_url(parts[0], base_url), *parts[1:]]))
    return ", ".join(candidates)


def plain_text(fragment: str) -> str:
    """Return the text of an HTML fragment, tags dropped and whitespace folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", fragment)).split())


@lru_cache(maxsize=1)
def renderer_version() -> str:
    """Everything that changes the HTML of a given source: this module and the Markdown libraries."""
    from importlib import metadata
    from pathlib import Path

    parts = [Path(__file__).read_bytes().hex()] + [metadata.version(name) for name in ("markdown-it-py", "mdit-py-plugins")]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
