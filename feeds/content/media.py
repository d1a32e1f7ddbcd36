"""The media folder beside the posts: the audio, video, artwork, transcripts and chapters the site serves itself.

``<content>/media/`` holds no posts; every regular file in it (names starting with ``.`` or
``_`` are skipped, as for posts) is served at ``/media/<path>``. A scan lists the files,
hashes each version once (the SHA-256 names its ETag, equal on every host that has the same
bytes) and hands the builder their sizes, which fill in the ``length`` of an enclosure that
links to one. Bounded: ``limits.MAX_MEDIA_FILES`` files, ``limits.MAX_MEDIA_FILE_SIZE`` bytes each,
``limits.MAX_MEDIA_DEPTH`` folders deep.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from feeds import limits
from feeds.fsutil import atomic_write
from feeds.models import Post, Problem
from feeds.urls import absolute

#: The folder, inside the content folder, and the URL path it is served under.
FOLDER = "media"
PREFIX = "/media/"
_CHUNK = 1 << 20

#: Media types by file ending; Apple's own names for its formats (audio/x-m4a, video/x-m4v).
#: Anything else is served as application/octet-stream.
TYPES = {
    ".mp3": "audio/mpeg",
    ".m4a": "audio/x-m4a",
    ".aac": "audio/aac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".mp4": "video/mp4",
    ".m4v": "video/x-m4v",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".pdf": "application/pdf",
    ".epub": "application/epub+zip",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".vtt": "text/vtt; charset=utf-8",
    ".srt": "application/x-subrip",
    ".txt": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    # Markdown here is a file to serve (show notes), never a post: the content walk skips this folder.
    ".md": "text/markdown; charset=utf-8",
    # JSON chapters "should be served with a Content-type of application/json+chapters" (jsonChapters.md).
    ".chapters.json": "application/json+chapters",
}


@dataclass(frozen=True)
class MediaFile:
    """One file of the media folder, as last hashed."""

    #: Path inside the media folder, ``/``-separated (``2026/episode-1.mp3``).
    rel: str
    size: int
    mtime_ns: int
    inode: int
    #: First 32 hex digits of the SHA-256 of the bytes (the ETag, quoted).
    digest: str
    media_type: str

    @property
    def path(self) -> str:
        """The URL path the file is served at."""
        return PREFIX + self.rel

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


@dataclass(frozen=True)
class Media:
    """What the media folder holds now."""

    #: The folder's real path (None: there is none).
    root: Path | None = None
    files: Mapping[str, MediaFile] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()

    def find(self, url: str, site_url: str) -> MediaFile | None:
        """The file an absolute URL of this site points at (``…/media/episode-1.mp3``), if any."""
        base = site_url + PREFIX
        if not url.startswith(base):
            return None
        return self.files.get(unquote(urlsplit(url).path[len(urlsplit(base).path) :]))

    def url(self, file: MediaFile, site_url: str) -> str:
        return absolute(site_url, file.path)


def media_type(name: str) -> str:
    """The media type a file is served with, by its name."""
    lower = name.lower()
    for suffix in (".chapters.json", os.path.splitext(lower)[1]):
        if lower.endswith(suffix) and suffix in TYPES:
            return TYPES[suffix]
    return "application/octet-stream"


class MediaIndex:
    """Lists the media folder and hashes each file once per version (size, modification time, inode)."""

    def __init__(self) -> None:
        self._known: dict[str, MediaFile] = {}
        #: The hashes as last saved or loaded: a save with nothing new writes nothing.
        self._saved: dict[str, MediaFile] | None = None
        self.last: Media = Media()

    def scan(self, content_root: Path) -> tuple[Media, bool]:
        """Return what ``content_root/media`` holds now, and whether that changed since the last scan."""
        folder = content_root / FOLDER
        try:
            root = folder.resolve(strict=True) if folder.is_dir() else None
        except (OSError, RuntimeError):
            root = None
        problems: list[Problem] = []
        files: dict[str, MediaFile] = {}
        if root is not None:
            for rel, path, info in _walk(root, problems):
                hashed = self._hashed(rel, path, info, problems)
                if hashed is not None:
                    files[rel] = hashed
        self._known = dict(files)
        media = Media(root, files, tuple(problems))
        changed = media != self.last
        self.last = media
        return media, changed

    def _hashed(self, rel: str, path: str, info: os.stat_result, problems: list[Problem]) -> MediaFile | None:
        known = self._known.get(rel)
        if known is not None and (known.size, known.mtime_ns, known.inode) == (info.st_size, info.st_mtime_ns, info.st_ino):
            return known
        try:
            with open(path, "rb") as f:
                before = os.fstat(f.fileno())
                digest = hashlib.sha256()
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
                after = os.fstat(f.fileno())
        except OSError as e:
            problems.append(Problem(f"{FOLDER}/{rel}", 1, f"cannot read: {e.strerror}; not served"))
            return None
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
            problems.append(Problem(f"{FOLDER}/{rel}", 1, "changed while it was read; served after the next scan", "warning"))
            return None
        return MediaFile(rel, after.st_size, after.st_mtime_ns, after.st_ino, digest.hexdigest()[:32], media_type(rel))

    # -- surviving restarts: a restart does not hash every file again ------------------------

    def save(self, path: Path) -> bool:
        """Write the hashes to ``path`` if they changed; False if they cannot be written (a restart then hashes again)."""
        if self._known == self._saved:
            return True
        rows = [[f.rel, f.size, f.mtime_ns, f.inode, f.digest] for f in self._known.values()]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, (json.dumps(rows, separators=(",", ":")) + "\n").encode(), durable=False)
        except OSError:
            return False
        self._saved = dict(self._known)
        return True

    def load(self, path: Path) -> None:
        try:
            rows = json.loads(path.read_bytes())
            self._known = {row[0]: MediaFile(row[0], row[1], row[2], row[3], row[4], media_type(row[0])) for row in rows}
            self._saved = dict(self._known)
        except (OSError, ValueError, TypeError, IndexError):
            self._known = {}  # nothing saved, or saved by other code: hash again


def _walk(root: Path, problems: list[Problem]) -> Iterable[tuple[str, str, os.stat_result]]:
    """Every regular file under ``root`` (symlinks only when they stay inside), in name order, within the limits."""
    count = 0
    seen: set[tuple[int, int]] = set()

    def walk(folder: str, rel_prefix: str, depth: int) -> Iterable[tuple[str, str, os.stat_result]]:
        nonlocal count
        try:
            info = os.stat(folder)
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:
            problems.append(Problem(f"{FOLDER}/{rel_prefix}".rstrip("/"), 1, f"cannot read folder: {e.strerror}"))
            return
        if (info.st_dev, info.st_ino) in seen:
            return
        seen.add((info.st_dev, info.st_ino))
        for entry in entries:
            name = entry.name
            rel = rel_prefix + name
            if name.startswith((".", "_")):
                continue
            if not name.isprintable() or not _encodable(name):
                shown = name.encode("utf-8", "backslashreplace").decode().encode("unicode_escape").decode()
                problems.append(
                    Problem(f"{FOLDER}/{rel_prefix}{shown}", 1, "name is not valid UTF-8 or holds control characters; not served")
                )
                continue
            try:
                real = Path(entry.path).resolve(strict=True) if entry.is_symlink() else None
                if real is not None and not real.is_relative_to(root):
                    problems.append(Problem(f"{FOLDER}/{rel}", 1, "symlink points outside the media folder; not served"))
                    continue
                info = os.stat(entry.path)
            except (OSError, RuntimeError) as e:
                problems.append(Problem(f"{FOLDER}/{rel}", 1, f"cannot read: {getattr(e, 'strerror', None) or e}; not served"))
                continue
            if stat.S_ISDIR(info.st_mode):
                if depth >= limits.MAX_MEDIA_DEPTH:
                    problems.append(Problem(f"{FOLDER}/{rel}", 1, f"deeper than {limits.MAX_MEDIA_DEPTH} folders; not served", "warning"))
                    continue
                yield from walk(entry.path, rel + "/", depth + 1)
            elif not stat.S_ISREG(info.st_mode):
                problems.append(Problem(f"{FOLDER}/{rel}", 1, "is not a regular file; not served"))
            elif info.st_size > limits.MAX_MEDIA_FILE_SIZE:
                problems.append(
                    Problem(f"{FOLDER}/{rel}", 1, f"file is {info.st_size} bytes, over {limits.MAX_MEDIA_FILE_SIZE}; not served")
                )
            elif count >= limits.MAX_MEDIA_FILES:
                if count == limits.MAX_MEDIA_FILES:  # said once
                    problems.append(
                        Problem(f"{FOLDER}/{rel}", 1, f"more than {limits.MAX_MEDIA_FILES} media files; the rest are not served")
                    )
                count += 1
            else:
                count += 1
                yield rel, entry.path, info

    yield from walk(str(root), "", 0)


def _encodable(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept as lone surrogates
        return False
    return True


def fill_lengths(posts: Iterable[Post], media: Media, site_url: str) -> tuple[Post, ...]:
    """The posts, each enclosure that links to a media file and gives no length given the file's size."""
    out = []
    for post in posts:
        enclosure = post.enclosure
        if enclosure is not None and enclosure.length == 0 and media.files:
            file = media.find(enclosure.url, site_url)
            if file is not None:
                post = replace(post, enclosure=replace(enclosure, length=file.size))
        out.append(post)
    return tuple(out)
