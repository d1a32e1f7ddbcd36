"""The W3C Feed Validation Service's rules that apply to our feeds, as checks over served bytes.

We have no network, so these encode the validator's documented messages
(https://validator.w3.org/feed/docs/) and its source (w3c/feedvalidator,
src/feedvalidator/*.py): each check names the message it stands for. Every
function returns a list of problems (empty = valid with zero warnings).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from html.entities import name2codepoint
from urllib.parse import urlsplit

import feedparser
from lxml import etree
from lxml import html as lxml_html

from . import itunescheck

ATOM = "http://www.w3.org/2005/Atom"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
MEDIA = "http://search.yahoo.com/mrss/"
DC = "http://purl.org/dc/elements/1.1/"
#: RFC 5005 feed history (fh:archive); the validator knows it (its namespace list, src/feedvalidator/__init__.py).
FH = "http://purl.org/syndication/history/1.0"
#: Namespaces the validator knows (UnknownNamespace otherwise); Podcasting 2.0's draws only UnsupportedNamespace, an Info.
KNOWN_NAMESPACES = {ATOM, CONTENT, MEDIA, DC, FH, "http://www.w3.org/XML/1998/namespace", itunescheck.ITUNES, itunescheck.PODCAST}
#: RFC 5005 links: §3 paging and §4 archives (FeedHistoryRelInEntry in an entry, at most one of each in a feed).
RSS_PAGING = ("first", "last", "previous", "next", "current", "prev-archive", "next-archive")

# validators.py rfc822.rfc2822_re: four-digit year, numeric zone (or UT/GMT/Z).
RFC2822 = re.compile(
    r"(((Mon)|(Tue)|(Wed)|(Thu)|(Fri)|(Sat)|(Sun)), )?\d\d? ((Jan)|(Feb)|(Mar)|(Apr)|(May)|(Jun)|(Jul)|(Aug)|(Sep)|(Oct)|(Nov)|(Dec))"
    r" \d\d\d\d \d\d:\d\d(:\d\d)? (([+-]?\d\d[03]0)|(UT)|(GMT)|Z)$"
)
# validators.py rfc3339.iso8601_re (Atom dates).
RFC3339 = re.compile(r"^\d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*)?(Z|([+-]\d\d:\d\d))$")
# validators.py rfc2396.tag_re (tag: URIs as ids).
TAG_URI = re.compile(
    r"^tag:([a-z0-9\-\._]+?@)?[a-z0-9\.\-]+?,\d{4}(-\d{2}(-\d{2})?)?:[0-9a-zA-Z;/\?:@&=+$\.\-_!~*'\(\)%,]*(#[0-9a-zA-Z;/\?:@&=+$\.\-_!~*'\(\)%,]*)?$"
)
# validators.py absUrlMixin: what ContainsRelRef looks at, and what counts as absolute.
ANCHOR = re.compile(r"""<a\s+href=(?:"(.*?)"|'(.*?)'|([\w-]+))[\s>]""", re.IGNORECASE)
IMG = re.compile(r"""<img\s+[^>]*src=(?:"(.*?)"|'(.*?)'|([\w-]+))[\s>]""", re.IGNORECASE)
ABSREF = re.compile(r"\w+:")
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
# XML 1.0 forbids these; the validator's BadCharacters also flags C1 controls and U+FFFD.
FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd\ufffe\uffff]")
# validators.py nonhtml: what makes text in a plain-text element "HTML" (ContainsHTML and kin).
NONHTML_END_TAG = re.compile(r"</(\w+)>")
NONHTML_ENTITY = re.compile(r"&(#?\w+)")
NONHTML_CHARACTER_DATA = re.compile(r"&#[x0-9]|<[/a-zA-Z]")
# validators.py HTMLValidator.htmltags: only an end tag of one of these counts.
HTML_TAGS = frozenset(
    "a abbr acronym address applet area article aside audio b base basefont bdi bdo big blockquote body br button "
    "canvas caption center cite code col colgroup command data datagrid datalist dd del details dfn dialog dir div dl "
    "dt em eventsource fieldset figcaption figure font footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup "
    "hr html i iframe img input ins isindex kbd label legend li link m main mark map menu meta meter nav noframes "
    "noscript object ol optgroup option output p param picture pre progress q rp rt ruby s samp script section select "
    "slot small source span strike strong style sub summary sup table tbody td template textarea tfoot th thead time "
    "title tr track tt u ul var xmp plaintext embed comment listing video wbr".split()
)
# validators.py HTMLValidator.acceptable_elements minus nothing we emit: others are SecurityRisk.
UNSAFE_ELEMENTS = {"script", "iframe", "object", "embed", "style", "link", "meta", "base", "frame", "frameset", "applet", "form"}


def parse(body: bytes) -> etree._Element:
    """Parse XML strictly (well-formedness is the first thing the validator checks)."""
    return etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))


def common(url: str, body: bytes) -> list[str]:
    """Checks that every XML feed document must pass."""
    problems = []
    text = body.decode("utf-8")  # NotUTF8 / EncodingMismatch: we declare and send UTF-8
    if FORBIDDEN_CHARS.search(text):
        problems.append(f"{url}: BadCharacters / XML 1.0 forbidden character")
    parsed = feedparser.parse(body)
    if parsed.bozo:
        problems.append(f"{url}: feedparser bozo: {parsed.bozo_exception!r}")
    root = parse(body)
    declared = set()
    for element in root.iter():
        declared.update(element.nsmap.values())
    unknown = declared - KNOWN_NAMESPACES
    if unknown:
        problems.append(f"{url}: UnknownNamespace {sorted(unknown)}")
    used = {etree.QName(e).namespace for e in root.iter() if isinstance(e.tag, str)}
    used |= {etree.QName(a).namespace for e in root.iter() for a in e.attrib}
    unused = {ns for ns in declared if ns not in used and ns != "http://www.w3.org/XML/1998/namespace"}
    if unused:
        problems.append(f"{url}: namespace declared but never used: {sorted(unused)}")
    return problems


def html_problems(where: str, fragment: str) -> list[str]:
    """ContainsRelRef, plus a stricter look at every href/src/srcset, and SecurityRisk elements."""
    problems = not_html(where, fragment)
    for match in [*ANCHOR.findall(fragment), *IMG.findall(fragment)]:
        ref = next(part for part in match if part).strip()
        if not ABSREF.match(ref):
            problems.append(f"{where}: ContainsRelRef {ref!r}")
    if fragment.strip():
        for element in lxml_html.fragments_fromstring(fragment) if "<" in fragment else []:
            if not isinstance(element, str):
                problems += _html_element_problems(where, element)
    return problems


def not_html(where: str, fragment: str) -> list[str]:
    """NotHtml: the validator parses content with html5lib in strict mode; any parse error is a warning."""
    from html5lib.html5parser import HTMLParser, ParseError

    try:
        HTMLParser(strict=True).parseFragment(fragment)
    except ParseError as e:
        return [f"{where}: NotHtml ({e})"]
    return []


def nonhtml(
    where: str, element: etree._Element | None, lines: list[str], *, message: str = "ContainsHTML", rss2: bool = False
) -> list[str]:
    """The validator's check of a plain-text element (validators.py ``nonhtml.validate``), on its decoded text.

    In this order, the first that applies: an end tag of an HTML element (``</b>``)
    is ``message``; otherwise an entity-like ``&name``/``&#N`` (an HTML entity name,
    ``apos`` or not all letters) is ``message``, and in RSS 2 a ``&#``/``<x``/``</``
    is CharacterData, except that either is skipped when the line the element starts
    on holds a hexadecimal character reference (``&#x``): the RSS Profile's advice
    (https://www.rssboard.org/rss-profile#data-types-characterdata), which the
    validator takes as the sign the publisher meant plain text. ``message`` is
    ContainsUndeclaredHTML for an Atom text construct of type text, NotInline for xhtml.
    """
    if element is None:
        return []
    value = element.text or ""
    # __init__.py rssCharData holds, per line of the document, whether it has "&#x"; nonhtml
    # looks at lines[startline-1:line], and both are the line of the start tag (base.py setElement).
    spelled_as_text = "&#x" in lines[(element.sourceline or 1) - 1]
    tags = [tag for tag in NONHTML_END_TAG.findall(value) if tag.lower() in HTML_TAGS]
    if tags:
        return [f"{where}: {message} </{tags[0]}>"]
    entities = NONHTML_ENTITY.findall(value)
    if entities:
        named = [e for e in entities if e in name2codepoint or e == "apos" or not e.isalpha()]
        return [f"{where}: {message} &{named[0]}"] if named and not spelled_as_text else []
    if rss2 and NONHTML_CHARACTER_DATA.search(value) and not spelled_as_text:
        return [f"{where}: CharacterData (encode & and < as &#x26; and &#x3C;)"]
    return []


def text_construct(where: str, element: etree._Element | None, lines: list[str]) -> list[str]:
    """An Atom text construct (content.py ``textConstruct``): plain text is checked as nonhtml, HTML as HTML."""
    if element is None:
        return []
    kind = element.get("type", "text")
    if kind == "html":
        return html_problems(where, element.text or "")
    return nonhtml(where, element, lines, message="NotInline" if kind == "xhtml" else "ContainsUndeclaredHTML")


def _html_element_problems(where: str, root: lxml_html.HtmlElement) -> list[str]:
    problems = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag.lower() in UNSAFE_ELEMENTS:
            problems.append(f"{where}: SecurityRisk <{element.tag}>")
        for name in ("href", "src", "poster", "cite"):
            value = element.get(name)
            if value is not None and not urlsplit(value.strip()).scheme:
                problems.append(f"{where}: relative {name}={value!r}")
        for candidate in (element.get("srcset") or "").split(","):
            if candidate.strip() and not urlsplit(candidate.split()[0]).scheme:
                problems.append(f"{where}: relative srcset {candidate!r}")
    return problems


def _plausible(when: float, where: str) -> list[str]:
    # validators.py implausible_822/8601: after 1990, not more than ten minutes ahead.
    if when > time.time() + 600 or when < 631152000:
        return [f"{where}: ImplausibleDate"]
    return []


def rss(url: str, body: bytes, *, home: str, hubs: tuple[str, ...], full: bool = True) -> list[str]:
    """RSS 2.0 + RSS Advisory Board profile, as the validator applies them."""
    problems = common(url, body)
    root = parse(body)
    if root.tag != "rss" or root.get("version") != "2.0":
        return [*problems, f"{url}: not RSS 2.0"]
    channel = root.find("channel")
    assert channel is not None
    for name in ("title", "link", "description"):
        if not (channel.findtext(name) or "").strip():
            problems.append(f"{url}: MissingElement channel/{name}")
    if channel.findtext("link") != home:
        problems.append(f"{url}: channel link {channel.findtext('link')!r} is not the HTML page {home!r}")
    lines = body.decode("utf-8").split("\n")
    for path in ("title", "description", "category", "image/title", "image/description"):
        for element in channel.findall(path):
            problems += nonhtml(f"{url} channel/{path}", element, lines, rss2=True)
    language = channel.findtext("language") or ""
    if not LANGUAGE.match(language):
        problems.append(f"{url}: InvalidLanguage {language!r}")
    problems += _atom_links(url, channel, "application/rss+xml", hubs)
    # MisplacedItem: channel metadata after the first item.
    seen_item = False
    for child in channel:
        if child.tag == "item":
            seen_item = True
        elif seen_item:
            problems.append(f"{url}: MisplacedItem: <{child.tag}> after an item")
    for name in ("lastBuildDate", "pubDate"):
        value = channel.findtext(name)
        if value is not None:
            problems += _rfc2822(f"{url} channel/{name}", value)
    image = channel.find("image")
    if image is not None:
        if image.findtext("title") != channel.findtext("title"):
            problems.append(f"{url}: ImageTitleDoesntMatch")
        if image.findtext("link") != channel.findtext("link"):
            problems.append(f"{url}: ImageLinkDoesntMatch")
        if not urlsplit(image.findtext("url") or "").scheme:
            problems.append(f"{url}: image url not absolute")
    guids: set[str] = set()
    for item in channel.findall("item"):
        problems += _rss_item(url, item, guids, lines, full)
    return problems + itunescheck.check(url, channel)


def _rss_item(url: str, item: etree._Element, guids: set[str], lines: list[str], full: bool = True) -> list[str]:
    where = f"{url} item {item.findtext('title')!r}"
    problems = []
    children = [child.tag for child in item]
    guid = item.find("guid")
    if guid is None:
        problems.append(f"{where}: MissingGuid")
    else:
        value = guid.text or ""
        permalink = guid.get("isPermaLink", "true") == "true"
        if permalink and (value.lower().startswith(("tag:", "urn:uuid:")) or not urlsplit(value).scheme.startswith("http")):
            problems.append(f"{where}: InvalidPermalink / guid {value!r} is not a URL but isPermaLink is not false")
        if value.startswith("tag:") and not TAG_URI.match(value):
            problems.append(f"{where}: InvalidTAG {value!r}")
        if value in guids:
            problems.append(f"{where}: DuplicateValue guid {value!r}")
        guids.add(value)
    for name in ("title", "link", "pubDate"):
        if children.count(name) != 1:
            problems.append(f"{where}: expected exactly one <{name}>, found {children.count(name)}")
    if children.count("description") > 1:
        problems.append(f"{where}: DuplicateElement description")
    for name in ("description", f"{{{CONTENT}}}encoded"):  # each may be left out (a post with no body), never blank
        for element in item.findall(name):
            if not (element.text or "").strip():
                problems.append(f"{where}: NotBlank {name}")
    # item.py: title, category, source are nonhtml; author (email_with_name) too; dc:creator is not checked.
    for name in ("title", "category", "source", "author"):
        for element in item.findall(name):
            problems += nonhtml(f"{where} {name}", element, lines, rss2=True)
    encoded = f"{{{CONTENT}}}encoded"
    if not full and encoded in children:
        problems.append(f"{where}: content:encoded in a summary-only feed")
    elif encoded in children and "description" in children and children.index("description") > children.index(encoded):
        problems.append(f"{where}: NeedDescriptionBeforeContent")
    problems += _rfc2822(f"{where} pubDate", item.findtext("pubDate") or "")
    # Author: one <author> (an email address) or dc:creator, never both (DuplicateItemSemantics).
    authors = item.findall("author")
    creators = item.findall(f"{{{DC}}}creator")
    if len(authors) > 1:
        problems.append(f"{where}: DuplicateElement author")
    if authors and creators:
        problems.append(f"{where}: DuplicateItemSemantics author + dc:creator")
    if not authors and not creators:
        problems.append(f"{where}: no author at item level")
    for author in authors:
        if not re.fullmatch(r"\S+@\S+ \(.+\)", author.text or ""):
            problems.append(f"{where}: author {author.text!r} is not 'email (Real Name)' (MissingRealName/EmailFormat)")
    for name in ("description", encoded):
        problems += html_problems(f"{where} {name}", item.findtext(name) or "")
    for enclosure in item.findall("enclosure"):
        problems += _enclosure(where, enclosure.get("url"), enclosure.get("length"), enclosure.get("type"))
    if len(item.findall("enclosure")) > 1:
        problems.append(f"{where}: DuplicateEnclosure")
    problems += _media(where, item)
    return problems


def _enclosure(where: str, href: str | None, length: str | None, media_type: str | None) -> list[str]:
    problems = []
    if not href or urlsplit(href).scheme not in ("http", "https"):
        problems.append(f"{where}: enclosure url {href!r} not http(s)")
    if length is None or not length.isdigit():
        problems.append(f"{where}: enclosure length {length!r} not a non-negative integer")
    if not media_type or not re.fullmatch(r"[^\s/]+/[^\s/]+", media_type):
        problems.append(f"{where}: enclosure type {media_type!r} not a MIME type")
    return problems


def _media(where: str, item: etree._Element) -> list[str]:
    problems = []
    for element in [*item.findall(f"{{{MEDIA}}}content"), *item.findall(f"{{{MEDIA}}}thumbnail")]:
        if not urlsplit(element.get("url") or "").scheme.startswith("http"):
            problems.append(f"{where}: media url {element.get('url')!r} not absolute")
        medium = element.get("medium")
        if medium is not None and medium not in ("image", "audio", "video", "document", "executable"):
            problems.append(f"{where}: InvalidMediaMedium {medium!r}")
    return problems


def _rfc2822(where: str, value: str) -> list[str]:
    if not RFC2822.match(value):
        return [f"{where}: InvalidRFC2822Date {value!r}"]
    parsed = parsedate_to_datetime(value)
    if "," in value and parsed.strftime("%a") != value[:3]:
        return [f"{where}: IncorrectDOW {value!r}"]
    return _plausible(parsed.timestamp(), where)


def _atom_links(url: str, parent: etree._Element, self_type: str, hubs: tuple[str, ...]) -> list[str]:
    """Self (MissingSelf, SelfDoesntMatchLocation, SelfNotAtom), hubs and RFC 5005 links."""
    problems = []
    links = parent.findall(f"{{{ATOM}}}link")
    by_rel: dict[str, list[etree._Element]] = {}
    for link in links:
        by_rel.setdefault(link.get("rel", "alternate"), []).append(link)
    selfs = by_rel.get("self", [])
    if len(selfs) != 1:
        problems.append(f"{url}: MissingSelf (found {len(selfs)} self links)")
    else:
        if selfs[0].get("href") != url:
            problems.append(f"{url}: SelfDoesntMatchLocation {selfs[0].get('href')!r}")
        if selfs[0].get("type") != self_type:
            problems.append(f"{url}: self link type {selfs[0].get('type')!r}")
    if sorted(link.get("href") for link in by_rel.get("hub", [])) != sorted(hubs):
        problems.append(f"{url}: hub links {[link.get('href') for link in by_rel.get('hub', [])]} != {list(hubs)}")
    for link in links:
        if not urlsplit(link.get("href") or "").scheme:
            problems.append(f"{url}: relative link href {link.get('href')!r}")
        if link.text and link.text.strip():
            problems.append(f"{url}: AtomLinkNotEmpty")
    for rel in RSS_PAGING:
        if len(by_rel.get(rel, [])) > 1:
            problems.append(f"{url}: duplicate rel={rel}")
    # RFC 5005 §4: an archive says so with fh:archive and links to the current feed; a current feed has no fh:archive.
    archive = parent.find(f"{{{FH}}}archive") is not None
    if archive and "current" not in by_rel:
        problems.append(f"{url}: archive without a rel=current link")
    if not archive and ("current" in by_rel or "next-archive" in by_rel):
        problems.append(f"{url}: archive links without fh:archive")
    return problems


def atom(url: str, body: bytes, *, home: str, hubs: tuple[str, ...], feed_id: str, full: bool = True) -> list[str]:
    """Atom 1.0 (RFC 4287) as the validator applies it."""
    problems = common(url, body)
    root = parse(body)
    if root.tag != f"{{{ATOM}}}feed":
        return [*problems, f"{url}: not an Atom feed"]
    for element in root.iter():
        if isinstance(element.tag, str) and etree.QName(element).namespace == ATOM and element.prefix is not None:
            problems.append(f"{url}: AvoidNamespacePrefix <{element.prefix}:{etree.QName(element).localname}>")
            break
    lang = root.get("{http://www.w3.org/XML/1998/namespace}lang") or ""
    if not LANGUAGE.match(lang):
        problems.append(f"{url}: InvalidLanguage xml:lang={lang!r}")
    if root.findtext(f"{{{ATOM}}}id") != feed_id:
        problems.append(f"{url}: feed id {root.findtext(f'{{{ATOM}}}id')!r} != permanent {feed_id!r}")
    problems += _absolute_id(url, root.findtext(f"{{{ATOM}}}id") or "")
    problems += _atom_links(url, root, "application/atom+xml", hubs)
    alternates = [link for link in root.findall(f"{{{ATOM}}}link") if link.get("rel", "alternate") == "alternate"]
    if [link.get("href") for link in alternates] != [home]:
        problems.append(f"{url}: alternate link {[link.get('href') for link in alternates]} != [{home!r}]")
    for name in ("title", "updated"):
        if not (root.findtext(f"{{{ATOM}}}{name}") or "").strip():
            problems.append(f"{url}: MissingElement feed/{name}")
    lines = body.decode("utf-8").split("\n")
    for name in ("title", "subtitle", "rights"):
        problems += text_construct(f"{url} feed/{name}", root.find(f"{{{ATOM}}}{name}"), lines)
    problems += _atom_names(url, root, lines)
    problems += _rfc3339(f"{url} feed/updated", root.findtext(f"{{{ATOM}}}updated") or "")
    feed_author = root.find(f"{{{ATOM}}}author") is not None
    ids: set[str] = set()
    for entry in root.findall(f"{{{ATOM}}}entry"):
        where = f"{url} entry {entry.findtext(f'{{{ATOM}}}title')!r}"
        entry_id = entry.findtext(f"{{{ATOM}}}id") or ""
        problems += _absolute_id(where, entry_id)
        if entry_id in ids:
            problems.append(f"{where}: DuplicateIds {entry_id!r}")
        ids.add(entry_id)
        if not feed_author and entry.find(f"{{{ATOM}}}author") is None:
            problems.append(f"{where}: MissingElement author (neither feed nor entry)")
        for name in ("published", "updated"):
            problems += _rfc3339(f"{where} {name}", entry.findtext(f"{{{ATOM}}}{name}") or "")
        content = entry.find(f"{{{ATOM}}}content")  # left out for a post with no body, never blank
        if not full and content is not None:
            problems.append(f"{where}: content in a summary-only feed")
        elif content is not None and content.get("type") != "html":
            problems.append(f"{where}: content type='html' missing")
        elif content is not None:
            problems += html_problems(f"{where} content", content.text or "")
        for name in ("content", "summary"):
            element = entry.find(f"{{{ATOM}}}{name}")
            if element is not None and not (element.text or "").strip():
                problems.append(f"{where}: NotBlank {name}")
        for name in ("title", "summary", "rights"):
            problems += text_construct(f"{where} {name}", entry.find(f"{{{ATOM}}}{name}"), lines)
        problems += _atom_names(where, entry, lines)
        entry_links = entry.findall(f"{{{ATOM}}}link")
        alternates = [(link.get("type"), link.get("hreflang")) for link in entry_links if link.get("rel", "alternate") == "alternate"]
        if not alternates:
            problems.append(f"{where}: no alternate link")
        if len(alternates) != len(set(alternates)):
            problems.append(f"{where}: DuplicateAtomLink (two alternate links of the same type and hreflang)")
        for link in entry_links:
            if link.get("rel") in RSS_PAGING:
                problems.append(f"{where}: FeedHistoryRelInEntry")
            if link.get("rel") == "enclosure":
                problems += _enclosure(where, link.get("href"), link.get("length"), link.get("type"))
        problems += _media(where, entry)
    return problems


def _atom_names(where: str, parent: etree._Element, lines: list[str]) -> list[str]:
    """author.py: a person's name is nonhtml (ContainsHTML); there is no type to declare HTML."""
    problems = []
    for person in ("author", "contributor"):
        for name in parent.findall(f"{{{ATOM}}}{person}/{{{ATOM}}}name"):
            problems += nonhtml(f"{where} {person}/name", name, lines)
    return problems


def _absolute_id(where: str, value: str) -> list[str]:
    scheme = urlsplit(value).scheme
    if scheme == "tag":
        return [] if TAG_URI.match(value) else [f"{where}: InvalidTAG {value!r}"]
    if scheme in ("http", "https", "urn"):
        return []
    return [f"{where}: id {value!r} is not an absolute IRI"]


def _rfc3339(where: str, value: str) -> list[str]:
    if not RFC3339.match(value):
        return [f"{where}: InvalidRFC3339Date {value!r}"]
    from datetime import datetime

    return _plausible(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp(), where)


def links(body: bytes, parent_tag: str | None = None) -> dict[str, str]:
    """Return the atom:link hrefs of an RSS channel or Atom feed by rel."""
    root = parse(body)
    parent = root.find("channel") if root.tag == "rss" else root
    assert parent is not None
    return {link.get("rel", "alternate"): link.get("href") or "" for link in parent.findall(f"{{{ATOM}}}link")}


def walk_text(root: etree._Element) -> Iterator[str]:
    """Every text and attribute value of a document (for "appears nowhere" checks)."""
    for element in root.iter():
        yield element.text or ""
        yield element.tail or ""
        yield from element.attrib.values()
