"""The podcast fields of a post's front matter → an Episode; each error names the field and its line.

https://podcasters.apple.com/support/823-podcast-requirements (duration, season, episode,
episodeType, explicit) and https://podcastindex.org/namespace/1.0 (transcript, chapters).
"""

from __future__ import annotations

import re
from typing import Any

from feeds import limits
from feeds.content.fields import Fields, absolute_url
from feeds.models import Enclosure
from feeds.parsers import as_language
from feeds.podcast import EPISODE_TYPES, TRANSCRIPT_TYPES, Episode, Transcript

#: The front matter fields this module reads.
FIELDS = frozenset({"duration", "season", "episode", "episode_type", "explicit", "transcript", "chapters"})
#: A day in seconds: longer durations are typos (and apps show them oddly).
_LONGEST = 86_400 * 7
_CLOCK = re.compile(r"(?:(\d+):)?([0-5]?\d):([0-5]\d)(?:\.\d+)?|(\d+)(?:\.\d+)?")
#: What a transcript's type is when the front matter gives none, by the URL's ending.
_TYPE_BY_SUFFIX = {
    ".vtt": "text/vtt",
    ".srt": "application/x-subrip",
    ".json": "application/json",
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
}


def is_episode_media(enclosure: Enclosure | None) -> bool:
    """Whether an enclosure is what podcast apps play: audio or video."""
    return enclosure is not None and enclosure.type.startswith(("audio/", "video/"))


def parse_episode(fields: Fields, base: str, enclosure: Enclosure | None) -> Episode | None:
    """Return the post's podcast fields, or None when it has none."""
    meta = fields.meta
    if not any(name in meta for name in FIELDS):
        return None
    episode = Episode(
        duration=_duration(fields),
        season=_positive(fields, "season"),
        number=_positive(fields, "episode"),
        episode_type=_episode_type(fields),
        explicit=_bool(fields, "explicit"),
        transcripts=_transcripts(fields, base),
        chapters=_chapters(fields, base),
    )
    if not is_episode_media(enclosure):
        name = next(name for name in sorted(FIELDS) if name in meta)
        fields.warn(name, "podcast fields need an audio or video enclosure; podcast apps will not list this post")
    return episode


def _duration(fields: Fields) -> int | None:
    value = fields.meta.get("duration")
    if value is None:
        return None
    if isinstance(value, bool):
        raise fields.error("duration", "expected seconds or H:MM:SS")
    if isinstance(value, int | float):
        seconds = round(value)
    elif isinstance(value, str) and (match := _CLOCK.fullmatch(value.strip())):
        hours, minutes, secs, plain = match.groups()
        seconds = int(plain) if plain is not None else int(hours or 0) * 3600 + int(minutes) * 60 + int(secs)
    else:
        raise fields.error("duration", f"expected seconds or H:MM:SS, got {_shown(value)}")
    if not 0 < seconds <= _LONGEST:
        raise fields.error("duration", f"{seconds} seconds is not a plausible length")
    return seconds


def _positive(fields: Fields, name: str) -> int | None:
    value = fields.meta.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise fields.error(name, f"expected a whole number from 1, got {_shown(value)}")
    return value


def _episode_type(fields: Fields) -> str | None:
    value = fields.meta.get("episode_type")
    if value is None:
        return None
    if not isinstance(value, str) or value.strip().lower() not in EPISODE_TYPES:
        raise fields.error("episode_type", f"expected one of {', '.join(EPISODE_TYPES)}, got {_shown(value)}")
    return value.strip().lower()


def _bool(fields: Fields, name: str) -> bool | None:
    value = fields.meta.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise fields.error(name, f"expected true or false, got {_shown(value)}")


def _transcripts(fields: Fields, base: str) -> tuple[Transcript, ...]:
    value = fields.meta.get("transcript")
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if len(items) > limits.MAX_TRANSCRIPTS:
        raise fields.error("transcript", f"{len(items)} transcripts, at most {limits.MAX_TRANSCRIPTS}")
    transcripts = []
    for item in items:
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, dict) or not isinstance(item.get("url"), str) or not item["url"].strip():
            raise fields.error("transcript", "expected {url, type} (type: " + ", ".join(TRANSCRIPT_TYPES) + ")")
        unknown = sorted(set(item) - {"url", "type", "language", "rel"}, key=str)
        if unknown:
            raise fields.error("transcript", f"unknown field {_shown(unknown[0])} (a transcript has url, type, language, rel)")
        url = absolute_url(fields, "transcript", item["url"].strip(), base)
        kind = item.get("type") or _TYPE_BY_SUFFIX.get(_suffix(url))
        if kind not in TRANSCRIPT_TYPES:
            raise fields.error("transcript", f"type must be one of {', '.join(TRANSCRIPT_TYPES)}, got {_shown(kind)}")
        language = item.get("language")
        if language is not None:
            try:
                language = as_language(language)
            except ValueError as e:
                raise fields.error("transcript", str(e)) from e
        rel = item.get("rel")
        if rel not in (None, "captions"):
            raise fields.error("transcript", f'rel may only be "captions", got {_shown(rel)}')
        transcripts.append(Transcript(url, kind, language, rel))
    return tuple(transcripts)


def _chapters(fields: Fields, base: str) -> str | None:
    value = fields.meta.get("chapters")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise fields.error("chapters", "expected the URL of a JSON chapters file")
    return absolute_url(fields, "chapters", value.strip(), base)


def _suffix(url: str) -> str:
    path = url.split("?", 1)[0].split("#", 1)[0]
    name = path.rsplit("/", 1)[-1]
    return name[name.rfind(".") :].lower() if "." in name else ""


def _shown(value: Any) -> str:
    return limits.quoted(value)
