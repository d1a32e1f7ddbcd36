"""Sanitize post HTML: an allow-list of what posts use, balanced, with every URL absolute.

nh3 (Ammonia) parses with html5ever, keeps only the allow-list below, serializes balanced HTML and
hands every attribute to a filter that makes URLs absolute: a tokenizer sees attributes, so a ``>``
inside a quoted value cannot hide one (as it could from a regex). Feeds, the browser views and the
HTML pages all carry this same HTML; newsletter tools paste it into e-mails as it is.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from functools import lru_cache, partial
from html.parser import HTMLParser
from urllib.parse import quote, urljoin, urlsplit

import nh3

# Characters that make html5lib's strict parser (the W3C validator's NotHtml test) fail, most of which XML 1.0
# also forbids: controls, lone surrogates, noncharacters. They can come from character references
# (&#1;) as well as from the text. https://html.spec.whatwg.org/multipage/parsing.html#preprocessing-the-input-stream
_INVALID_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
# Kept out of the pattern above: astral characters in a character class make every search ~20x slower.
_ASTRAL_NONCHARACTERS = tuple(chr(plane + last) for plane in range(0x10000, 0x110000, 0x10000) for last in (0xFFFE, 0xFFFF))
_DELETE_ASTRAL_NONCHARACTERS = dict.fromkeys(map(ord, _ASTRAL_NONCHARACTERS))


def valid_chars(text: str) -> str:
    """Return ``text`` without the characters html5lib's strict parser rejects."""
    if _INVALID_CHARS.search(text) is None and not any(char in text for char in _ASTRAL_NONCHARACTERS):
        return text
    return _INVALID_CHARS.sub("", text).translate(_DELETE_ASTRAL_NONCHARACTERS)


_TAGS = frozenset(
    {
        *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code", "div", "span", "section"),
        *("ul", "ol", "li", "dl", "dt", "dd", "figure", "figcaption", "details", "summary"),
        *("a", "em", "strong", "b", "i", "u", "s", "del", "ins", "mark", "small", "sub", "sup", "q", "cite", "abbr"),
        *("dfn", "kbd", "samp", "var", "time", "wbr"),
        *("table", "caption", "colgroup", "col", "thead", "tbody", "tfoot", "tr", "th", "td"),
        *("img", "picture", "source", "video", "audio", "track"),
    }
)
# Dropped with everything inside. Besides code and forms: elements whose unwrapped content would not
# parse back to the same tree (a <div> inside <p><object>, <button> or <math> is legal there, but
# bare inside <p> it closes the paragraph and leaves a stray </p>: NotHtml), and raw-text elements.
_CLEAN_CONTENT_TAGS = frozenset(
    {
        *("script", "style", "noscript", "template", "object", "embed", "applet", "frame", "frameset", "noembed", "noframes"),
        *("form", "button", "input", "select", "option", "textarea", "svg", "math", "marquee", "title", "xmp", "plaintext"),
    }
)
_IFRAME_ATTRIBUTES = frozenset({"src", "width", "height", "title", "allow", "allowfullscreen", "loading"})
_ATTRIBUTES: dict[str, frozenset[str]] = {
    "*": frozenset({"id", "title", "lang", "dir"}),
    # The footnote attributes are comrak's (GitHub's) footnote markup, kept as written.
    "a": frozenset({"href", "name", "class", "aria-label", "data-footnote-ref", "data-footnote-backref", "data-footnote-backref-idx"}),
    "section": frozenset({"class", "data-footnotes"}),
    "sup": frozenset({"class"}),
    "code": frozenset({"class"}),
    "blockquote": frozenset({"cite"}),
    "q": frozenset({"cite"}),
    "del": frozenset({"cite", "datetime"}),
    "ins": frozenset({"cite", "datetime"}),
    "time": frozenset({"datetime"}),
    "ol": frozenset({"start", "reversed", "type"}),
    "li": frozenset({"value"}),
    "details": frozenset({"open"}),
    "th": frozenset({"align", "colspan", "rowspan", "scope"}),
    "td": frozenset({"align", "colspan", "rowspan"}),
    "col": frozenset({"span"}),
    "colgroup": frozenset({"span"}),
    "img": frozenset({"src", "alt", "width", "height", "srcset", "sizes", "loading"}),
    "source": frozenset({"src", "srcset", "sizes", "type", "media"}),
    "video": frozenset({"src", "poster", "controls", "width", "height", "loop", "muted", "playsinline", "preload"}),
    "audio": frozenset({"src", "controls", "loop", "muted", "preload"}),
    "track": frozenset({"src", "kind", "srclang", "label", "default"}),
}
#: Class names kept, per element: comrak's footnote markup; on code only a language-* name (below).
_CLASSES = {"a": frozenset({"footnote-backref"}), "section": frozenset({"footnotes"}), "sup": frozenset({"footnote-ref"})}
_LANGUAGE_CLASS = re.compile(r"language-[\w#+.-]+")
_SCHEMES = frozenset({"http", "https", "mailto"})
_RESOURCE_SCHEMES = frozenset({"http", "https"})  # what an image, a video or a quotation source can be
_URL_ATTRIBUTES = frozenset({"href", "src", "poster", "cite"})

