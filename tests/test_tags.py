from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feeds.content.tags import index_tags, slugify
from feeds.models import Post


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Pub/Sub", "pub-sub"),
        ("SOC 2", "soc-2"),
        ("ISO 27001", "iso-27001"),
        ("Open Source", "open-source"),
        ("gRPC", "grpc"),
        ("Distributed Systems", "distributed-systems"),
        ("AWS", "aws"),
        ("  Spaced  Out  ", "spaced-out"),
        ("Ünïcode", "ünïcode"),
    ],
)
def test_slugs(name: str, slug: str) -> None:
    assert slugify(name) == slug


def _post(source: str, *tags: str) -> Post:
    when = datetime(2026, 5, 1, tzinfo=UTC)
    return Post(source, f"id-{source}", source, "T", "u", "u", when, when, "", tags=tags)


def test_spellings_that_differ_in_case_or_punctuation_merge_under_the_most_used() -> None:
    index = index_tags([_post("a", "Pub/Sub"), _post("b", "pub-sub"), _post("c", "Pub/Sub"), _post("d", "PUB SUB")])
    assert [(t.slug, t.name) for t in index.tags] == [("pub-sub", "Pub/Sub")]
    assert not index.problems


def test_colliding_slugs_are_resolved_stably_and_reported() -> None:
    index = index_tags([_post("a", "C"), _post("b", "C++"), _post("c", "C#")])
    slugs = {t.name: t.slug for t in index.tags}
    assert slugs["C"] == "c"
    assert slugs["C++"].startswith("c-") and slugs["C#"].startswith("c-")
    assert len(set(slugs.values())) == 3
    assert len(index.problems) == 2
    again = index_tags([_post("z", "C#"), _post("y", "C++"), _post("x", "C")])
    assert {t.name: t.slug for t in again.tags} == slugs


def test_empty_slug_gets_a_stable_name_and_a_warning() -> None:
    index = index_tags([_post("a", "+++")])
    assert index.tags[0].slug.startswith("tag-")
    assert index.problems[0].severity == "warning"
