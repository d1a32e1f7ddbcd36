"""What workers tell each other travels as named, versioned records: a changed or foreign record is refused, never misread."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, get_type_hints

import pytest

from feeds.service import wire
from feeds.service.wire import BuilderStatus, RebuildAnswer, RebuildRequest, RenderAnswer, RenderRequest
from feeds.snapshot.manifest import Item

ITEM = Item("/tags/café/page/2/feed.xml", "application/rss+xml; charset=utf-8", '"' + "a" * 32 + '"', 1767225600, 2048, 512, "d" * 16)

#: The shape of every record at wire.VERSION 1. A change here must come with a new wire.VERSION.
SCHEMA_V1 = {
    "RenderRequest": {"path": "str", "digest": "str | None"},
    "RenderAnswer": {"item": "Item | None"},
    "RebuildRequest": {"force": "bool"},
    "RebuildAnswer": {"status": "str", "changed": "bool", "version": "str | None", "error": "str | None"},
    "BuilderStatus": {
        "pid": "int | None",
        "activity": "str",
        "since": "datetime | None",
        "progress": "datetime | None",
        "last_scan": "datetime | None",
        "error": "str | None",
        "version": "str | None",
        "extra": "dict[str, Any]",
    },
    "Item": {
        "path": "str",
        "media_type": "str",
        "etag": "str",
        "last_modified": "int",
        "size": "int",
        "gzip_size": "int",
        "digest": "str",
    },
}


def _shape(kind: type[Any]) -> dict[str, str]:
    return {f.name: str(f.type) for f in fields(kind)}


def test_the_records_have_the_shape_their_version_says() -> None:
    """Adding, removing or retyping a field without a new wire.VERSION fails here."""
    assert wire.VERSION == 1
    assert {name: _shape(kind) for name, kind in wire.RECORDS.items()} | {"Item": _shape(Item)} == SCHEMA_V1
    for kind in (*wire.RECORDS.values(), Item):
        get_type_hints(kind)  # every annotation resolves (the reader checks types with them)


@pytest.mark.parametrize(
    "record",
    [
        RenderRequest("/page/2/feed.xml", "d" * 16),
        RenderRequest("/page/2/feed.xml"),
        RenderAnswer(ITEM),
        RenderAnswer(None),
        RebuildRequest(force=True),
        RebuildAnswer("done", True, "v1"),
        RebuildAnswer("failed", False, None, "snap/objects: cannot write a body: No space left on device"),
        BuilderStatus(),
        BuilderStatus(1234, "publishing", datetime(2026, 5, 2, 9, 30, tzinfo=UTC), None, None, None, "v1", {"publish": {"state": "idle"}}),
    ],
)
def test_a_record_comes_back_as_it_was_sent_through_json(record: Any) -> None:
    data = json.loads(json.dumps(wire.dump(record)))
    assert data["record"] == type(record).__name__ and data["v"] == wire.VERSION
    assert wire.load(data, type(record)) == record


def test_the_fields_travel_by_name() -> None:
    data = wire.dump(RenderAnswer(ITEM))
    assert data["item"] == {
        "path": ITEM.path,
        "media_type": ITEM.media_type,
        "etag": ITEM.etag,
        "last_modified": ITEM.last_modified,
        "size": ITEM.size,
        "gzip_size": ITEM.gzip_size,
        "digest": ITEM.digest,
    }


def _with(data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**data, **changes}


@pytest.mark.parametrize(
    "mangle",
    [
        lambda d: _with(d, v=2),  # a worker of another release
        lambda d: {k: v for k, v in d.items() if k != "v"},
        lambda d: _with(d, record="RebuildAnswer"),  # another record
        lambda d: {k: v for k, v in d.items() if k != "digest"},  # a field missing
        lambda d: _with(d, extra_field=1),  # a field this reader does not know
        lambda d: _with(d, path=["/page/2/feed.xml"]),  # a field of the wrong type
        lambda d: _with(d, digest=7),
        lambda d: list(d.values()),  # the old positional rows
        lambda d: None,
        lambda d: "RenderRequest",
    ],
)
def test_anything_but_the_expected_record_of_this_version_is_refused(mangle: Any) -> None:
    good = wire.dump(RenderRequest("/page/2/feed.xml", "d" * 16))
    assert wire.load(good, RenderRequest) is not None
    assert wire.load(mangle(good), RenderRequest) is None


def test_a_nested_item_with_a_field_more_or_less_is_refused() -> None:
    """What `Item(*row) ... len(row) == 7` could not do: an Item of another shape is no Item."""
    good = wire.dump(RenderAnswer(ITEM))
    longer = _with(good, item={**good["item"], "mtime": 1})
    shorter = _with(good, item={k: v for k, v in good["item"].items() if k != "digest"})
    mistyped = _with(good, item={**good["item"], "size": "2048"})
    boolean = _with(good, item={**good["item"], "size": True})
    assert [wire.load(d, RenderAnswer) for d in (longer, shorter, mistyped, boolean)] == [None] * 4


def test_a_status_with_a_bad_date_is_refused() -> None:
    good = wire.dump(BuilderStatus(1, "idle", last_scan=datetime(2026, 1, 1, tzinfo=UTC)))
    assert wire.load(_with(good, last_scan="yesterday"), BuilderStatus) is None
    assert wire.load(_with(good, extra=[]), BuilderStatus) is None