#: The post URL for the attribute filter of the sanitize() call running in this thread. A Cleaner is
#: built once per set of iframe hosts (one per call would cost ~0.02 ms a post), so the URL cannot be
#: bound into its filter; a ContextVar keeps concurrent calls in other threads apart.
_BASE_URL: ContextVar[str] = ContextVar("base_url")
# A <pre> start tag whose text starts with a newline (nh3 writes a ">" inside an attribute value as &gt;).
_PRE_NEWLINE = re.compile(r"(<pre(?:\s[^>]*)?>)(?=\n)")


def sanitize(fragment: str, base_url: str, *, iframe_hosts: tuple[str, ...] = ()) -> str:
    """Return the allow-listed part of the HTML ``fragment``, balanced, with every URL absolute against ``base_url``."""
    token = _BASE_URL.set(base_url)
    try:
        html = _clean(fragment, _cleaner(iframe_hosts, True), iframe_hosts)
    finally:
        _BASE_URL.reset(token)
    # html5ever builds some trees from tag soup that it would not build from their own serialization: content
    # misplaced in a table moved before it ("foster parenting", <h1><table><h1> gives an <h1> inside an <h1>),
    # anchors split around blocks. Parsed again, that is a parse error (NotHtml) and another tree. Clean until
    # the output is a fixed point (Markdown's own HTML is one at once; a second pass costs ~0.1 ms a post).
    for _ in range(3):
        again = _clean(html, _cleaner(iframe_hosts, False), iframe_hosts)
        if again == html:
            break
        html = again
    return html


def _clean(fragment: str, cleaner: nh3.Cleaner, iframe_hosts: tuple[str, ...]) -> str:
    try:
        html = cleaner.clean(fragment)
    except UnicodeEncodeError:  # lone surrogates cannot cross into Rust; checking first would cost every call
        html = cleaner.clean(valid_chars(fragment))
    if "<iframe" in html:
        html = _cut_iframes(html, _hosts(iframe_hosts))
    # A parser drops a leading U+FEFF as a byte order mark (https://encoding.spec.whatwg.org/#decode),
    # and then the next one leads: without this, sanitizing the output again would not give the same bytes.
    html = valid_chars(html).lstrip("\ufeff")
    if "<pre" in html:
        # A parser drops one newline right after <pre>, so HTML's serializer writes one more where the text
        # starts with a newline (https://html.spec.whatwg.org/multipage/parsing.html#serialising-html-fragments);
        # html5ever does not. Without it, a reader would lose the line, and cleaning again would change the bytes.
        html = _PRE_NEWLINE.sub("\\1\n", html)
    return html


