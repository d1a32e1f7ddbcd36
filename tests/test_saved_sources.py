"""Sources out of the builder's heap (issue 21): a saved good post's source is its file's, or its shard's.

The content index holds a post's source record only while it is unsaved or its file
is broken. A body is read back from the file (checked against the post's digest) or,
when the file changed since, from the shard it was saved in; a shard written again keeps
every entry's source; a post whose file breaks gets its last good source back from its
shard. A big scan carries no text back from the helper processes: the save reads it from
the files. The shards an edit writes are found without a pass over every file, and the
previous layout (32 shards) is read and written again in this one.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from isal import isal_zlib

from feeds.config import Config
from feeds.content.files import SourceFile
from feeds.content.frontmatter import split
from feeds.content.index import ContentIndex, Known
from feeds.content.post import Loaded
from feeds.fingerprint import code_digest, settings_digest
from feeds.service import jobs, rendering, state, statefile
from feeds.service.builder import Builder

from .builds import build, builder, record_calls, site_config, write_post
from .test_kept import break_post_file

EDITED = "2026-05-02-three-layers-of-idempotency.md"


def _saved(folder: Path) -> dict[str, Known]:
    """Every entry the shards in ``folder`` hold, sources included."""
    entries: dict[str, Known] = {}
    for path in sorted((folder / state.NAME).iterdir()):
        entries |= statefile.entries(statefile.loads(path.read_bytes()))
    return entries


def _text(known: Known) -> str:
    return isal_zlib.decompress(known.source_z).decode("utf-8")


def _good(index: ContentIndex) -> dict[str, Known]:
    return {rel: known for rel, known in index.state().items() if known.loaded.post is not None}


def _every_source_saved(made: Builder, content: Path) -> None:
    saved = _saved(made.state_dir)
    assert saved.keys() == made.index.state().keys()
    for rel, known in saved.items():
        if known.loaded.post is not None:
            assert _text(known) == (content / rel).read_text(encoding="utf-8"), rel


def test_a_saved_post_s_body_is_read_back_from_its_file_or_its_shard(config_file: Path, content: Path, tmp_path: Path) -> None:
    made = build(site_config(config_file, content), tmp_path / "snap")
    good = _good(made.index)
    assert good and all(not known.source_z for known in good.values()), "saved: no source held"
    post = good[EDITED].last_good
    assert post is not None
    body = split(EDITED, (content / EDITED).read_text(encoding="utf-8"))[1]
    assert made.index.body(post) == body  # from the file
    with (content / EDITED).open("a", encoding="utf-8") as file:
        file.write("\nAn edit the index has not seen yet.\n")
    assert made.index.body(post) == body  # from the shard it was saved in
    shutil.rmtree(made.state_dir / state.NAME)
    assert made.index.body(post) is None, "neither the file nor the saved state holds this version now"


def test_a_shard_written_again_keeps_the_sources_of_the_entries_that_did_not_change(
    config_file: Path, content: Path, tmp_path: Path
) -> None:
    neighbour = next(name for n in range(10_000) if state.shard_of(name := f"2026-01-01-neighbour-{n}.md") == state.shard_of(EDITED))
    write_post(content, neighbour, "Neighbour", date="2026-01-01")
    made = build(site_config(config_file, content), tmp_path / "snap")
    with (content / EDITED).open("a", encoding="utf-8") as file:
        file.write("\nOne more line.\n")
    assert made.rescan()
    assert (made.index.shards or {})[state.shard_of(EDITED)] == {EDITED, neighbour}
    _every_source_saved(made, content)
    assert not made.index.entries([EDITED])[EDITED].source_z, "saved: let go"


def test_an_index_saved_again_after_its_folder_went_takes_the_sources_from_the_files(
    config_file: Path, content: Path, tmp_path: Path
) -> None:
    made = build(site_config(config_file, content), tmp_path / "snap")
    shutil.rmtree(made.state_dir)
    made.index.forget_saved()
    assert state.save(made.state_dir, made.config, made.index)
    _every_source_saved(made, content)


def test_a_saved_post_whose_file_breaks_gets_its_last_good_source_back(config_file: Path, content: Path, tmp_path: Path) -> None:
    made = build(site_config(config_file, content), tmp_path / "snap")
    good = (content / EDITED).read_text(encoding="utf-8")
    break_post_file(content / EDITED)
    made.rescan()
    known = made.index.entries([EDITED])[EDITED]
    assert known.loaded.post is None and known.last_good is not None
    assert _text(known) == good, "the kept version's source, from the shard"
    assert _text(_saved(made.state_dir)[EDITED]) == good, "and saved with the broken entry"


def test_the_shards_follow_new_and_deleted_files_without_a_pass_over_every_file(
    config_file: Path, content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = site_config(config_file, content)
    made = build(config, tmp_path / "snap")
    write_post(content, "2026-06-01-new.md", "New", date="2026-06-01")
    (content / EDITED).unlink()
    passes = record_calls(monkeypatch, ContentIndex, "state")
    assert made.rescan()
    assert not passes, "an edit's save looks only at its shards"
    expected: dict[int, set[str]] = {}
    for rel in made.index.state():
        expected.setdefault(state.shard_of(rel), set()).add(rel)
    assert {shard: files for shard, files in (made.index.shards or {}).items() if files} == expected
    again = ContentIndex(config)
    state.restore(made.state_dir, config, again)
    assert again.state() == made.index.state() and again.unsaved() == set()


def test_an_index_saved_in_the_previous_layout_is_read_then_written_in_this_one(
    config_file: Path, content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = site_config(config_file, content)
    made = build(config, tmp_path / "snap")
    saved = _saved(made.state_dir)
    folder = tmp_path / "old" / "state" / state.NAME
    folder.mkdir(parents=True)
    settings, code = settings_digest(config), code_digest()
    for shard in range(state.LEGACY_SHARDS):
        entries = {rel: known for rel, known in saved.items() if state.shard_of(rel, state.LEGACY_SHARDS) == shard}
        (folder / f"{shard:02d}.state").write_bytes(statefile.dumps(settings, code, shard, entries))
    parsed = record_calls(monkeypatch, jobs, "load_files")
    again = builder(config, tmp_path / "old")
    assert again.index.state() == saved and again.index.unsaved() is None
    again.rescan()
    assert not parsed, "no file read again"
    assert {path.name for path in folder.iterdir()} == {state.shard_name(state.shard_of(rel)) for rel in saved}
    assert _saved(tmp_path / "old" / "state") == saved


def test_a_big_scan_carries_no_text_back_and_the_save_reads_it_from_the_files(
    config_file: Path, content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(rendering.START_POOL, "files", 2)  # (the sample site is small: every scan of 2 files or more is big)
    shipped: list[bool] = []
    loaded = jobs.load_files

    def load_files(files: Sequence[SourceFile], config: Config, sources: bool = True) -> list[Loaded]:
        results = loaded(files, config, sources)
        shipped.extend(bool(result.source_z or result.body or result.front) for result in results if result.post is not None)
        return results

    monkeypatch.setattr(jobs, "load_files", load_files)
    made = build(site_config(config_file, content), tmp_path / "snap")
    assert shipped and not any(shipped), "no text came back with the scan"
    _every_source_saved(made, content)


def test_a_shard_file_that_is_not_there_holds_nothing_and_its_files_are_read_again(
    config_file: Path, content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = site_config(config_file, content)
    made = build(config, tmp_path / "snap")
    (made.state_dir / state.NAME / state.shard_name(state.shard_of(EDITED))).unlink()  # (a first save cut short)
    parsed = record_calls(monkeypatch, jobs, "load_files")
    again = builder(config, tmp_path / "snap")
    lost = {rel for rel in made.index.state() if state.shard_of(rel) == state.shard_of(EDITED)}
    assert again.index.state() == {rel: known for rel, known in made.index.state().items() if rel not in lost}
    again.rescan()
    assert {file.rel for files in parsed for file in files} == lost, "only the files of the missing shard are read"
    assert again.index.state() == made.index.state()
