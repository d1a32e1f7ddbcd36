"""Atom 1.0 through feedgen: https://www.rfc-editor.org/rfc/rfc4287."""

from __future__ import annotations

from typing import cast

from feeds.models import FeedPage

from ._feedgen import feed_generator

MEDIA_TYPE = "application/atom+xml; charset=utf-8"


def render(page: FeedPage) -> bytes:
    """Render ``page`` as an Atom 1.0 document."""
    return cast(bytes, feed_generator(page, "atom.xml").atom_str(pretty=True, encoding="UTF-8"))
