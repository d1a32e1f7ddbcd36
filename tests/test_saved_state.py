"""The saved content index is data, never code (issue 15.10), and kept posts survive a change of settings (15.9).

A shard that is not this format — a pickle planted to run code, damage, another version —
is set aside under another name and logged; the service starts afresh and serves. A broken
post's last good version is kept with its source record, and is made again under new
settings (a new site_url) after a restart.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pickle
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from feeds.config import load_config
from feeds.content.index import ContentIndex, Known
from feeds.content.post import Loaded
from feeds.models import Author, Enclosure, Post, Problem
from feeds.podcast import Episode, Transcript
from feeds.service import state, statefile

from .server import WsgiServer
from .test_kept import POST, TITLE, break_post, health, kept, settings, site, wait_everywhere, wait_for


def post(published: datetime, **fields: object) -> Post:
    values: dict[str, object] = {
        "source": "a.md",
        "id": "tag:x,2026:a",
        "slug": "a",
        "title": "A",
        "url": "https://x/a/",
        "link": "https://x/a/",
        "published": published,
        "updated": published,
        "body_digest": "0" * 64,
    }
    return Post(**(values | fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "published",
    [
        datetime(2026, 3, 29, 2, 30, tzinfo=ZoneInfo("Europe/Paris")),  # in the spring-forward gap: kept as written
        datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Paris")),  # the second 2:30
        datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        datetime(2026, 1, 1, tzinfo=UTC),
    ],
)
def test_a_saved_entry_is_the_very_record_that_was_saved(published: datetime) -> None:
    full = post(
        published,
        summary="S",
        tags=("Go", "Pub/Sub"),
        authors=(Author("Ada", "ada@x", "https://ada/"), Author("Bo")),
        image="https://x/i.png",
        enclosure=Enclosure("https://x/a.mp3", "audio/mpeg", 12),
        draft=True,
        reading_time=3,
        updated=published + timedelta(days=1),
        feed=False,
        language="de",
        section="notes",
        episode=Episode(
            duration=630,
            season=2,
            number=7,
            episode_type="bonus",
            explicit=True,
            transcripts=(Transcript("https://x/a.vtt", "text/vtt", "de", "captions"), Transcript("https://x/a.txt", "text/plain")),
            chapters="https://x/a.chapters.json",
        ),
    )
    assert full.episode is not None
    for record in (full, full.episode, full.episode.transcripts[0]):  # a field left at its default could be dropped unseen
        unset = [
            f.name for f in dataclasses.fields(record) if f.default is not dataclasses.MISSING and getattr(record, f.name) == f.default
        ]
        assert not unset, f"every field set: {type(record).__name__}.{unset}"
    history = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))
    entries = {
        "a.md": Known((10, 20, 30, history), Loaded(full, "", (Problem("a.md", 3, "w", "warning"),)), full, b"zz", 4, history),
        "b.md": Known((-1, -1, -1, None), Loaded(None, "", (Problem("b.md", 1, "broken"),)), full, b"zz", 4, None, published),
        "c.md": Known((1, 2, 3, None), Loaded(None), None),
    }
    restored = statefile.entries(statefile.loads(statefile.dumps("s", "c", 0, entries)))
    assert restored == entries
    for rel, known in entries.items():
        for saved, again in ((known.last_good, restored[rel].last_good), (known.loaded.post, restored[rel].loaded.post)):
            assert repr(saved) == repr(again) and (saved is None or saved.digest == again.digest), rel  # time zones too


@pytest.mark.parametrize(
    ("name", "planted"),
    [
        pytest.param(state.shard_name(7), lambda marker: pickle.dumps(Exploit(marker)), id="a pickle that runs code"),
        pytest.param(state.shard_name(7), lambda marker: statefile.HEADER + pickle.dumps(Exploit(marker)), id="a pickle after our header"),
        pytest.param(state.shard_name(7), lambda marker: statefile.HEADER + b"\x93\xa1s\xa1c\x00\x81\xa4a.md\x90", id="a wrong record"),
        pytest.param(state.shard_name(7), lambda marker: b"", id="an empty shard"),
        pytest.param("00.pickle", lambda marker: pickle.dumps(Exploit(marker)), id="an older version's pickle beside the shards"),
    ],
)
def test_a_state_that_is_not_ours_is_set_aside_and_never_run(
    tmp_path: Path, name: str, planted: object, caplog: pytest.LogCaptureFixture
) -> None:
    folder, marker = tmp_path / "state", tmp_path / "exploited"
    config = load_config(env={}, overrides={"content_dir": str(tmp_path), "site_url": "https://x"})
    index = ContentIndex(config)
    index.scan()
    assert state.save(folder, config, index)
    (folder / state.NAME / name).write_bytes(planted(marker))  # type: ignore[operator]
    again = ContentIndex(config)
    with caplog.at_level(logging.WARNING, logger="feeds"):
        state.restore(folder, config, again)
    assert not marker.exists(), "the planted pickle ran"
    assert again.unsaved() is None, "nothing restored: the next save writes every shard"
    (aside,) = folder.glob(f"{state.NAME}.unreadable-*")
    assert (aside / name).read_bytes() == planted(marker) and not (folder / state.NAME).exists()  # type: ignore[operator]
    assert [r.getMessage() for r in caplog.records] == ["state_set_aside"]
    assert state.save(folder, config, again) and os.listdir(folder / state.NAME) == [], "an empty index: no shard file"


class Exploit:
    """Unpickling this would create ``marker``: what anyone who can write the snapshot folder could plant."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_a_planted_pickle_does_not_run_in_the_production_server(tmp_path: Path) -> None:
    content, config = site(tmp_path)
    snapshot, marker = tmp_path / "snapshot", tmp_path / "exploited"
    pickle.loads(pickle.dumps(Exploit(tmp_path / "probe")))  # noqa: S301 - the payload is live: unpickled, it runs
    assert (tmp_path / "probe").exists()
    (snapshot / "state" / state.NAME).mkdir(parents=True)
    for shard in range(state.SHARDS):
        (snapshot / "state" / state.NAME / f"{shard:02d}.pickle").write_bytes(pickle.dumps(Exploit(marker)))
        (snapshot / "state" / state.NAME / state.shard_name(shard)).write_bytes(pickle.dumps(Exploit(marker)))
    server = WsgiServer("granian", content, config, workers=2, env=settings(snapshot))
    try:
        wait_for(lambda: health(server)["posts"] == 21, "the site to be served")
        assert not marker.exists(), "the planted pickle ran"
        assert [line for line in server.log.read_text().splitlines() if " event=state_set_aside " in line]
        assert list((snapshot / "state").glob(f"{state.NAME}.unreadable-*"))
        index = snapshot / "state" / state.NAME
        wait_for(lambda: index.is_dir() and any(path.suffix == state.SUFFIX for path in index.iterdir()), "the index saved afresh")
    finally:
        server.stop()
    assert not marker.exists()


