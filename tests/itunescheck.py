"""The W3C validator's rules for the iTunes namespace (and what it says of Podcasting 2.0's), as checks over an RSS channel.

From w3c/feedvalidator, src/feedvalidator/itunes.py (``itunes``, ``itunes_channel``,
``itunes_item``, ``owner``, ``category``), validators.py (``duration``, ``positiveInteger``,
``email``, ``lengthLimitedText``) and base.py (``unsupported_namespaces``: the Podcasting 2.0
namespace draws UnsupportedNamespace, an Info, not a warning; its elements are not checked).
Each problem names the validator's message.
"""

from __future__ import annotations

import re
from email.utils import getaddresses
from urllib.parse import urlsplit

from lxml import etree

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST = "https://podcastindex.org/namespace/1.0"
# validators.py duration.duration_re
DURATION = re.compile(r"\d+(:[0-5][0-9](:[0-5][0-9])?)?$")
# validators.py addr_spec (simplified: what it accepts for our addresses)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+$")
#: itunes_item.supported_formats: an enclosure's URL must end in one of these.
SUPPORTED_FORMATS = ("m4a", "mp3", "mov", "mp4", "m4v", "pdf", "epub")
#: itunes.py valid_itunes_categories, as the validator spells them (feeds.podcast.CATEGORIES must agree: test_podcast_settings).
VALIDATOR_CATEGORIES = {
    "Arts": ["Books", "Design", "Fashion & Beauty", "Food", "Performing Arts", "Visual Arts"],
    "Business": ["Careers", "Entrepreneurship", "Investing", "Management", "Marketing", "Non-Profit"],
    "Comedy": ["Comedy Interviews", "Improv", "Stand-Up"],
    "Education": ["Courses", "How To", "Language Learning", "Self-Improvement"],
    "Fiction": ["Comedy Fiction", "Drama", "Science Fiction"],
    "Government": [],
    "History": [],
    "Health & Fitness": ["Alternative Health", "Fitness", "Medicine", "Mental Health", "Nutrition", "Sexuality"],
    "Kids & Family": ["Education for Kids", "Parenting", "Pets & Animals", "Stories for Kids"],
    "Leisure": ["Animation & Manga", "Automotive", "Aviation", "Crafts", "Games", "Hobbies", "Home & Garden", "Video Games"],
    "Music": ["Music Commentary", "Music History", "Music Interviews"],
    "News": ["Business News", "Daily News", "Entertainment News", "News Commentary", "Politics", "Sports News", "Tech News"],
    "Religion & Spirituality": ["Buddhism", "Christianity", "Hinduism", "Islam", "Judaism", "Spirituality"],
    "Science": [
        "Astronomy",
        "Chemistry",
        "Earth Sciences",
        "Life Sciences",
        "Mathematics",
        "Natural Sciences",
        "Nature",
        "Physics",
        "Social Sciences",
    ],
    "Society & Culture": ["Documentary", "Personal Journals", "Philosophy", "Places & Travel", "Relationships"],
    "Sports": [
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
    ],
    "Technology": [],
    "True Crime": [],
    "TV & Film": ["After Shows", "Film History", "Film Interviews", "Film Reviews", "TV Reviews"],
}
#: What each element of the namespace is allowed in (itunes, itunes_channel, itunes_item); any other is UndefinedElement.
CHANNEL_ELEMENTS = {
    "author",
    "block",
    "explicit",
    "keywords",
    "subtitle",
    "summary",
    "image",
    "owner",
    "category",
    "pubDate",
    "new-feed-url",
    "type",
}
ITEM_ELEMENTS = {
    "author",
    "block",
    "explicit",
    "keywords",
    "subtitle",
    "summary",
    "image",
    "duration",
    "title",
    "episode",
    "season",
    "episodeType",
}


def _name(element: etree._Element) -> str:
    return etree.QName(element).localname


def uses_itunes(channel: etree._Element) -> bool:
    """Whether the validator switches its iTunes checks on (any itunes: element in the channel or an item)."""
    return any(isinstance(e.tag, str) and etree.QName(e).namespace == ITUNES for e in channel.iter())


