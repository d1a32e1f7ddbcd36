"""Podcast settings, episode front matter, the media folder and ``feeds check``'s podcast rules."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask

from feeds import limits
from feeds.config import load_config
from feeds.content import index as index_module
from feeds.content.files import discover
from feeds.content.media import MediaIndex, fill_lengths, media_type
from feeds.content.podcast_check import image_size
from feeds.errors import ConfigError
from feeds.podcast import CATEGORIES, Show, as_show, show_guid
from feeds.web.app import stop

from . import itunescheck
from .conftest import ROOT, SAMPLE, SITE_CONFIG

MEDIA = SAMPLE / "media"
GOOD = {
    "category": "Society & Culture > Documentary",
    "explicit": False,
    "owner": {"name": "Ann", "email": "ann@example.com"},
    "image": "/media/cover.png",
    "funding": [{"url": "https://example.com/give", "text": "Give"}],
}


def config_error(podcast: object) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(env={}, overrides={"podcast": podcast})
    return caught.value


def test_a_podcast_table_is_read_into_a_show() -> None:
    show = load_config(env={}, overrides={"podcast": GOOD}).podcast
    assert show == as_show(GOOD)
    assert isinstance(show, Show) and show.category == ("Society & Culture", "Documentary") and show.type == "episodic"
    assert load_config(env={}).podcast is None
    from_env = load_config(env={"FEEDS_PODCAST": json.dumps(GOOD)}).podcast
    assert from_env == show


@pytest.mark.parametrize(
    ("value", "key", "message"),
    [
        ({"category": "Tech"}, "podcast.category", "not an Apple Podcasts category"),
        ({"category": "technology"}, "podcast.category", "did you mean 'Technology'"),
        ({"category": "Arts > Physics"}, "podcast.category", "not a sub-category of Arts (its sub-categories: Books"),
        ({"category": ["Technology", "Gadgets"]}, "podcast.category", "it has no sub-categories"),
        ({"explicit": "maybe"}, "podcast.explicit", "expected true or false"),
        ({"owner": {"email": "nobody"}}, "podcast.owner.email", "not an email address"),
        ({"owner": {"mail": "a@b.c"}}, "podcast.owner.mail", "unknown field"),
        ({"image": "cover.png"}, "podcast.image", "absolute http(s) URL or a site path"),
        ({"type": "weekly"}, "podcast.type", "expected one of episodic, serial"),
        ({"funding": {"url": "https://x.example/", "text": "x" * 129}}, "podcast.funding.text", "at most 128"),
        ({"funding": [{"url": "https://x.example/"}]}, "podcast.funding[0].text", "missing"),
        ({"guid": "not-a-uuid"}, "podcast.guid", "expected a UUID"),
        ({"new_feed_url": "/feed.xml"}, "podcast.new_feed_url", "absolute http(s) URL"),
        ({"categroy": "Technology"}, "podcast.categroy", "unknown podcast setting"),
    ],
)
def test_a_bad_value_names_its_key(value: dict[str, object], key: str, message: str) -> None:
    error = config_error(value)
    assert error.key == key and message in str(error), str(error)
    assert len(str(error)) < 300  # a long value is not echoed whole


def test_a_section_or_a_tag_is_its_own_show_and_a_tag_has_its_own_feed_options(tmp_path: Path) -> None:
    file = tmp_path / "feeds.toml"
    file.write_text(
        """
