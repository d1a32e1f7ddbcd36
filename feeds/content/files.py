"""Find the post files of the content folder and read them as clean text, safely.

Only files inside the folder are read, each checked again when it is opened;
characters XML 1.0 forbids are removed with a warning, so no field can carry
them into a feed.
"""

from __future__ import annotations

import codecs
import errno
import functools
import operator
import os
import re
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from feeds.config import Config
from feeds.content.errors import ContentError, ContentRootError
from feeds.content.media import FOLDER as MEDIA_FOLDER
from feeds.models import Problem

# Characters XML 1.0 forbids: C0 controls except tab/LF/CR, lone surrogates, U+FFFE/U+FFFF
# (https://www.w3.org/TR/xml/#charsets); also DEL and the C1 controls, which XML 1.0 §2.2
# discourages and YAML refuses (https://yaml.org/spec/1.1/#id868518), so one stray byte
# in a title does not take the whole post down.
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# In a file name, line breaks and tabs are as unwelcome as the rest (they would split report lines).
BAD_NAME = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


#: What must change for a file to be read again: size, modification time (ns), inode, git dates.
Stamp = tuple[int, int, int, tuple[datetime, datetime] | None]


@dataclass(frozen=True, slots=True)
class SourceFile:
    #: Absolute path of the file; None as listed (then ``root``/``rel``: a path a cached file was 0.2–0.7 KB more).
    where: str | Path | None
    #: Path relative to the content folder, ``/``-separated: the name used in reports.
    rel: str
    size: int
    mtime_ns: int
    inode: int
    #: The content folder's real path when the file was listed.
    root: Path | None = None
    #: From git history, when the content is a git checkout: (first commit, last commit) touching the file,
    #: the default ``date`` and ``updated`` of a post whose front matter names none.
    history: tuple[datetime, datetime] | None = None

    @property
    def path(self) -> Path:
        """Absolute path of the file."""
        return self.where if isinstance(self.where, Path) else Path(self.location)

    @property
    def location(self) -> str:
        """Absolute path of the file, as a str."""
        if self.where is None:
            return os.path.join(self.root or "", self.rel)
        return str(self.where)

    @property
    def stamp(self) -> Stamp:
        """What must change for the file to be read again."""
        return (self.size, self.mtime_ns, self.inode, self.history)


#: The files the last walks found, by real root and relative path: a file listed again unchanged is the same record
#: (building 10k Path and SourceFile objects was most of a no-change rescan).
_listed: dict[str, dict[str, SourceFile]] = {}
_by_name = operator.attrgetter("name")


#: A file in the content root that says "no posts is what I mean": an empty folder then publishes an empty site.
EMPTY_MARKER = ".feeds-empty"


@dataclass(frozen=True)
class Listing:
    """What a walk of the content folder found."""

    files: list[SourceFile]
    problems: list[Problem]
    #: Newest modification time (ns) of a post file or of a folder walked: a deleted or
    #: renamed file changes its folder's, so any change to the content moves it forward.
    newest_ns: int
    #: Whether the root holds the EMPTY_MARKER file.
    empty_ok: bool = False


