"""The content folder as last scanned: re-read only files whose stamp changed, keep the last good version of a broken post.

Pure: no threads. Loading many files may be spread over processes by the
caller (``load_many``); the index itself is only touched by the builder.
A post that was published and whose file breaks keeps being published in its
last good version, and that version survives restarts: the caller saves
:meth:`ContentIndex.state` with the snapshot and hands it back to
:meth:`ContentIndex.restore` in the next builder.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from isal import isal_zlib  # zlib's format, 5× faster: 10,000 bodies are packed at a cold start

from feeds.config import Config
from feeds.content.errors import ContentError, ContentRootError
from feeds.content.files import Listing, SourceFile, Stamp, discover, read_source
from feeds.content.frontmatter import split
from feeds.content.looking import folder_id, look_up
from feeds.content.post import Loaded, body_digest, load, pack, unpack_body
from feeds.models import Post, Problem

#: Loads files into Loaded records, in order (the builder passes a process pool's map).
LoadMany = Callable[[Sequence[SourceFile], Config], list[Loaded]]
#: A source record wanted back from its file: (rel, the file's size, modification time and inode then, its body's digest).
Wanted = tuple[str, tuple[int, int, int], str]
#: Reads source records back from post files (``read_back``'s arguments; the builder passes a process pool's map).
ReadMany = Callable[[Path, Sequence[Wanted], Config], list[tuple[bytes, int] | None]]
#: The stamp of a file that is listed with a problem instead of being read: never equal to a real one.
_TROUBLED: Stamp = (-1, -1, -1, None)
#: The stamp of every file after an upgrade of the code: each is read again, broken ones keep their last good version.
_REREAD: Stamp = (-2, -2, -2, None)
KEPT_MESSAGE = "serving the last good version of this post until the file is fixed"


def load_serially(files: Sequence[SourceFile], config: Config) -> list[Loaded]:
    """Load ``files`` one after the other in this process."""
    return [load(file, config) for file in files]


def text_of(real: Path, rel: str, stamp: tuple[int, int, int] | None, digest: str, config: Config) -> tuple[str, int] | None:
    """The text of the post file ``rel`` under the real root ``real`` and where its body starts, if its body has ``digest``.

    With ``stamp`` (size, modification time, inode), only if the file has it, too (its front matter unchanged).
    A file changed since is a change the next scan reads; until then its saved source stands for it.
    """
    try:
        path = os.path.join(real, rel)
        info = os.lstat(path)  # a plain file (a symlink's target is read from the saved state, not checked here)
        if not stat.S_ISREG(info.st_mode) or (stamp is not None and (info.st_size, info.st_mtime_ns, info.st_ino) != stamp):
            return None
        text = read_source(SourceFile(None, rel, info.st_size, info.st_mtime_ns, info.st_ino, real), config, [])[0]
        body = split(rel, text)[1]
    except (ContentError, OSError, RuntimeError, ValueError):
        return None
    if body_digest(body) != digest:
        return None
    return text, len(text) - len(body)


def read_back(real: Path, items: Sequence[Wanted], config: Config) -> list[tuple[bytes, int] | None]:
    """Each (rel, stamp, body digest)'s source record (its text compressed, where its body starts) from its file, or None."""
    records: list[tuple[bytes, int] | None] = []
    for rel, stamp, digest in items:
        found = text_of(real, rel, stamp, digest, config)
        if found is None:
            records.append(None)
            continue
        text, at = found
        records.append(pack(text[:at], text[at:]))
    return records


@dataclass(frozen=True, slots=True)
class Kept:
    """A published post whose file is broken now: its last good version stays published."""

    post: Post
    #: Why: the file's first error.
    reason: str
    #: When the file was first seen broken (UTC).
    since: datetime