items_per_feed = 20
[tag_feeds]
items_per_feed = 10
feed_content = "summary"
[tags.interviews]
items_per_feed = 500
[tags.interviews.podcast]
category = "News"
[sections.talks.podcast]
[podcast]
category = "Technology"
""",
        encoding="utf-8",
    )
    config = load_config(file, env={})
    assert config.show("site") == config.podcast and config.podcast is not None and config.podcast.category == ("Technology",)
    assert config.show("section", "talks") == Show()  # an empty table: a show with every default (feeds check lists the rest)
    tag_show = config.show("tag", "interviews")
    assert tag_show is not None and tag_show.category == ("News",)
    assert config.show("tag", "other") is None and config.show("author", "interviews") is None and config.show("section", "x") is None
    assert [(kind, slug) for kind, slug, _ in config.shows()] == [("site", ""), ("section", "talks"), ("tag", "interviews")]
    # One tag's options over [tag_feeds], over the site's; every other tag keeps [tag_feeds].
    assert (config.options("tag", "interviews").items_per_feed, config.options("tag", "interviews").feed_content) == (500, "summary")
    assert config.options("tag", "other").items_per_feed == 10
    assert config.summary()["podcast"] == "podcast,sections.talks.podcast,tags.interviews.podcast"
    from_env = load_config(env={"FEEDS_TAGS": json.dumps({"interviews": {"podcast": {"category": "News"}}})})
    assert from_env.show("tag", "interviews") == tag_show


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ('[sections.talks.podcast]\nowner = { email = "nobody" }\n', "sections.talks.podcast.owner.email", "not an email address"),
        ('[tags.interviews.podcast]\ncategory = "Tech"\n', "tags.interviews.podcast.category", "not an Apple Podcasts category"),
        ("[tags.interviews]\nitems_per_feed = 0\n", "tags.interviews.items_per_feed", "from 1 to 1000"),
        ("[tags.interviews]\ntitle = 'Interviews'\n", "tags.interviews.title", "unknown setting"),
        ("[tags.interviews]\npodcast = 'yes'\n", "tags.interviews.podcast", "expected a table"),
        ('[tags."a b"]\nitems_per_feed = 5\n', "tags.a b", "named by its slug"),
    ],
)
def test_a_bad_show_or_tag_table_names_its_full_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    file = tmp_path / "feeds.toml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(file, env={})
    assert caught.value.key == key and message in str(caught.value), str(caught.value)


def test_apple_categories_agree_with_the_validators_list() -> None:
    ours = {main: set(subs) for main, subs in CATEGORIES.items()}
    validator = {main: set(subs) for main, subs in itunescheck.VALIDATOR_CATEGORIES.items()}
    # Apple lists "Religion" under Religion & Spirituality; the validator's copy of the list lacks it.
    assert ours == validator | {"Religion & Spirituality": validator["Religion & Spirituality"] | {"Religion"}}


def test_show_guid_is_the_namespaces_uuidv5_of_the_feed_url() -> None:
    """The two examples of docs/tags/guid.md, given with and without their scheme and trailing slash."""
    assert show_guid("https://mp3s.nashownotes.com/pc20rss.xml") == "917393e3-1b1e-5cef-ace4-edaa54e1f810"
    assert show_guid("http://podnews.net/rss/") == "9b024349-ccf0-5f69-a609-6b82873eab3c"


def _post(content: Path, name: str, front: str) -> Path:
    path = content / name
    path.write_text(f"---\ntitle: T\ndate: 2026-01-02\n{front}---\nBody.\n", encoding="utf-8")
    return path


def _check(content: Path, config: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "feeds", "check", "--content", str(content), "--config", str(config)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.fixture
def show_copy(tmp_path: Path) -> tuple[Path, Path]:
    """The sample content and the tests' settings, on an https site (podcast apps ask for https enclosures)."""
    shutil.copytree(SAMPLE, tmp_path / "content")
    (tmp_path / "feeds.toml").write_text(SITE_CONFIG.replace("http://127.0.0.1:8000", "https://tones.example"), encoding="utf-8")
    return tmp_path / "content", tmp_path / "feeds.toml"


def test_feeds_check_passes_the_sample_show(show_copy: tuple[Path, Path]) -> None:
    result = _check(*show_copy)
    assert result.returncode == 0 and result.stdout == "", result.stdout
    assert "0 errors, 0 warnings" in result.stderr


