"""``feeds check`` for podcasts: what Apple Podcasts and Podcasting 2.0 apps would refuse or show wrongly.

Per show (the site's ``[podcast]``, a section's or a tag's): a category, ``explicit``, the owner's email and artwork
(a square JPEG or PNG of 1400–3000 px: checked when it is a file of the media folder) — Apple's
required tags. Per episode (a post of the show with an audio or video enclosure): a length (given,
or read from the media folder), a file that exists when the URL is the site's, https, one
enclosure URL per episode (Apple ignores a URL it has seen before), episode artwork's size,
an episode number in a serial show.
https://podcasters.apple.com/support/823-podcast-requirements
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from feeds import limits, urls
from feeds.config import Config
from feeds.content.episode import is_episode_media
from feeds.content.media import PREFIX, Media
from feeds.models import Post, Problem
from feeds.podcast import Show, settings_key

#: Apple's artwork bounds, in pixels (square).
ARTWORK = (1400, 3000)


def site_problems(config: Config, episodes: Mapping[tuple[str, str], Sequence[Post]], media: Media, where: str) -> list[Problem]:
    """The problems of every show of the site; ``episodes`` holds the posts of each scope (kind, slug) that has some.

    A show whose section or tag has no posts is reported too: its settings make no feed.
    """
    found: list[Problem] = []
    for kind, slug, show in config.shows():
        key = settings_key(kind, slug)
        posts = episodes.get((kind, slug))
        if posts is None:
            found.append(Problem(where, 1, f"{key}: no {kind} {slug!r} with posts in feeds; this show has no feed", "warning"))
        else:
            found += problems(show, key, where, posts, media, config.site_url)
    return found


def problems(show: Show, key: str, where: str, posts: Iterable[Post], media: Media, site_url: str) -> list[Problem]:
    """The problems of one show (settings under ``key``, reported at ``where``) and of its episodes."""
    found = _show(show, key, where, media, site_url)
    owners: dict[str, Post] = {}
    for post in sorted(posts, key=lambda post: (post.published, post.source)):  # Apple ignores the later use of a URL
        if is_episode_media(post.enclosure):
            found += _episode(post, show, media, site_url, owners)
    return found


def _show(show: Show, key: str, where: str, media: Media, site_url: str) -> list[Problem]:
    found = []
    if not show.category:
        found.append(Problem(where, 1, f"{key}.category: missing; Apple Podcasts requires a category"))
    if show.explicit is None:
        found.append(Problem(where, 1, f"{key}.explicit: missing; Apple Podcasts requires true or false"))
    if show.owner is None or not show.owner.email:
        found.append(Problem(where, 1, f"{key}.owner.email: missing; Apple Podcasts writes to it to verify the show"))
    if not show.image:
        found.append(Problem(where, 1, f"{key}.image: missing; Apple Podcasts requires square artwork of 1400-3000 px"))
    else:
        message = artwork_problem(urls.absolute_or_as_is(site_url, show.image), media, site_url)
        if message:
            found.append(Problem(where, 1, f"{key}.image: {message}"))
    return found


def _episode(post: Post, show: Show, media: Media, site_url: str, owners: dict[str, Post]) -> list[Problem]:
    assert post.enclosure is not None
    enclosure, found = post.enclosure, []

    def report(message: str, severity: str = "error") -> None:
        found.append(Problem(post.source, 1, message, "warning" if severity == "warning" else "error"))

    local = enclosure.url.startswith(site_url + PREFIX)
    file = media.find(enclosure.url, site_url) if local else None
    if local and file is None:
        report(f"enclosure: {_path(enclosure.url)} is not a file of the media folder")
    elif file is not None and enclosure.length != file.size:
        report(f"enclosure: length {enclosure.length} is not the file's size ({file.size} bytes)")
    elif file is not None and enclosure.type != file.media_type.split(";")[0]:
        report(f"enclosure: type {enclosure.type} but the file is served as {file.media_type}", "warning")
    if enclosure.length == 0 and file is None:
        report("enclosure: no length; podcast apps need the size in bytes (give length, or serve the file from the media folder)")
    if urlsplit(enclosure.url).scheme != "https":
        report("enclosure: not an https URL; Apple Podcasts and Podcasting 2.0 apps ask for https", "warning")
    earlier = owners.setdefault(enclosure.url, post)
    if earlier is not post:
        report(f"enclosure: the same URL as {earlier.source}; Apple Podcasts ignores an enclosure URL it has seen before")
    episode = post.episode
    if episode is None or episode.duration is None:
        report("duration: missing; Apple Podcasts recommends the length in seconds", "warning")
    if show.type == "serial" and (episode is None or episode.number is None):
        report("episode: missing; a serial show needs a number for each episode")
    if post.image:
        message = artwork_problem(post.image, media, site_url)
        if message:
            report(f"image: {message}", "warning")
    return found


def artwork_problem(url: str, media: Media, site_url: str) -> str | None:
    """What is wrong with artwork at ``url`` for Apple (None: nothing, or not a file here to look at)."""
    if not urlsplit(url).path.lower().endswith((".jpg", ".jpeg", ".png")):
        return f"{_path(url)} must end in .jpg or .png"
    file = media.find(url, site_url)
    if file is None or media.root is None:
        return None  # elsewhere: not ours to read
    size = image_size(media.root / file.rel)
    if size is None:
        return f"{_path(url)} is not a PNG or JPEG file"
    width, height = size
    low, high = ARTWORK
    if width != height or not low <= width <= high:
        return f"{_path(url)} is {width}×{height} px; Apple Podcasts requires a square of {low}-{high} px"
    return None


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of a PNG or JPEG from its first bytes (``limits.MAX_IMAGE_HEADER`` at most); None if it is neither."""
    try:
        with path.open("rb") as f:
            head = f.read(limits.MAX_IMAGE_HEADER)
    except OSError:
        return None
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    if head[:2] != b"\xff\xd8":
        return None
    at = 2
    # JPEG: walk the segments to the frame header (SOF0-SOF15 but DHT, JPG and DAC), which holds the size.
    while at + 9 <= len(head):
        if head[at] != 0xFF:
            return None
        marker = head[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", head[at + 5 : at + 9])
            return int(width), int(height)
        (length,) = struct.unpack(">H", head[at + 2 : at + 4])
        at += 2 + length
    return None


def _path(url: str) -> str:
    """A URL in a message: its path when it is short, cut otherwise (messages never echo unbounded values)."""
    text = urlsplit(url).path or url
    return text if len(text) <= 100 else text[:99] + "…"