@lru_cache(maxsize=16)
def _cleaner(iframe_hosts: tuple[str, ...], filtered: bool) -> nh3.Cleaner:
    """The cleaner; ``filtered`` with the attribute filter (URLs made absolute), else for output that already went through it."""
    hosts = _hosts(iframe_hosts)
    attributes = dict(_ATTRIBUTES)
    if hosts:
        attributes["iframe"] = _IFRAME_ATTRIBUTES
    return nh3.Cleaner(
        tags=(_TAGS | {"iframe"}) if hosts else _TAGS,
        clean_content_tags=_CLEAN_CONTENT_TAGS if hosts else (_CLEAN_CONTENT_TAGS | {"iframe"}),
        attributes=attributes,
        attribute_filter=partial(_filter_attribute, hosts) if filtered else None,
        url_schemes=_SCHEMES,
        # Without target="_blank" (not allowed) noopener changes nothing, and noreferrer would hide the blog from the sites it links to.
        link_rel=None,
    )


def _hosts(iframe_hosts: tuple[str, ...]) -> tuple[str, ...]:
    normalized = (host.strip().strip(".").lower() for host in iframe_hosts)
    return tuple(host for host in normalized if host)


def _filter_attribute(iframe_hosts: tuple[str, ...], tag: str, name: str, value: str) -> str | None:
    """Return the value to publish for one allowed attribute, or None to drop it."""
    # Ammonia has already refused href/src/poster values with a scheme outside _SCHEMES; _absolute()
    # checks again because it also sees cite and srcset, which Ammonia does not treat as URLs.
    if name in _URL_ATTRIBUTES:
        url = _absolute(value, _BASE_URL.get(), _SCHEMES if name == "href" else _RESOURCE_SCHEMES)
        if tag == "iframe" and url is not None and not _iframe_allowed(url, iframe_hosts):
            return None
        return url
    if name == "srcset":
        return _absolute_srcset(value, _BASE_URL.get())
    if name == "class":
        kept = [c for c in value.split() if (_LANGUAGE_CLASS.fullmatch(c) if tag == "code" else c in _CLASSES.get(tag, ()))]
        return " ".join(kept) or None
    return value


def _iframe_allowed(url: str, hosts: tuple[str, ...]) -> bool:
    """Tell whether the absolute ``url`` is on one of ``hosts`` or a subdomain of one."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    # Only plain host names (a browser would percent-decode anything else first), and no user:password@.
    if parts.scheme not in ("http", "https") or not host or not _HOST_NAME.fullmatch(host) or "@" in parts.netloc:
        return False
    return any(host == allowed or host.endswith("." + allowed) for allowed in hosts)


_HOST_NAME = re.compile(r"[a-z0-9.-]+")


class _IframeCutter(HTMLParser):
    """Find what to cut from nh3's output: unlisted iframes whole, and the content of the others."""

    def __init__(self, html: str, hosts: tuple[str, ...]) -> None:
        super().__init__(convert_charrefs=True)
        self.hosts = hosts
        #: (start, end) offsets into the HTML, in order.
        self.cuts: list[tuple[int, int]] = []
        self._line_starts = [0, *(match.end() for match in re.finditer("\n", html))]
        self._cut_from: int | None = None
        self._listed = False

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "iframe":
            # An iframe holds raw text, as in the parser nh3 used, not markup to look into:
            # https://html.spec.whatwg.org/multipage/parsing.html#parsing-main-inbody
            self.set_cdata_mode(tag)
            src = dict(attrs).get("src")
            self._listed = bool(src and _iframe_allowed(src, self.hosts))
            start_tag = self.get_starttag_text() or ""
            self._cut_from = self._offset() + (len(start_tag) if self._listed else 0)

    def handle_endtag(self, tag: str) -> None:
        if tag == "iframe" and self._cut_from is not None:
            # html5ever writes every end tag as "</iframe>", so its length is known.
            self.cuts.append((self._cut_from, self._offset() + (0 if self._listed else len("</iframe>"))))
            self._cut_from = None


def _cut_iframes(html: str, hosts: tuple[str, ...]) -> str:
    """Remove each iframe whose src is not on a listed host (nh3 can drop its src, not the element), and empty the others.

    An iframe's content is never shown, and as raw text it may hold anything: a reader that parses
    it as markup would find an <a href="javascript:..."> that nothing sanitized.
    """
    cutter = _IframeCutter(html, hosts)
    cutter.feed(html)
    cutter.close()
    kept, position = [], 0
    for start, end in cutter.cuts:
        kept.append(html[position:start])
        position = end
    kept.append(html[position:])
    return "".join(kept)