def test_feeds_check_reports_what_apple_would_refuse(show_copy: tuple[Path, Path]) -> None:
    content, config = show_copy
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("explicit = false\n", "").replace('image = "/media/cover.png"', 'image = "/media/small.png"'))
    (content / "media" / "small.png").write_bytes(_png(600, 600))
    show = content / "podcast"
    _post(show, "no-length.md", "enclosure: {url: 'https://cdn.example.com/x.mp3', type: audio/mpeg}\nduration: 5\n")
    _post(show, "missing.md", "enclosure: {url: /media/gone.mp3, type: audio/mpeg}\nduration: 5\n")
    _post(show, "again.md", "enclosure: {url: /media/episode-1.mp3, type: audio/mpeg}\n")  # dated before episode 1
    _post(show, "wrong-length.md", "enclosure: {url: /media/episode-2.mp3, type: audio/mpeg, length: 5}\nduration: 5\n")
    _post(show, "insecure.md", "enclosure: {url: 'http://cdn.example.com/y.mp3', type: audio/mpeg, length: 9}\nduration: 5\n")
    _post(content, "elsewhere.md", "enclosure: {url: 'https://cdn.example.com/z.mp3', type: audio/mpeg}\n")  # in no show
    result = _check(content, config)
    assert result.returncode == 1
    key = f"{config}:1: sections.podcast.podcast"
    expected = [
        f"{key}.explicit: missing",
        f"{key}.image: /media/small.png is 600×600 px; Apple Podcasts requires a square of 1400-3000 px",
        "podcast/no-length.md:1: enclosure: no length",
        "podcast/missing.md:1: enclosure: /media/gone.mp3 is not a file of the media folder",
        "podcast/2026-03-02-three-tones.md:1: enclosure: the same URL as podcast/again.md",  # the later use is the one Apple ignores
        "podcast/again.md:1: warning: duration: missing",
        "podcast/2026-03-09-two-tones.md:1: enclosure: the same URL as podcast/wrong-length.md",
        "podcast/wrong-length.md:1: enclosure: length 5 is not the file's size (7992 bytes)",
        "podcast/insecure.md:1: warning: enclosure: not an https URL",
    ]
    for line in expected:
        assert any(reported.startswith(line) for reported in result.stdout.splitlines()), (line, result.stdout)
    assert "elsewhere.md" not in result.stdout  # a post in no show is no episode: no show rule applies to it


def test_feeds_check_reports_each_show_under_its_own_key(show_copy: tuple[Path, Path]) -> None:
    content, config = show_copy
    with config.open("a", encoding="utf-8") as f:
        f.write('\n[tags.tones.podcast]\ntype = "serial"\n\n[tags.nothing-here.podcast]\ncategory = "History"\n')
    result = _check(content, config)
    assert result.returncode == 1
    expected = [
        f"{config}:1: tags.tones.podcast.category: missing",
        f"{config}:1: tags.tones.podcast.owner.email: missing",
        "podcast/2026-03-16-a-falling-scale.md:1: episode: missing; a serial show needs a number for each episode",
        f"{config}:1: warning: tags.nothing-here.podcast: no tag 'nothing-here' with posts in feeds; this show has no feed",
    ]
    for line in expected:
        assert any(reported.startswith(line) for reported in result.stdout.splitlines()), (line, result.stdout)
    assert "sections.podcast.podcast" not in result.stdout  # the section's show is still complete


def test_episode_fields_are_read_and_bad_ones_name_field_and_line(tmp_path: Path) -> None:
    from feeds.content.files import discover
    from feeds.content.post import load

    content = tmp_path / "content"
    content.mkdir()
    _post(
        content,
        "a.md",
        "enclosure: {url: /media/a.mp3, type: audio/mpeg}\nduration: '1:02:03'\nseason: 2\nepisode: 7\n"
        "episode_type: Trailer\nexplicit: true\ntranscript: /media/a.vtt\nchapters: /media/a.chapters.json\n",
    )
    _post(content, "b.md", "enclosure: {url: /media/b.mp3, type: audio/mpeg}\nseason: 0\n")
    _post(content, "c.md", "duration: 60\n")
    _post(content, "d.md", "enclosure: {url: /media/d.mp3, type: audio/mpeg}\ntranscript: {url: /media/d.doc}\n")
    config = load_config(env={}, overrides={"content_dir": str(content), "site_url": "https://x.example"})
    loaded = {file.rel: load(file, config) for file in discover(content).files}
    episode = loaded["a.md"].post.episode  # type: ignore[union-attr]
    assert episode is not None and (episode.duration, episode.season, episode.number, episode.episode_type) == (3723, 2, 7, "trailer")
    assert episode.explicit is True and episode.chapters == "https://x.example/media/a.chapters.json"
    assert [(t.url, t.type) for t in episode.transcripts] == [("https://x.example/media/a.vtt", "text/vtt")]
    assert [str(p) for p in loaded["b.md"].problems] == ["b.md:5: season: expected a whole number from 1, got 0"]
    assert [str(p) for p in loaded["c.md"].problems] == [
        "c.md:4: warning: duration: podcast fields need an audio or video enclosure; podcast apps will not list this post"
    ]
    assert "transcript: type must be one of text/plain" in str(loaded["d.md"].problems[0])