def test_a_kept_post_survives_a_change_of_settings_under_the_new_site_url(tmp_path: Path) -> None:
    content, config = site(tmp_path)
    snapshot = tmp_path / "snapshot"
    server = WsgiServer("granian", content, config, workers=2, env=settings(snapshot), site_url="http://old.example")
    try:
        break_post(content)
        wait_everywhere(lambda: bool(kept(server)), "the broken post to be kept")
        since = kept(server)[0]["since"]
    finally:
        server.stop()

    moved = settings(snapshot) | {"FEEDS_ITEMS_PER_FEED": "5"}
    server = WsgiServer("granian", content, config, workers=2, env=moved, site_url="http://new.example")
    try:

        def moved_over() -> bool:
            feed = json.loads(server.request("/feed.json").body)
            return str(feed["home_page_url"]).startswith("http://new.example/")

        wait_everywhere(moved_over, "the site to be published under the new site_url")
        assert [(k["path"], k["title"], k["since"]) for k in kept(server)] == [(POST, TITLE, since)]
        (item,) = [i for i in _all_items(server) if i["title"] == TITLE]  # on page 2 now (5 posts a page)
        assert str(item["url"]).startswith("http://new.example/posts/"), item["url"]
    finally:
        server.stop()


def _all_items(server: WsgiServer) -> list[dict[str, object]]:
    """Every item of the overall JSON Feed, following next_url."""
    items, path = [], "/feed.json"
    while path:
        feed = json.loads(server.request(path).body)
        items += feed["items"]
        path = str(feed.get("next_url", "")).removeprefix("http://new.example")
    return items


def test_a_damaged_source_record_only_loses_its_kept_post(tmp_path: Path) -> None:
    config = load_config(env={}, overrides={"content_dir": str(tmp_path), "site_url": "https://x"})
    good = post(datetime(2026, 1, 1, tzinfo=UTC))
    broken = Loaded(None, "", (Problem("a.md", 1, "broken"),))
    index = ContentIndex(config)
    index.restore({"a.md": Known((1, 2, 3, None), broken, good, b"not zlib", 4)}, fresh=True)
    assert index.state() == {} and index.unsaved() is None
