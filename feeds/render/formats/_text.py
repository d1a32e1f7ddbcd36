"""How plain text (titles, descriptions, names, tags) is written into RSS and Atom.

A title is text the author typed; ``AT&T <b>bold</b>`` must reach every reader as
those characters. XML itself is unambiguous, but what a client does with the
decoded text is not, and the W3C validator warns about text that looks like HTML:

- RSS has no type for a title. The RSS Best Practices Profile calls it plain text
  (https://www.rssboard.org/rss-profile#data-types-characterdata), but feedparser
  (so reader, rss2email and most Python tools) guesses: decoded text with an end
  tag (``</b>``) or an entity reference (``&amp;``) is HTML (``looks_like_html``
  in feedparser/mixin.py), and the validator warns about the same text
  (ContainsHTML, validators.py ``nonhtml``). Such a title is therefore sent as
  HTML, escaped once more, which both then read as intended; any other title
  stays plain text.
- An Atom text construct says what it is (RFC 4287 §3.1). Plain text stays
  ``type="text"``; only text with an end tag, which the validator would report as
  ContainsUndeclaredHTML, is sent as ``type="html"``.
- Plain text in both is written with hexadecimal character references for
  ``&``, ``<`` and ``>``, as the profile recommends; the validator skips its
  entity and CharacterData heuristics on a line that has one.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

_END_TAG = re.compile(r"</\w+>")
_REFERENCE = re.compile(r"&#?\w+;")
# lxml writes these three (and only these) for &, < and > in text.
_ESCAPES = {b"&amp;": b"&#x26;", b"&lt;": b"&#x3C;", b"&gt;": b"&#x3E;"}
_ESCAPE = re.compile(b"|".join(_ESCAPES))


def looks_like_html(text: str) -> bool:
    """Return whether a client guessing from the text would take it for HTML (an end tag or an entity reference)."""
    return bool(_END_TAG.search(text) or _REFERENCE.search(text))


def rss_text(text: str) -> str:
    """Return ``text`` as an RSS title carries it: itself, or as HTML when it would be read as HTML anyway."""
    return html.escape(text, quote=False) if looks_like_html(text) else text


def atom_text(text: str) -> tuple[str, str]:
    """Return the ``type`` and the value of an Atom text construct holding ``text``."""
    if _END_TAG.search(text):
        return "html", html.escape(text, quote=False)
    return "text", text


def hex_references(xml: bytes, elements: Iterable[str]) -> bytes:
    """Rewrite ``&amp;``, ``&lt;``, ``&gt;`` in the text of ``elements`` as ``&#x26;``, ``&#x3C;``, ``&#x3E;``.

    The document means the same; only its spelling changes. lxml escapes every
    ``<`` in text, so an element's text is exactly what lies between its tags.
    """
    names = b"|".join(re.escape(name.encode()) for name in elements)
    pattern = re.compile(rb"(<(" + names + rb")(?:\s[^>]*)?>)([^<]*)(</\2>)")
    return pattern.sub(lambda m: m[1] + _ESCAPE.sub(lambda e: _ESCAPES[e[0]], m[3]) + m[4], xml)
