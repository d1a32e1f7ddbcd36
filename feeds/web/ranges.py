"""Byte ranges (RFC 9110 §14), as pure functions over header strings: parse, resolve, coalesce, and frame multipart parts.

https://www.rfc-editor.org/rfc/rfc9110#section-14 — the Range header and its units (§14.1,
§14.2), 206 Partial Content with one ``Content-Range`` or a ``multipart/byteranges`` body
(§14.6, §15.3.7), 416 with ``Content-Range: bytes */<length>`` (§15.5.17).

Several ranges are served (podcast apps ask for one; some players and PDF readers ask for more):
overlapping or nearly adjacent ranges are merged, in ascending order, as §15.3.7.2 allows, so a
206 never carries more bytes than the file has. A header asking for more than
``limits.MAX_RANGES`` ranges is ignored (a 200 with the whole file), as §14.2 allows for "many small
ranges": that is what a denial-of-service attempt looks like, and the answer costs no more than
a plain GET.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from feeds import limits

_SPEC = re.compile(r"\s*(?:(\d{1,19})\s*-\s*(\d{0,19})|-\s*(\d{1,19}))\s*")
#: Parts closer than this are merged: a part's own headers cost about as much (§15.3.7.2).
_GAP = 80


@dataclass(frozen=True)
class Span:
    """Bytes ``first`` to ``last`` inclusive, as Content-Range counts them."""

    first: int
    last: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    def content_range(self, total: int) -> str:
        return f"bytes {self.first}-{self.last}/{total}"


class Unsatisfiable(Exception):
    """No range of a valid header lies within the representation: answer 416 (§15.5.17)."""


def parse(header: str) -> list[tuple[int | None, int | None]] | None:
    """The range-specs of a ``Range: bytes=…`` header, or None when it is to be ignored.

    None for another unit (§14.2: "MUST ignore a Range header field that contains a range unit it
    does not understand"), for an invalid header (§14.2: "MAY ignore ... an invalid ranges-specifier"),
    and for more than ``limits.MAX_RANGES`` ranges. Each spec is (first, last) with ``last`` None for
    ``first-``, or (None, suffix length) for ``-suffix``.
    """
    unit, sep, ranges = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    parts = [part for part in ranges.split(",") if part.strip()]  # empty list elements are allowed (§5.6.1)
    if not parts or len(parts) > limits.MAX_RANGES:
        return None
    specs: list[tuple[int | None, int | None]] = []
    for part in parts:
        match = _SPEC.fullmatch(part)
        if match is None:
            return None
        first, last, suffix = match.groups()
        if suffix is not None:
            specs.append((None, int(suffix)))
            continue
        end = int(last) if last else None
        if end is not None and end < int(first):
            return None  # "last-pos < first-pos": invalid (§14.1.1)
        specs.append((int(first), end))
    return specs


def resolve(specs: list[tuple[int | None, int | None]], total: int) -> list[Span]:
    """The satisfiable ranges of ``specs`` in a representation of ``total`` bytes, merged and in order.

    Raises Unsatisfiable when none is (§14.1.2: a range is satisfiable when its first byte is
    within the representation, or a suffix range is non-empty and the representation is not).
    """
    spans = []
    for first, last in specs:
        if first is None:
            assert last is not None
            if last == 0 or total == 0:
                continue
            spans.append(Span(max(0, total - last), total - 1))
        elif first < total:
            spans.append(Span(first, total - 1 if last is None else min(last, total - 1)))
    if not spans:
        raise Unsatisfiable
    spans.sort(key=lambda span: span.first)
    merged = [spans[0]]
    for span in spans[1:]:
        top = merged[-1]
        if span.first <= top.last + 1 + _GAP:
            merged[-1] = Span(top.first, max(top.last, span.last))
        else:
            merged.append(span)
    return merged


def if_range_holds(if_range: str, etag: str, last_modified: str | None) -> bool:
    """Whether an ``If-Range`` value names the current representation (§13.1.5): strong ETag or exact date."""
    value = if_range.strip()
    if value.startswith(('"', "W/")):
        return value == etag  # strong comparison: a weak tag never matches
    # The date form: an exact match of Last-Modified, which is a strong validator here (a
    # representation's date changes, by at least a second, whenever its bytes do).
    return last_modified is not None and value == last_modified


def part_header(boundary: str, media_type: str, span: Span, total: int) -> bytes:
    """The delimiter and headers before one part of a ``multipart/byteranges`` body (§14.6)."""
    return f"\r\n--{boundary}\r\nContent-Type: {media_type}\r\nContent-Range: {span.content_range(total)}\r\n\r\n".encode("ascii")


def closing(boundary: str) -> bytes:
    return f"\r\n--{boundary}--\r\n".encode("ascii")


def multipart_length(boundary: str, media_type: str, spans: list[Span], total: int) -> int:
    """The exact length of the multipart body of ``spans``."""
    return sum(len(part_header(boundary, media_type, span, total)) + span.length for span in spans) + len(closing(boundary))