def check(url: str, channel: etree._Element) -> list[str]:
    """The iTunes problems of an RSS channel (none when it uses no itunes: element)."""
    if not uses_itunes(channel):
        return []
    problems = []
    # itunes_channel.validate: MissingItunesElement (language, category, explicit), MissingItunesEmail.
    if not (channel.findtext("language") or "").strip():
        problems.append(f"{url}: MissingItunesElement language")
    for name in ("category", "explicit"):
        if channel.find(f"{{{ITUNES}}}{name}") is None:
            problems.append(f"{url}: MissingItunesElement itunes:{name}")
    owner = channel.find(f"{{{ITUNES}}}owner")
    if owner is None:
        problems.append(f"{url}: MissingItunesEmail")
    problems += _elements(f"{url} channel", channel, CHANNEL_ELEMENTS)
    for item in channel.findall("item"):
        where = f"{url} item {item.findtext('title')!r}"
        problems += _elements(where, item, ITEM_ELEMENTS)
        for enclosure in item.findall("enclosure"):
            extension = (enclosure.get("url") or "").split(".")[-1]
            if extension not in SUPPORTED_FORMATS:
                problems.append(f"{where}: UnsupportedItunesFormat {extension!r}")
    return problems


def _elements(where: str, parent: etree._Element, allowed: set[str]) -> list[str]:
    problems = []
    seen: dict[str, int] = {}
    for element in parent:
        if not isinstance(element.tag, str) or etree.QName(element).namespace != ITUNES:
            continue
        name = _name(element)
        seen[name] = seen.get(name, 0) + 1
        if name not in allowed:
            problems.append(f"{where}: UndefinedElement itunes:{name}")
            continue
        problems += _value(f"{where} itunes:{name}", name, element)
    for name, count in seen.items():
        if count > 1 and name != "category":  # noduplicates() on everything but category
            problems.append(f"{where}: DuplicateElement itunes:{name}")
    return problems


def _value(where: str, name: str, element: etree._Element) -> list[str]:
    text = (element.text or "").strip()
    if name in ("explicit",) and text.lower() not in ("true", "false"):
        return [f"{where}: InvalidTrueFalse {text!r}"]
    if name == "block" and text.lower() not in ("yes", "no", "clean"):
        return [f"{where}: InvalidYesNoClean {text!r}"]
    if name == "type" and text not in ("episodic", "serial"):
        return [f"{where}: InvalidItunesChannelType {text!r}"]
    if name == "episodeType" and text not in ("full", "trailer", "bonus"):
        return [f"{where}: InvalidItunesEpisodeType {text!r}"]
    if name == "duration" and not DURATION.match(text):
        return [f"{where}: InvalidDuration {text!r}"]
    if name in ("episode", "season") and not (text.isdigit() and int(text) > 0):
        return [f"{where}: InvalidPositiveInteger {text!r}"]
    if name in ("author", "subtitle", "keywords") and len(text) > 255:
        return [f"{where}: TooLong ({len(text)} > 255)"]
    if name == "summary" and len(text) > 4000:
        return [f"{where}: TooLong ({len(text)} > 4000)"]
    if name == "image" and urlsplit(element.get("href") or "").scheme not in ("http", "https"):
        return [f"{where}: image href {element.get('href')!r} not an http(s) URL"]
    if name == "new-feed-url" and not urlsplit(text).scheme:
        return [f"{where}: InvalidFullLink {text!r}"]
    if name == "owner":
        email = element.findtext(f"{{{ITUNES}}}email")
        if email is None:
            return [f"{where}: MissingElement itunes:email"]
        address = getaddresses([email])[0][1] if email else ""
        if not EMAIL.match(address):
            return [f"{where}: InvalidContact {email!r}"]
        name_text = element.findtext(f"{{{ITUNES}}}name") or ""
        return [f"{where}: TooLong itunes:name"] if len(name_text) > 255 else []
    if name == "category":
        return _category(where, element)
    return []


def _category(where: str, element: etree._Element) -> list[str]:
    """itunes.py category/subcategory: the text must be one of Apple's (sub-)categories, case included."""
    text = element.get("text")
    if text is None:
        return [f"{where}: MissingAttribute text"]
    if text not in VALIDATOR_CATEGORIES:
        return [f"{where}: InvalidItunesCategory {text!r}"]
    problems = []
    for sub in element.findall(f"{{{ITUNES}}}category"):
        if sub.get("text") not in VALIDATOR_CATEGORIES[text]:
            problems.append(f"{where}: InvalidItunesCategory {sub.get('text')!r} under {text!r}")
    return problems