def test_the_media_folder_index_hashes_each_version_once_and_fills_lengths(tmp_path: Path) -> None:
    content = tmp_path / "content"
    media_folder = content / "media"
    (media_folder / "deep").mkdir(parents=True)
    (media_folder / "a.mp3").write_bytes(b"x" * 100)
    (media_folder / "deep" / "b.chapters.json").write_text("{}", encoding="utf-8")
    (media_folder / ".hidden.mp3").write_bytes(b"h")
    (media_folder / "_draft.mp3").write_bytes(b"d")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret", encoding="utf-8")
    (media_folder / "link.txt").symlink_to(outside)
    index = MediaIndex()
    media, changed = index.scan(content)
    assert changed and sorted(media.files) == ["a.mp3", "deep/b.chapters.json"]
    assert media.files["deep/b.chapters.json"].media_type == "application/json+chapters"
    assert [str(p) for p in media.problems] == ["media/link.txt:1: symlink points outside the media folder; not served"]
    assert index.scan(content) == (media, False)  # nothing changed, nothing read again
    index.save(tmp_path / "media.json")
    again = MediaIndex()
    again.load(tmp_path / "media.json")
    (media_folder / "a.mp3").unlink()  # … and the saved hash of a file that is gone is not used
    assert sorted(again.scan(content)[0].files) == ["deep/b.chapters.json"]

    from feeds.models import Enclosure, Post

    post = Post(
        "p.md", "id", "p", "P", "u", "u", _when(), _when(), "d", enclosure=Enclosure("https://x.example/media/a.mp3", "audio/mpeg", 0)
    )
    (filled,) = fill_lengths([post], media, "https://x.example")
    assert filled.enclosure is not None and filled.enclosure.length == 100
    assert media_type("x.M4A") == "audio/x-m4a" and media_type("x.bin") == "application/octet-stream"


def test_media_limits_leave_the_rest_out_and_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    for n in range(4):
        (folder / f"{n}.mp3").write_bytes(b"x" * (10 + n))
    monkeypatch.setattr(limits, "MAX_MEDIA_FILES", 2)
    monkeypatch.setattr(limits, "MAX_MEDIA_FILE_SIZE", 12)
    media, _ = MediaIndex().scan(tmp_path)
    assert sorted(media.files) == ["0.mp3", "1.mp3"]
    assert [str(p) for p in media.problems] == [
        "media/2.mp3:1: more than 2 media files; the rest are not served",
        "media/3.mp3:1: file is 13 bytes, over 12; not served",
    ]


