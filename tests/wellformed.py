"""Assertions that a feed body is well-formed: XML parses, feedparser is happy, JSON Feed is schema-valid."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import feedparser
import jsonschema
from lxml import etree

SCHEMA = Path(__file__).resolve().parent / "data" / "jsonfeed-1.1.schema.json"


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def assert_xml_feed(data: bytes, where: str = "") -> Any:
    """Parse ``data`` strictly (no recovery) and with feedparser; return feedparser's result."""
    etree.fromstring(data, etree.XMLParser(recover=False, resolve_entities=False))
    parsed = feedparser.parse(data)
    assert not parsed.bozo, f"{where}: feedparser bozo: {parsed.get('bozo_exception')!r}"
    return parsed


def assert_json_feed(data: bytes, where: str = "") -> dict[str, Any]:
    """Decode ``data`` as UTF-8 JSON and validate it against the JSON Feed 1.1 schema."""
    document = json.loads(data.decode("utf-8"))
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.path))
    assert not errors, f"{where}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    return dict(document)


def titles(filename: str, data: bytes, where: str = "") -> list[str]:
    """Validate a feed body by its file name and return its item titles."""
    if filename.endswith(".json"):
        return [item.get("title", "") for item in assert_json_feed(data, where)["items"]]
    return [entry.get("title", "") for entry in assert_xml_feed(data, where).entries]