def discover(root: Path, history: Mapping[str, tuple[datetime, datetime]] | None = None) -> Listing:
    """List the post files under ``root``: ``*.md``, skipping ``.``/``_`` names and the media folder.

    ``root/media/`` holds what the site serves as it is (``feeds.content.media``): a ``.md``
    file there is a file to serve (show notes, a transcript), never a post.

    Symlinks are followed only when they resolve inside ``root``; a folder
    reached twice (a symlink to a parent) is scanned once. ``history`` gives
    each file's :attr:`SourceFile.history`, by relative path.
    """
    try:
        real_root = root.resolve(strict=True)
        if not real_root.is_dir():
            raise ContentRootError(root, "is not a folder")
        listed = list(os.scandir(real_root))  # read once: the root's errors are the folder's errors
    except FileNotFoundError as e:
        raise ContentRootError(root, "content folder not found") from e
    except PermissionError as e:
        raise ContentRootError(root, "content folder is not readable") from e
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop (Python < 3.13)
        raise ContentRootError(root, f"cannot read content folder: {getattr(e, 'strerror', None) or e}") from e

    files: list[SourceFile] = []
    problems: list[Problem] = []
    seen_dirs: dict[tuple[int, int], str] = {}
    newest = 0
    if len(_listed) > 16:
        _listed.clear()
    before = _listed.get(str(real_root), {})
    now: dict[str, SourceFile] = {}

    def walk(directory: Path, rel_prefix: str, listed: list[os.DirEntry[str]] | None = None) -> None:
        rel_dir = rel_prefix.rstrip("/") or "."
        nonlocal newest
        try:
            info = directory.stat()
            entries = sorted(os.scandir(directory) if listed is None else listed, key=_by_name)
        except OSError as e:
            problems.append(Problem(rel_dir, 1, f"cannot read folder: {e.strerror}"))
            return
        if info.st_mtime_ns > newest:
            newest = info.st_mtime_ns
        first = seen_dirs.setdefault((info.st_dev, info.st_ino), rel_dir)
        if first != rel_dir:
            problems.append(Problem(rel_dir, 1, f"is the same folder as {first}; not scanned twice", "warning"))
            return
        for entry in entries:
            name = entry.name
            if name.startswith((".", "_")) or (name == MEDIA_FOLDER and not rel_prefix):
                continue
            rel = rel_prefix + name
            is_md = name.endswith(".md")
            # (An ASCII name is bad only if it is not printable: the regex only for the others.)
            if not (name.isascii() and name.isprintable()) and BAD_NAME.search(name) and (is_md or entry.is_dir()):
                # Undecodable bytes (kept as surrogates) or control characters in a name would
                # corrupt every report and log line that names the file: refuse it, escaped.
                shown = rel_prefix + _escaped(name)
                problems.append(Problem(shown, 1, "name is not valid UTF-8 or holds control characters; rename it"))
                continue
            if entry.is_symlink():
                try:
                    target = Path(entry.path).resolve()
                except (OSError, RuntimeError):
                    if is_md:
                        problems.append(Problem(rel, 1, "symlink cannot be resolved (a loop?); not followed"))
                    continue
                if not target.is_relative_to(real_root):
                    if is_md or target.is_dir():
                        problems.append(Problem(rel, 1, "symlink points outside the content folder; not followed"))
                    continue
            if not is_md:
                # Only a folder matters: the directory entry's type tells, with no system call.
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    continue
                if is_dir:
                    walk(Path(entry.path), rel + "/")
                continue
            path = entry.path
            try:
                info = os.stat(path)  # follows symlinks, like path.stat() (and cheaper than entry.stat())
            except OSError as e:
                problems.append(Problem(rel, 1, f"cannot read: {e.strerror}"))
                continue
            if stat.S_ISREG(info.st_mode):
                # The same path under the same root is the same rel: an equal stamp is the same file.
                known = before.get(rel)
                dated = history.get(rel) if history is not None else None
                if known is None or known.stamp != (info.st_size, info.st_mtime_ns, info.st_ino, dated):
                    known = SourceFile(None, rel, info.st_size, info.st_mtime_ns, info.st_ino, real_root, dated)
                files.append(known)
                now[rel] = known
                if info.st_mtime_ns > newest:
                    newest = info.st_mtime_ns
            elif stat.S_ISDIR(info.st_mode):
                problems.append(Problem(rel, 1, "is a folder, not a Markdown file; its contents are scanned", "warning"))
                walk(Path(path), rel + "/")
            else:
                problems.append(Problem(rel, 1, "is not a regular file (a pipe or device?); skipped"))

    walk(real_root, "", listed)
    _listed[str(real_root)] = now
    return Listing(files, problems, newest, (real_root / EMPTY_MARKER).is_file())