@dataclass(frozen=True)
class Scan:
    """Every post the folder holds now, with what changed since the last scan."""

    posts: tuple[Post, ...]
    problems: tuple[Problem, ...]
    #: Files read again (new or changed) and files gone, relative paths.
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    #: Newest change of the content (a post file or a folder): the content's own clock, UTC.
    content_time: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    #: Posts served from their last good version.
    kept: tuple[Kept, ...] = ()
    #: What changed, by relative path: (the post published before, the post published now), None for none.
    delta: Mapping[str, tuple[Post | None, Post | None]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Known:
    """What the index knows of one file; its saved state across restarts."""

    #: The file's stamp when it was read (or _TROUBLED, _REREAD).
    stamp: Stamp
    #: What reading it gave: the post (no body) and problems.
    loaded: Loaded
    #: The post this file last published without an error.
    last_good: Post | None
    #: Its source record: the file's whole text then (zlib), where the body starts in it, and its dates from git history.
    #: Held only while the entry is unsaved or its file broken (and not at all after a big scan): else the file holds it,
    #: and the saved state once saved.
    source_z: bytes = b""
    body_at: int = 0
    history: tuple[datetime, datetime] | None = None
    #: While the file is broken and ``last_good`` is served: since when (UTC).
    broken_since: datetime | None = None


#: Reads the source record of a saved entry back from the saved state (``feeds.service.state``): (source_z, body_at) of
#: the entry saved with this very stamp, or None.
Recall = Callable[[str, Known], tuple[bytes, int] | None]


@dataclass
class ContentIndex:
    """The content folder as last scanned; re-reads only files whose stamp changed."""

    config: Config
    load_many: LoadMany = load_serially
    read_many: ReadMany = read_back
    #: A clock for ``Kept.since`` (tests pass their own).
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _known: dict[str, Known] = field(default_factory=dict)
    #: Files whose entry changed since :meth:`saved` was last told (None: every entry, e.g. nothing saved yet).
    _unsaved: set[str] | None = field(default=None, repr=False)
    _last: tuple[list[Problem], int, Scan] | None = field(default=None, repr=False)
    #: The post each file publishes now (its own or its last good version), and the files with problems or kept posts.
    _published: dict[str, Post] = field(default_factory=dict, repr=False)
    _troubled: set[str] = field(default_factory=set, repr=False)
    #: The content folder's (device, inode) when it was last listed whole: events are looked up only in that folder.
    _listed: tuple[int, int] | None = field(default=None, repr=False)
    #: The folder last scanned: a source no longer held is read back from its file there.
    _root: Path | None = field(default=None, repr=False)
    _real: dict[Path, Path] = field(default_factory=dict, repr=False)
    #: Reads a source no longer held back from the saved state (set by it when it restores this index).
    recall: Recall | None = field(default=None, repr=False)
    #: The saved state's own bookkeeping (``feeds.service.state``): the files each of its shards holds, while it knows.
    shards: dict[int, set[str]] | None = field(default=None, repr=False)

    def scan(
        self,
        root: Path | None = None,
        content_time: datetime | None = None,
        history: Mapping[str, tuple[datetime, datetime]] | None = None,
        paths: Collection[str] | None = None,
    ) -> Scan:
        """Scan ``root`` (the content folder by default); raise ContentRootError if it cannot be read.

        For a git checkout, ``content_time`` (the commit time) replaces the files' modification
        times as the content clock (a checkout's files have the checkout's times, different on every
        host), and ``history`` gives each file's first and last commit, its default dates.
        ``paths`` (relative, from file-system events) limits the scan to those files: nothing
        else is listed, and a path that is anything but a post file or gone lists the folder whole.
        """
        if root is None:
            if not isinstance(self.config.content_dir, Path):
                raise ValueError("a git content_dir is scanned from its checkout: pass root")
            root = self.config.content_dir
        self._root, self._real = root, {}
        looked = None
        if paths is not None and self._last is not None and history is None and content_time is None:
            looked = look_up(root, paths, self._listed)
        if looked is not None and (looked.files or len(looked.gone) < len(self._known)):
            changed, removed = self._update_some(looked.files, looked.gone)
            assert self._last is not None  # (looked only when there was a last scan)
            folder_problems, newest_ns = self._last[0], max(self._last[1], looked.newest_ns)
        else:
            listed = folder_id(root)
            listing = discover(root, history)
            if not listing.files and not listing.empty_ok and any(k.last_good for k in self._known.values()):
                # An unmounted volume often leaves an empty mount point behind: never turn that
                # into empty feeds unless the folder says so (the marker file, `feeds empty`).
                raise ContentRootError(
                    root,
                    f"content folder has no posts now but had {len(self._known)}; keeping the last snapshot "
                    "(to publish an empty site on purpose, run `feeds empty`)",
                )
            changed, removed = self._update(listing)
            folder_problems, newest_ns, self._listed = list(listing.problems), listing.newest_ns, listed
        newest = content_time or datetime.fromtimestamp(newest_ns / 1e9, UTC).replace(microsecond=0)
        if not changed and not removed and self._last is not None and self._last[:2] == (folder_problems, newest_ns):
            return self._last[2]  # nothing read again: the very same posts and problems, nothing changed
        touched = (*changed, *removed)
        before = {rel: self._published.get(rel) for rel in touched}
        for rel in touched:
            self._derive(rel)
        delta = {rel: (was, now) for rel, was in before.items() if was != (now := self._published.get(rel))}
        problems = list(folder_problems)
        kept: list[Kept] = []
        for rel in sorted(self._troubled):
            known = self._known[rel]
            problems.extend(known.loaded.problems)
            if known.loaded.post is None and known.last_good is not None:
                problems.append(Problem(rel, 1, KEPT_MESSAGE))
                reason = next((p.message for p in known.loaded.problems if p.severity == "error"), "cannot be read")
                kept.append(Kept(known.last_good, reason, known.broken_since or self.clock()))
        posts = tuple(self._published.values()) if looked is not None else tuple(self._published[rel] for rel in sorted(self._published))
        result = Scan(posts, tuple(problems), tuple(changed), tuple(removed), newest, tuple(kept), delta)
        self._last = (folder_problems, newest_ns, replace(result, changed=(), removed=(), delta={}))
        return result

    def _derive(self, rel: str) -> None:
        """Bring the published post and the troubled files of ``rel`` in step with its entry."""
        known = self._known.get(rel)
        post = None if known is None else known.loaded.post or known.last_good
        if post is None:
            self._published.pop(rel, None)
        else:
            self._published[rel] = post
        if known is not None and (known.loaded.problems or (known.loaded.post is None and known.last_good is not None)):
            self._troubled.add(rel)
        else:
            self._troubled.discard(rel)

    def _update(self, listing: Listing) -> tuple[list[str], list[str]]:
        """Read new and changed files; mark listed-but-unreadable ones broken; forget deleted ones."""
        changed: list[str] = []
        seen = {file.rel for file in listing.files}
        known_files = self._known
        stale = [f for f in listing.files if (known := known_files.get(f.rel)) is None or known.stamp != f.stamp]
        for file, loaded in zip(stale, self.load_many(stale, self.config) if stale else [], strict=True):
            self._remember(file.rel, file.stamp, loaded)
            changed.append(file.rel)
        # A published file that is still there but cannot be read now (a dangling or outside
        # symlink, a pipe in its place, an unreadable folder around it) is broken, not deleted.
        reported = {p.path for p in listing.problems}
        gone = self._known.keys() - seen
        troubled = {rel for rel in gone if rel in reported or any(rel.startswith(f"{path}/") for path in reported)}
        for rel in sorted(troubled):
            if self._known[rel].stamp != _TROUBLED:
                self._remember(rel, _TROUBLED, Loaded(None))
                changed.append(rel)
        removed = sorted(gone - troubled)
        for rel in removed:
            del self._known[rel]
        if self._unsaved is not None:
            self._unsaved.update(changed, removed)
        return changed, removed

    def _update_some(self, files: Sequence[SourceFile], gone: Sequence[str]) -> tuple[list[str], list[str]]:
        """Read the given files if their stamp changed; forget the gone ones (the events' part of :meth:`_update`)."""
        known_files = self._known
        stale = [f for f in files if (known := known_files.get(f.rel)) is None or known.stamp != f.stamp]
        changed = []
        for file, loaded in zip(stale, self.load_many(stale, self.config) if stale else [], strict=True):
            self._remember(file.rel, file.stamp, loaded)
            changed.append(file.rel)
        removed = sorted(rel for rel in gone if rel in known_files)
        for rel in removed:
            del known_files[rel]
        if self._unsaved is not None:
            self._unsaved.update(changed, removed)
        return changed, removed

    def _remember(self, rel: str, stamp: Stamp, loaded: Loaded) -> None:
        known = self._known.get(rel)
        if loaded.post is not None:
            # (a big scan's helpers send no text back: its file holds it, read back when the index is saved)
            packed = loaded.packed() if loaded.front or loaded.source_z else loaded
            self._known[rel] = Known(
                stamp, Loaded(loaded.post, "", loaded.problems), loaded.post, packed.source_z, packed.body_at, stamp[3]
            )
        elif known is not None and known.last_good is not None:
            since = known.broken_since or self.clock()
            source_z, body_at = known.source_z, known.body_at
            if not source_z and self.recall is not None:  # saved good, broken now: its last good source is the saved one
                source_z, body_at = self.recall(rel, known) or (b"", 0)
            self._known[rel] = replace(known, stamp=stamp, loaded=loaded, broken_since=since, source_z=source_z, body_at=body_at)
        else:
            self._known[rel] = Known(stamp, loaded, None)

    def body(self, post: Post) -> str | None:
        """Return the Markdown body of this very version of ``post`` (None if the index no longer has it)."""
        known = self._known.get(post.source)
        if known is None or known.last_good is None or known.last_good.body_digest != post.body_digest:
            return None
        if not known.source_z:  # saved: its file holds it (unless it changed since), else the saved state does
            found = self._from_file(post.source, known)
            if found is not None:
                return found[0][found[1] :]
            recalled = self.recall(post.source, known) if self.recall is not None else None
            if recalled is None:
                return None
            return unpack_body(*recalled)
        return unpack_body(known.source_z, known.body_at)

    def _from_file(self, rel: str, known: Known) -> tuple[str, int] | None:
        """The text of ``rel``'s file and where its body starts, if its body is the one ``known`` published (:func:`text_of`)."""
        real = self._real_root()
        if real is None or known.last_good is None:
            return None
        return text_of(real, rel, None, known.last_good.body_digest, self.config)

    def _real_root(self) -> Path | None:
        if self._root is None:
            return None
        try:
            return self._real.get(self._root) or self._real.setdefault(self._root, self._root.resolve(strict=True))
        except (OSError, RuntimeError):
            return None

    def sources(self, wanted: Sequence[tuple[str, Known]]) -> list[tuple[bytes, int] | None]:
        """The source record of each (rel, entry) of ``wanted`` from its file, in order (None: the file is not that version).

        Only a file with the entry's stamp and body counts; the reading is spread over processes by ``read_many``.
        """
        real = self._real_root()
        if real is None:
            return [None] * len(wanted)
        items = [(rel, known.stamp[:3], known.last_good.body_digest if known.last_good else "") for rel, known in wanted]
        return self.read_many(real, items, self.config)

    # -- surviving restarts ----------------------------------------------------------

    def state(self) -> dict[str, Known]:
        """Everything needed to carry on after a restart: each file's stamp, load result, last good version and its source."""
        return dict(self._known)

    def restore(self, state: Mapping[str, Known], fresh: bool = False) -> None:
        """Start from a saved :meth:`state`: unchanged files are not read again, broken ones keep their last good version.

        With ``fresh`` (the state was saved under other settings or by other code) every file is
        read again, and the last good version of each broken post is made again from its source
        record under these settings and this code, so it stays published (under the new URLs).
        """
        known = dict(state)
        if fresh:
            known = {rel: k for rel, entry in known.items() if (k := self._again(rel, entry)) is not None}
        self._known, self.shards = known, None
        self._last = None
        self._published, self._troubled = {}, set()
        for rel in known:
            self._derive(rel)
        self._unsaved = None if fresh else set()

    def _again(self, rel: str, known: Known) -> Known | None:
        """The kept version of a broken post made again from its source record; None for any other file (it is read again)."""
        if known.last_good is None or known.loaded.post is not None or not known.source_z:
            return None
        try:
            text = isal_zlib.decompress(known.source_z).decode("utf-8", "surrogatepass")
        except Exception:  # damaged (isal's error derives from Exception only): nothing to make it again from
            return None
        file = SourceFile(Path(rel), rel, len(text), 0, 0, None, known.history)
        loaded = load(file, self.config, text).packed()
        if loaded.post is None:  # this code refuses what the old one published: nothing to keep
            return None
        since = known.broken_since or self.clock()
        return Known(_REREAD, known.loaded, loaded.post, loaded.source_z, loaded.body_at, known.history, since)

    def unsaved(self) -> set[str] | None:
        """The files whose :meth:`state` entry changed (or went) since the last save; None: all of them."""
        return None if self._unsaved is None else set(self._unsaved)

    def forget_saved(self) -> None:
        """Nothing of this index is on disk any more: the next save writes all of it."""
        self._unsaved, self.shards = None, None

    def saved(self, files: set[str] | None) -> None:
        """The entries of ``files`` (None: all) as they were at :meth:`unsaved` are on disk now: their good sources are let go."""
        if files is None:
            self._unsaved = set()
        elif self._unsaved is not None:
            self._unsaved -= files
        known_files = self._known
        for rel in list(known_files) if files is None else files:
            known = known_files.get(rel)
            if known is not None and known.source_z and known.loaded.post is not None:
                known_files[rel] = replace(known, source_z=b"")

    def entries(self, files: Iterable[str]) -> dict[str, Known]:
        """The :meth:`state` entries of ``files`` (those the index has)."""
        known = self._known
        return {rel: entry for rel in files if (entry := known.get(rel)) is not None}

    def kept(self) -> Iterable[Kept]:
        """The posts served from a kept version now."""
        return self._last[2].kept if self._last is not None else ()
