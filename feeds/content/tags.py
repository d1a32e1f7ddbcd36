"""Tag slugs and the site's tag index: merging spellings, resolving collisions."""

from __future__ import annotations

import functools
import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from feeds.models import Post, Problem, Tag

_NOT_ALNUM = re.compile(r"[^\w]+|_+")
# Separators that do not change which tag is meant: "Pub/Sub" = "pub sub" = "PUB-SUB".
_SEPARATORS = re.compile(r"[\s\-_/.,:;|]+")


def slugify(name: str) -> str:
    """Return the URL slug of a tag: case-folded, non-alphanumeric runs → ``-``, trimmed."""
    return _NOT_ALNUM.sub("-", name.casefold()).strip("-")


@functools.lru_cache(maxsize=8192)  # a site has few spellings, met once per post and scan
def identity(name: str) -> str:
    """Return the key under which spellings of one tag merge.

    Case and separators do not matter (``Pub/Sub`` = ``pub-sub``), but other
    symbols do (``C++`` ≠ ``C#`` ≠ ``C``), so those are distinct tags whose
    slugs collide and are resolved by :func:`index_tags`.
    """
    return _SEPARATORS.sub("-", name.casefold()).strip("-")


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:6]


@dataclass(frozen=True)
class TagIndex:
    #: Every tag (or author), sorted by slug.
    tags: tuple[Tag, ...]
    #: Tag of each identity key.
    by_identity: dict[str, Tag]
    #: Collisions and empty slugs, as warnings.
    problems: tuple[Problem, ...]

    def tags_of(self, post: Post) -> tuple[Tag, ...]:
        """Return the display tags of ``post``, duplicates merged, in its order."""
        seen: dict[str, Tag] = {}
        for name in post.tags:
            tag = self.by_identity.get(identity(name))
            if tag is not None and tag.slug not in seen:
                seen[tag.slug] = tag
        return tuple(seen.values())


def index_tags(posts: Iterable[Post]) -> TagIndex:
    """Merge the tag spellings of ``posts`` into tags with unique, stable slugs (see :func:`index_names`)."""
    return index_names(((post.source, post.tags) for post in posts), "tag", "/tags/")


def index_names(named: Iterable[tuple[str, tuple[str, ...]]], kind: str, prefix: str) -> TagIndex:
    """Merge the spellings of names (tags, authors) that files give into scopes with unique, stable slugs.

    The display name is the most used spelling (ties: the alphabetically first).
    A slug claimed by several distinct tags stays with the one whose identity
    is the slug itself, else the alphabetically first; the others get a suffix
    from a hash of their identity, so their URL does not depend on post counts.
    An empty slug (``+++``) becomes ``tag-<hash>``.
    """
    # Each spelling's number of uses and first file (by name), then each tag's (an identity's spellings).
    uses: dict[str, int] = {}
    first_of: dict[str, str] = {}
    for source, names in named:
        for name in names:
            count = uses.get(name)
            if count is None:
                uses[name], first_of[name] = 1, source
            else:
                uses[name] = count + 1
                if source < first_of[name]:
                    first_of[name] = source
    return index_counted(uses, first_of, kind, prefix)


def index_counted(uses: Mapping[str, int], first_of: Mapping[str, str], kind: str, prefix: str) -> TagIndex:
    """:func:`index_names` from each spelling's number of uses and first file (a planner that keeps them counts changes only)."""
    spellings: dict[str, dict[str, int]] = defaultdict(dict)
    sources: dict[str, str] = {}
    for name, count in uses.items():
        key = identity(name)
        spellings[key][name] = count
        if key not in sources or first_of[name] < sources[key]:
            sources[key] = first_of[name]

    by_slug: dict[str, list[str]] = defaultdict(list)
    for key in spellings:
        by_slug[slugify(key)].append(key)

    problems: list[Problem] = []
    by_identity: dict[str, Tag] = {}
    for slug, keys in sorted(by_slug.items()):
        keys.sort(key=lambda k: (k != slug, k))
        for position, key in enumerate(keys):
            name = min(spellings[key].items(), key=lambda item: (-item[1], item[0]))[0]
            first = sources[key]
            if not slug:
                final = f"{kind}-{_short_hash(key)}"
                problems.append(
                    Problem(first, 1, f"{kind} {name!r} has no letters or digits; its feeds are at {prefix}{final}/", "warning")
                )
            elif position:
                final = f"{slug}-{_short_hash(key)}"
                problems.append(
                    Problem(
                        first,
                        1,
                        f"{kind} {name!r} has the same slug {slug!r} as {kind} "
                        f"{min(spellings[keys[0]], key=lambda s: s)!r}; its feeds are at {prefix}{final}/",
                        "warning",
                    )
                )
            else:
                final = slug
            by_identity[key] = Tag(slug=final, name=name)
    tags = tuple(sorted(by_identity.values(), key=lambda t: t.slug))
    return TagIndex(tags=tags, by_identity=by_identity, problems=tuple(problems))
