"""Response bodies: the bytes, their gzip copy, a strong ETag and Last-Modified; gzip on every core."""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

#: A body's address in a snapshot: (path, page).
Key = tuple[str, int]


@dataclass(frozen=True)
class Body:
    """One response body, ready to send as it is or gzipped."""

    data: bytes
    gzip: bytes
    media_type: str
    #: Strong validator of ``data``: the quoted start of its SHA-256.
    etag: str
    #: Newest post change behind the body (HTTP dates are whole seconds).
    last_modified: datetime | None

    @property
    def gzip_etag(self) -> str:
        """The validator of the gzip representation, distinct as RFC 9110 §8.8.3 asks."""
        return self.etag[:-1] + '-gz"'


def make_body(data: bytes, media_type: str, last_modified: datetime | None, previous: Body | None = None) -> Body:
    """Return a Body for ``data``, reusing ``previous`` when its bytes are the same."""
    return make_bodies([(data, media_type, last_modified, previous)])[0]


#: What make_bodies takes: (data, media type, last modified, previous body at that key).
Made = tuple[bytes, str, "datetime | None", "Body | None"]


def make_bodies(items: Sequence[Made]) -> list[Body]:
    """make_body for many (data, media type, last modified, previous); gzip on every core (zlib frees the GIL)."""
    results: list[Body | None] = []
    todo: list[tuple[int, bytes, str, datetime | None, str]] = []
    for index, (data, media_type, last_modified, previous) in enumerate(items):
        etag = etag_of(data)
        if _same(previous, etag, media_type):
            results.append(previous)
        else:
            results.append(None)
            todo.append((index, data, media_type, last_modified, etag))
    if len(todo) > 1 and (os.cpu_count() or 1) > 1:
        with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
            compressed = list(pool.map(compress, [t[1] for t in todo]))
    else:
        compressed = [compress(t[1]) for t in todo]
    for (index, data, media_type, last_modified, etag), packed in zip(todo, compressed, strict=True):
        results[index] = body_from(data, packed, media_type, last_modified, etag)
    return [body for body in results if body is not None]


def body_from(
    data: bytes, packed: bytes, media_type: str, last_modified: datetime | None, etag: str, previous: Body | None = None
) -> Body:
    """Return a Body of already compressed bytes, or ``previous`` when it holds the same bytes."""
    if previous is not None and _same(previous, etag, media_type):
        return previous
    stamp = last_modified.astimezone(UTC).replace(microsecond=0) if last_modified else None
    return Body(data, packed, media_type, etag, stamp)


def _same(previous: Body | None, etag: str, media_type: str) -> bool:
    return previous is not None and previous.etag == etag and previous.media_type == media_type


def etag_of(data: bytes) -> str:
    """Return the strong ETag of ``data``: the quoted first 32 hex digits of its SHA-256."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def compress(data: bytes) -> bytes:
    """Gzip ``data``; mtime=0 and no file name, so the same bytes gzip the same everywhere."""
    return gzip.compress(data, compresslevel=6, mtime=0)