# ---------------------------------------------------------------------------------------------- URLs

# The URL parser removes these before anything else: https://url.spec.whatwg.org/#concept-basic-url-parser
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_TAB_AND_NEWLINE = str.maketrans("", "", "\t\n\r")
# What RFC 3986 does not allow anywhere in a URI (https://www.rfc-editor.org/rfc/rfc3986#section-2), and a "%" not starting %XX.
_NOT_URI = re.compile(r'[\x00-\x20"<>\\^`{|}\x7f]|%(?![0-9A-Fa-f]{2})')
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_URI_SAFE = "!#$%&'()*+,/:;=?@[]~"  # reserved characters and "%"; quote() never encodes letters, digits and "_.-~"
_SRCSET_SPACE = " \t\n\r\f"


def _absolute(value: str, base_url: str, schemes: frozenset[str] = _RESOURCE_SCHEMES) -> str | None:
    """Return ``value`` resolved against ``base_url`` as a valid URI, or None if it is empty or its scheme is not in ``schemes``.

    Absolute and mailto: URLs keep their text; protocol-relative ones get the base's scheme; a
    fragment-only link (a footnote) points into the post's page, since inside a feed "#fn-1" would
    resolve against the feed's URL (the W3C validator flags a relative href as ContainsRelRef).
    """
    url = value.strip(_C0_AND_SPACE)
    if "\t" in url or "\n" in url or "\r" in url:
        url = url.translate(_TAB_AND_NEWLINE)
    if not url:
        return None
    if "\\" in url and url[:7].lower() != "mailto:":
        # Browsers read a backslash as "/" before the query of http(s) URLs, so https://a\@b/ is on host a:
        # https://url.spec.whatwg.org/#special-authority-ignore-slashes-state
        end = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
        url = url[:end].replace("\\", "/") + url[end:]
    try:
        if url.startswith("#"):  # the most common relative URL, and urljoin() is slow
            url = base_url.partition("#")[0] + url
        else:
            scheme = urlsplit(url).scheme  # raises on what no URL parser reads, such as "http://["
            if scheme and scheme not in schemes:
                return None
            if not scheme:
                url = urljoin(base_url, url)
        if url.isascii() and not _NOT_URI.search(url):
            return url
        return quote(_STRAY_PERCENT.sub("%25", url), safe=_URI_SAFE)
    except ValueError:  # an unclosed IPv6 bracket, a lone surrogate
        return None


def _absolute_srcset(value: str, base_url: str) -> str | None:
    """Make each image candidate's URL absolute, dropping candidates with a refused URL."""
    candidates = []
    for url, descriptors in _srcset_candidates(value):
        absolute = _absolute(url, base_url)
        if absolute is not None:
            # A comma inside a URL is legal here, but readers that split srcset on commas would cut it.
            absolute = absolute.replace(",", "%2C")
            candidates.append(f"{absolute} {descriptors}" if descriptors else absolute)
    return ", ".join(candidates) or None


def _srcset_candidates(value: str) -> list[tuple[str, str]]:
    """Split a srcset into (URL, descriptors) pairs: https://html.spec.whatwg.org/multipage/images.html#parsing-a-srcset-attribute"""
    candidates: list[tuple[str, str]] = []
    position, end = 0, len(value)
    while True:
        while position < end and (value[position] in _SRCSET_SPACE or value[position] == ","):
            position += 1
        if position >= end:
            return candidates
        start = position
        while position < end and value[position] not in _SRCSET_SPACE:
            position += 1
        url = value[start:position]
        if url.endswith(","):  # a URL followed directly by a comma has no descriptors
            candidates.append((url.rstrip(","), ""))
            continue
        comma = value.find(",", position)
        comma = end if comma < 0 else comma
        candidates.append((url, " ".join(value[position:comma].split())))
        position = comma + 1
