"""The accounts: the site (``fediverse_name``) and one per tag, with the user names WebFinger resolves.

A tag's account is named by its slug when the slug is a user name Mastodon accepts
(ASCII letters, digits, ``_``, and inner ``.`` or ``-``: ``sre``, ``pub-sub``). Other
tags (``café``, ``日本語``) get ``tag-`` and the first 10 hex digits of the SHA-256 of
their slug: stable, and unlike a transliteration (``cafe``) never taken by a tag added
later. A tag whose slug is the site's own name, or whose hashed name some tag's slug
happens to take, gets the hashed name one digit longer at a time until it is free.
Author, section and language scopes are not accounts: only the site and its tags are.
What identifies an account to other servers is its actor id (``/ap/site``,
``/ap/tags/<slug>``), not its name: renaming ``fediverse_name`` keeps every follower.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from feeds import urls
from feeds.config import Config
from feeds.models import Tag
from feeds.parsers import ACCOUNT_NAME
from feeds.snapshot.manifest import Manifest


@dataclass(frozen=True)
class Account:
    """One of the site's fediverse accounts."""

    #: The WebFinger user name (``blog``, ``sre``).
    name: str
    #: None for the site's own account.
    tag: Tag | None
    #: Absolute actor id (``https://blog.example.com/ap/tags/sre``).
    id: str
    #: The HTML page the account stands for (the home page, or the tag's page).
    url: str

    @property
    def path(self) -> str:
        return urls.actor_path(self.tag.slug if self.tag else None)


def tag_names(site_name: str, tags: Iterable[Tag]) -> dict[str, str]:
    """The user name of each tag, by slug (see the module's docstring for the rules)."""
    ordered = sorted(tags, key=lambda tag: tag.slug)
    names: dict[str, str] = {}
    taken = {site_name}
    for tag in ordered:
        if tag.slug != site_name and tag.slug.isascii() and ACCOUNT_NAME.match(tag.slug):
            names[tag.slug] = tag.slug
            taken.add(tag.slug)
    for tag in ordered:
        if tag.slug in names:
            continue
        digest = hashlib.sha256(tag.slug.encode("utf-8", "surrogatepass")).hexdigest()
        length = 10
        while f"tag-{digest[:length]}" in taken:
            length += 1
        names[tag.slug] = f"tag-{digest[:length]}"
        taken.add(names[tag.slug])
    return names


class Directory:
    """Every account of one snapshot's tags, by name, slug and actor path."""

    @classmethod
    def of(cls, config: Config, manifest: Manifest) -> Directory:
        """The accounts of a snapshot: the site's, and each tag's that has feeds (a tag only on ``feed: false`` posts has none)."""
        return cls(config, (tag for tag in manifest.tags if urls.tag_prefix(tag.slug) in manifest.scopes))

    def __init__(self, config: Config, tags: Iterable[Tag]) -> None:
        self.config = config
        tags = tuple(tags)
        self.site = Account(
            config.fediverse_name, None, urls.absolute(config.site_url, urls.actor_path(None)), urls.absolute(config.site_url, urls.SITE)
        )
        self.by_slug: dict[str, Account] = {}
        for tag in tags:
            self.by_slug[tag.slug] = Account(
                "",
                tag,
                urls.absolute(config.site_url, urls.actor_path(tag.slug)),
                urls.absolute(config.site_url, urls.tag_prefix(tag.slug)),
            )
        names = tag_names(config.fediverse_name, tags)
        self.by_slug = {slug: Account(names[slug], a.tag, a.id, a.url) for slug, a in self.by_slug.items()}
        self.by_name: Mapping[str, Account] = {a.name: a for a in self.by_slug.values()} | {self.site.name: self.site}
        self.by_id: Mapping[str, Account] = {a.id: a for a in self.by_slug.values()} | {self.site.id: self.site}

    def get(self, tag_slug: str | None) -> Account | None:
        return self.site if tag_slug is None else self.by_slug.get(tag_slug)

    def all(self) -> list[Account]:
        return [self.site, *self.by_slug.values()]
