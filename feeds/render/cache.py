"""Rendered post HTML, cached in memory and on disk, rendered on both cores when many are missing.

A disk entry is keyed by a hash of (renderer version, base URL, Markdown source),
so a restart over the same content renders nothing, and any change to the
source, the post URL, markup.py or the Markdown libraries misses the cache.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from importlib import metadata
from multiprocessing import get_context
from pathlib import Path

from feeds import __version__
from feeds.render import markup
from feeds.render.markup import Rendered

#: Below this many misses a process pool costs more than it saves.
PARALLEL_FROM = 64
_SEPARATOR = "\0"

Source = tuple[str, str]  # (Markdown body, base URL)


@lru_cache(maxsize=1)
def renderer_version() -> str:
    """Everything that changes the HTML of a given source: our markup code and the libraries."""
    parts = [__version__, Path(markup.__file__).read_bytes().hex()]
    parts += [metadata.version(name) for name in ("markdown-it-py", "mdit-py-plugins")]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cache_key(body: str, base_url: str) -> str:
    digest = hashlib.sha256(f"{renderer_version()}\n{base_url}\n".encode())
    digest.update(body.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


class RenderCache:
    """Markdown → Rendered, once per distinct source per process (and once per disk cache)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def render(self, body: str, base_url: str) -> Rendered:
        return self.render_many([(body, base_url)])[0]

    def render_many(self, sources: Sequence[Source]) -> list[Rendered]:
        """Return the rendering of each source, in order; misses are rendered (in parallel if many)."""
        results: list[Rendered | None] = []
        missing: list[int] = []
        for index, (body, url) in enumerate(sources):
            known = _known(body, url)
            if known is None and self.folder is not None:
                known = self._read(cache_key(body, url))
                if known is not None:
                    _remember(body, url, known)
            results.append(known)
            if known is None:
                missing.append(index)
        if missing:
            fresh = _render_all([sources[i] for i in missing])
            for index, rendered in zip(missing, fresh, strict=True):
                body, url = sources[index]
                _remember(body, url, rendered)
                if self.folder is not None:
                    self._write(cache_key(body, url), rendered)
                results[index] = rendered
        return [r for r in results if r is not None]

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / key[:2] / key[2:]

    def _read(self, key: str) -> Rendered | None:
        try:
            text = self._path(key).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        first, sep, html = text.partition(_SEPARATOR)
        return Rendered(html, first) if sep else None

    def _write(self, key: str, rendered: Rendered) -> None:
        # A cache that cannot be written only costs time: never fail a build for it.
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(rendered.first_paragraph + _SEPARATOR + rendered.html)
            os.replace(tmp, path)  # atomic: readers see a whole entry or none
        except OSError:
            pass


# The in-process memory: lru_cache keyed by (body, url); str hashes are cached by CPython.
_memory: dict[Source, Rendered] = {}
_MEMORY_LIMIT = 20000


def _known(body: str, url: str) -> Rendered | None:
    return _memory.get((body, url))


def _remember(body: str, url: str, rendered: Rendered) -> None:
    if len(_memory) >= _MEMORY_LIMIT:
        _memory.pop(next(iter(_memory)))  # oldest first: edited posts leave old sources behind
    _memory[(body, url)] = rendered


def _render_chunk(sources: list[Source]) -> list[Rendered]:
    return [markup.render(body, url) for body, url in sources]


def _render_all(sources: list[Source]) -> list[Rendered]:
    workers = os.cpu_count() or 1
    # fork is only safe while no other thread can hold a lock (start-up, before the scheduler).
    if len(sources) < PARALLEL_FROM or workers < 2 or threading.active_count() > 1:
        return _render_chunk(sources)
    # fork: the children inherit the imported parser; they only render and return strings.
    size = max(8, len(sources) // (workers * 4))
    chunks = [sources[i : i + size] for i in range(0, len(sources), size)]
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
            return [rendered for chunk in pool.map(_render_chunk, chunks) for rendered in chunk]
    except (OSError, RuntimeError):  # no fork or no processes here: render in this one
        return _render_chunk(sources)


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of this package's code: parsed posts are only reused by the very code that parsed them."""
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(Path(__file__).parent.parent.rglob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


class PostCache:
    """Loaded files by relative path and stamp (size, mtime_ns, inode), pickled in the cache folder.

    The same stamp test the in-memory index uses between scans, kept across
    restarts: a restart parses only files that changed. The file name holds a
    hash of the settings and the code, so neither can serve stale posts. The
    cache folder must be writable by the service only (it holds pickles).
    """

    def __init__(self, folder: Path, settings: str) -> None:
        name = hashlib.sha256(f"{code_version()}\n{settings}".encode()).hexdigest()[:16]
        self.path = folder / f"posts-{name}.pickle"
        self._entries: dict[str, tuple[object, object]] | None = None

    def get(self, rel: str, stamp: object) -> object | None:
        if self._entries is None:
            self._entries = self._read()
        known = self._entries.get(rel)
        return known[1] if known is not None and known[0] == stamp else None

    def save(self, entries: dict[str, tuple[object, object]]) -> None:
        """Replace the cache with ``entries`` (rel → (stamp, loaded)); failures only cost time."""
        self._entries = entries
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                pickle.dump(entries, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
        except OSError:
            pass

    def forget(self) -> None:
        """Drop the entries from memory (they are read again if needed)."""
        self._entries = None

    def _read(self) -> dict[str, tuple[object, object]]:
        try:
            with self.path.open("rb") as f:
                data = pickle.load(f)  # noqa: S301 - our own file in the service's cache folder
        except Exception:  # missing, truncated or from another version: parse again
            return {}
        return data if isinstance(data, dict) else {}


_post_caches: dict[tuple[Path, str], PostCache] = {}


def post_cache(folder: Path | None, settings: str) -> PostCache | None:
    """The PostCache of a cache folder and settings (one per process), or None without a cache folder."""
    if folder is None:
        return None
    key = (folder, settings)
    if key not in _post_caches:
        _post_caches[key] = PostCache(folder, settings)
    return _post_caches[key]