def _escaped(name: str) -> str:
    """Show a file name with its undecodable bytes and control characters as escapes."""
    raw = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return BAD_NAME.sub(lambda m: f"\\x{ord(m.group()):02x}", raw)


def read_text(file: SourceFile, config: Config, problems: list[Problem]) -> str:
    """Return the file's text: UTF-8 without BOM, ``\\n`` line ends, forbidden characters removed (with a warning)."""
    return read_source(file, config, problems)[0]


def read_source(file: SourceFile, config: Config, problems: list[Problem]) -> tuple[str, bytes | None]:
    """Return :func:`read_text` and, when the text is the file's bytes decoded as they are, those bytes (else None)."""
    data = _read_bytes(file, config)
    if not data.strip():
        raise ContentError(file.rel, "empty file")
    text = _clean_utf8(data)
    if text is not None:
        if "\r" in text:
            return text.replace("\r\n", "\n").replace("\r", "\n"), None
        return text, data
    text = _decode(file, data).replace("\r\n", "\n").replace("\r", "\n")
    first = FORBIDDEN.search(text)
    if first is not None:
        line = text[: first.start()].count("\n") + 1
        problems.append(Problem(file.rel, line, f"removed characters that XML 1.0 forbids ({_describe(text)})", "warning"))
        text = FORBIDDEN.sub("", text)
    return text, None


def _read_bytes(file: SourceFile, config: Config) -> bytes:
    """Read the file's bytes, checking again that it is a regular file inside the folder.

    The file may have been replaced since it was listed (by a symlink, a pipe or
    a bigger file), so the checks of :func:`discover` are repeated on what is opened.
    """
    limit = config.max_file_size
    if file.size > limit:
        raise ContentError(file.rel, f"file is {file.size} bytes, over max_file_size ({limit}); skipped")
    fd = _open_unmoved(file) if _FD_PATHS is not None else None
    if fd is None:
        try:
            real = file.path.resolve(strict=True)
            if file.root is None or not real.is_relative_to(file.root):
                raise ContentError(file.rel, "now points outside the content folder; not read")
            fd = os.open(real, _OPEN_FLAGS)
        except (OSError, RuntimeError) as e:
            raise ContentError(file.rel, f"cannot read: {getattr(e, 'strerror', None) or e}") from e
    try:
        info = os.fstat(fd)
        mode = info.st_mode
        if stat.S_ISDIR(mode):
            # What opening a folder as a file object raised before (a loader error, as reported then).
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), fd)
        if not stat.S_ISREG(mode):
            raise ContentError(file.rel, "is not a regular file; skipped")
        data = _read_up_to(fd, limit + 1, info.st_size)
    except IsADirectoryError:
        raise
    except OSError as e:
        raise ContentError(file.rel, f"cannot read: {e.strerror}") from e
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ContentError(file.rel, f"file is over max_file_size ({limit} bytes); skipped")
    return data


# O_NONBLOCK: opening a pipe put in the file's place must not hang the scan.
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
# Where Linux names the file an open descriptor refers to, every symlink followed.
_FD_PATHS = "/proc/self/fd/" if sys.platform.startswith("linux") and hasattr(os, "O_NOFOLLOW") else None


