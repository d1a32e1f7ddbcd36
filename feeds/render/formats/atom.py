"""Atom 1.0 through feedgen: https://www.rfc-editor.org/rfc/rfc4287."""

from __future__ import annotations

from typing import cast

from feeds.models import FeedPage

from ._feedgen import feed_generator
from ._text import hex_references

MEDIA_TYPE = "application/atom+xml; charset=utf-8"

# Text constructs and person names; summary and content are HTML and keep lxml's spelling.
_TEXT = ("title", "subtitle", "name")


def render(page: FeedPage) -> bytes:
    """Render ``page`` as an Atom 1.0 document."""
    return hex_references(cast(bytes, feed_generator(page, "atom.xml").atom_str(pretty=True, encoding="UTF-8")), _TEXT)