def test_image_size_reads_png_and_jpeg_headers(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(_png(1400, 1400))
    jpeg = b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0" + b"\0" * 9 + b"\xff\xc0" + struct.pack(">HBHH", 11, 8, 2000, 3000)
    (tmp_path / "b.jpg").write_bytes(jpeg + b"\0" * 10)
    (tmp_path / "c.gif").write_bytes(b"GIF89a")
    assert image_size(tmp_path / "a.png") == (1400, 1400)
    assert image_size(tmp_path / "b.jpg") == (3000, 2000)
    assert image_size(tmp_path / "c.gif") is None
    assert image_size(MEDIA / "cover.png") == (1400, 1400)


def test_a_file_changed_since_the_scan_is_served_without_validators(make_app: Callable[..., Flask], content: Path) -> None:
    media_folder = content / "media"  # the sample's, which holds the show's files
    (media_folder / "a.mp3").write_bytes(b"a" * 1000)
    client = make_app().test_client()
    first = client.get("/media/a.mp3", headers={"Range": "bytes=0-9"})
    assert first.status_code == 206 and first.headers["ETag"] and first.data == b"a" * 10
    (media_folder / "a.mp3").write_bytes(b"b" * 2000)  # replaced in place; the builder has not scanned since
    later = client.get("/media/a.mp3")
    assert later.status_code == 200 and later.data == b"b" * 2000
    assert "ETag" not in later.headers and "Last-Modified" not in later.headers and later.headers["Cache-Control"] == "no-cache"
    assert client.get("/media/a.mp3", headers={"Range": "bytes=0-9", "If-Range": first.headers["ETag"]}).status_code == 200


def test_markdown_in_the_media_folder_is_served_as_a_file_never_read_as_a_post(make_app: Callable[..., Flask], content: Path) -> None:
    notes = "---\ntitle: Show notes\ndate: 2026-01-05\n---\nLinks for episode 1.\n"
    (content / "media" / "episode-1-notes.md").write_text(notes, encoding="utf-8")
    (content / "blog" / "media").mkdir(parents=True)  # a folder named media deeper down is an ordinary folder of posts
    (content / "blog" / "media" / "on-media.md").write_text(notes.replace("Show notes", "On media"), encoding="utf-8")
    listing = discover(content)
    rels = {file.rel for file in listing.files}
    assert "blog/media/on-media.md" in rels and not any(rel.startswith("media/") for rel in rels)
    assert not listing.problems
    client = make_app().test_client()
    served = client.get("/media/episode-1-notes.md")
    assert served.status_code == 200 and served.data == notes.encode() and served.mimetype == "text/markdown"
    titles = {item["title"] for item in client.get("/feed.json").get_json()["items"]}
    assert "On media" in titles and "Show notes" not in titles  # the same front matter outside media/ is a post


def test_a_restart_keeps_every_episode_field_from_the_saved_index(
    make_app: Callable[..., Flask], content: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Post.episode is in the saved content index (feeds/service/statefile.py): after a restart that reads no file
    again, the rebuilt show is byte for byte what it was, podcast tags and all (a field the record dropped would be gone)."""
    snapshot = content.parent / "one-snapshot"
    first = make_app(snapshot_dir=str(snapshot))
    before = first.test_client().get("/sections/podcast/feed.xml").data
    assert b"<itunes:duration>10</itunes:duration>" in before and b"<podcast:chapters " in before
    stop(first)

    def read_again(*args: object) -> None:
        raise AssertionError("a file was read again: the restart did not restore the saved index")

    monkeypatch.setattr(index_module, "load", read_again)
    second = make_app(snapshot_dir=str(snapshot))
    builder = second.extensions["feeds"].builder
    builder.rescan(force=True)  # planned again from the restored records alone: a lost field would make new bytes
    assert builder.error is None  # (reading a file again would have failed the scan)
    assert second.test_client().get("/sections/podcast/feed.xml").data == before


def test_a_snapshot_copied_to_another_folder_serves_its_media_from_there_and_renders_nothing(
    make_app: Callable[..., Flask], content: Path, tmp_path: Path
) -> None:
    """The manifest names where this host's media files are; a copy elsewhere is published again pointing there."""
    first = make_app(snapshot_dir=str(tmp_path / "here"))
    published = first.extensions["feeds"].current
    etag = first.test_client().get("/media/episode-1.mp3").headers["ETag"]
    stop(first)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(content, elsewhere / "content")
    shutil.copytree(tmp_path / "here", elsewhere / "snapshot", symlinks=True)
    shutil.rmtree(content / "media")  # the first folder's files are gone: only the copies can be served
    second = make_app(content_dir=str(elsewhere / "content"), snapshot_dir=str(elsewhere / "snapshot"))
    runtime = second.extensions["feeds"]
    runtime.builder.rescan()
    current = runtime.current
    assert current.media_root == str((elsewhere / "content" / "media").resolve())
    assert (current.version, current.items) == (published.version, published.items)  # every document as it was
    served = second.test_client().get("/media/episode-1.mp3")
    assert served.status_code == 200 and served.headers["ETag"] == etag


def test_the_sample_show_media_are_what_the_script_makes(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make-sample-show.py"), str(tmp_path)], check=True, capture_output=True, timeout=120
    )
    for name in ("episode-1.mp3", "episode-2.mp3", "episode-3.mp3"):
        assert (tmp_path / name).read_bytes() == (MEDIA / name).read_bytes(), name
    frames = (MEDIA / "episode-1.mp3").read_bytes()
    assert len(frames) % 36 == 0 and all(frames[i : i + 4] == b"\xff\xf3\x18\xc0" for i in range(0, len(frames), 36))


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = (b"\0" + b"\0\0\0" * width) * height
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _when() -> datetime:
    return datetime(2026, 1, 2, tzinfo=UTC)