def _open_unmoved(file: SourceFile) -> int | None:
    """Open the file if it is still at its listed path with no symlink on the way, else return None.

    Then its real path is its listed path, inside the folder: what ``resolve()``
    (a system call per path component) would find. A symlink, a moved file or
    anything unusual returns None, for the general check by real path.
    """
    if file.root is None:
        return None
    path = file.location
    try:
        fd = os.open(path, _OPEN_FLAGS | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        real = os.readlink(f"{_FD_PATHS}{fd}")
    except OSError:
        real = ""
    if real == path and path.startswith(_inside(str(file.root))):
        return fd
    os.close(fd)
    return None


@functools.lru_cache(maxsize=64)
def _inside(root: str) -> str:
    """Return the prefix of the paths inside the folder ``root``."""
    return os.path.join(root, "")


def _read_up_to(fd: int, count: int, expected: int) -> bytes:
    """Read until the end of the file or ``count`` bytes; ``expected`` is the size the file had (fstat)."""
    first = min(count, expected + 1)
    data = os.read(fd, first)
    if len(data) == expected < first:
        return data  # all of it: a short read of a regular file is its end
    while len(data) < count:
        more = os.read(fd, min(count - len(data), 1 << 16))
        if not more:
            break
        data += more
    return data


# FORBIDDEN in UTF-8: the C0 controls and DEL are single bytes, the C1 controls C2 80-9F,
# U+FFFE/U+FFFF EF BF BE/BF; lone surrogates never pass a strict decode. (A lead byte is
# looked for first: memchr is much faster than any regex.)
_FORBIDDEN_ASCII = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_FORBIDDEN_MULTIBYTE = ((b"\xc2", re.compile(rb"\xc2[\x80-\x9f]")), (b"\xef", re.compile(rb"\xef\xbf[\xbe\xbf]")))


def _clean_utf8(data: bytes) -> str | None:
    """Return ``data`` decoded if it is strict UTF-8 without a BOM, holding no character FORBIDDEN matches (the common case)."""
    if data.startswith(codecs.BOM_UTF8) or len(data.translate(None, _FORBIDDEN_ASCII)) != len(data):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.isascii():
        for lead, pattern in _FORBIDDEN_MULTIBYTE:
            if lead in data and pattern.search(data):
                return None
    return text


def _decode(file: SourceFile, data: bytes) -> str:
    """Decode UTF-8 (a BOM is dropped); lone surrogates encoded in the bytes are kept for stripping."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        try:
            # WTF-8/CESU-style encoded surrogates: the text is otherwise UTF-8, and
            # the surrogates are stripped below with a warning instead of losing the post.
            return data.decode("utf-8-sig", errors="surrogatepass")
        except UnicodeDecodeError:
            pass
        line = data[: e.start].count(b"\n") + 1
        raise ContentError(file.rel, f"not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})", line) from e


def _describe(text: str) -> str:
    """Name the kinds of forbidden characters in ``text``, for the warning."""
    found = {c for c in FORBIDDEN.findall(text)}
    kinds = []
    if any(c < "\x20" for c in found):
        kinds.append("C0 control characters")
    if any("\x7f" <= c <= "\x9f" for c in found):
        kinds.append("DEL/C1 control characters")
    if any("\ud800" <= c <= "\udfff" for c in found):
        kinds.append("lone surrogates")
    if any(c in "\ufffe\uffff" for c in found):
        kinds.append("U+FFFE/U+FFFF")
    return ", ".join(kinds)


def clean(value: Any, seen: set[int]) -> tuple[Any, bool]:
    """Remove forbidden characters from every string in ``value``; return (value, changed).

    Lists and mappings are cleaned in place; ``seen`` makes shared and
    self-referencing YAML nodes (``&a [*a]``) cost one visit each.
    """
    if isinstance(value, str):
        return (FORBIDDEN.sub("", value), True) if FORBIDDEN.search(value) else (value, False)
    if not isinstance(value, list | dict) or id(value) in seen:
        return value, False
    seen.add(id(value))
    changed = False
    if isinstance(value, list):
        for index, item in enumerate(value):
            value[index], item_changed = clean(item, seen)
            changed |= item_changed
        return value, changed
    items = []
    for key, item in value.items():
        new_key, key_changed = clean(key, seen)
        new_item, item_changed = clean(item, seen)
        items.append((new_key, new_item))
        changed |= key_changed or item_changed
    if changed:
        value.clear()
        value.update(items)
    return value, changed
