from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from feeds.config import Config, load_config
from feeds.errors import ConfigError
from feeds.settings import SETTINGS, SETTINGS_BY_NAME

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config.site_url == "http://127.0.0.1:8000"
    assert config.language == "en"
    assert config.items_per_feed == 20
    assert config.scan_interval == 60
    assert str(config.timezone) == "UTC"
    assert config.permalink == "/posts/{slug}/"


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    file = tmp_path / "feeds.toml"
    file.write_text('title = "From file"\nitems_per_feed = 5\nscan_interval = 30\n')
    config = load_config(file, env={"FEEDS_ITEMS_PER_FEED": "7", "FEEDS_SITE_URL": "https://example.com/"}, overrides={"scan_interval": 2})
    assert config.title == "From file"
    assert config.items_per_feed == 7
    assert config.site_url == "https://example.com"
    assert config.scan_interval == 2


def test_feeds_config_variable_names_the_file(tmp_path: Path) -> None:
    file = tmp_path / "other.toml"
    file.write_text('title = "Other"\n')
    assert load_config(env={"FEEDS_CONFIG": str(file)}).title == "Other"


def test_author_from_table_and_from_environment(tmp_path: Path) -> None:
    file = tmp_path / "feeds.toml"
    file.write_text('[author]\nname = "Ada"\nemail = "ada@example.com"\n')
    assert load_config(file, env={}).author.email == "ada@example.com"
    assert load_config(file, env={"FEEDS_AUTHOR": "Grace"}).author.name == "Grace"
    assert load_config(file, env={"FEEDS_AUTHOR": '{"name": "G", "url": "https://g.example"}'}).author.url == "https://g.example"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("site_url", "not a url"),
        ("site_url", "ftp://example.com"),
        ("language", "en_US"),
        ("timezone", "Mars/Olympus"),
        ("items_per_feed", "0"),
        ("items_per_feed", "many"),
        ("scan_interval", "-5"),
        ("permalink", "/posts/"),
        ("websub_hubs", "not-a-url"),
        ("log_format", "xml"),
    ],
)
def test_bad_value_names_the_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(env={f"FEEDS_{key.upper()}": value})
    assert error.value.key == key
    assert key in str(error.value)


def test_unknown_key_in_file_is_an_error(tmp_path: Path) -> None:
    file = tmp_path / "feeds.toml"
    file.write_text('titel = "typo"\n')
    with pytest.raises(ConfigError, match="titel"):
        load_config(file, env={})


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    file = tmp_path / "feeds.toml"
    file.write_text("title = \n")
    with pytest.raises(ConfigError, match="feeds.toml"):
        load_config(file, env={})


def docs_hooks() -> ModuleType:
    """Load docs/hooks.py, which writes the manual's settings reference (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_rows(markdown: str) -> dict[str, list[str]]:
    """The rows of the Markdown tables in ``markdown`` whose first cell is a `key`, by key."""
    rows = {}
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if cells and re.fullmatch(r"`[a-z_]+`", cells[0]):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_the_settings_reference_lists_every_setting_with_its_default_and_help() -> None:
    hooks = docs_hooks()
    rows = table_rows(hooks.settings_reference())
    assert list(rows) == [s.name for s in SETTINGS]
    for setting in SETTINGS:
        variable, default, help_text = rows[setting.name]
        assert variable == f"`FEEDS_{setting.name.upper()}`"
        assert default == hooks.format_default(setting.default)
        assert help_text, f"setting {setting.name} has no help text"
    # The build puts the table where the page has its marker (and fails if the marker is gone).
    page = (ROOT / "docs" / hooks.PAGE).read_text(encoding="utf-8")
    assert page.count(hooks.MARKER) == 1


def test_the_readme_main_settings_are_real_settings_with_their_real_defaults() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Main settings") :]
    section = section[: section.index("\n## ", 1)]
    rows = table_rows(section)
    assert len(rows) >= 8, "the README lists the main settings"
    format_default = docs_hooks().format_default
    for name, (default, help_text) in rows.items():
        assert name in SETTINGS_BY_NAME, f"README.md names a setting that does not exist: {name}"
        assert default == format_default(SETTINGS_BY_NAME[name].default), f"README.md: wrong default for {name}"
        assert help_text
    assert "(docs/configuration.md)" in section, "the README links to the full reference"


def _load_toml(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Config:
    file = tmp_path / "feeds.toml"
    file.write_text(text, encoding="utf-8")
    return load_config(file, env=env or {})


def test_scope_options_sections_and_redirects_as_tables(tmp_path: Path) -> None:
    config = _load_toml(
        tmp_path,
        'items_per_feed = 20\nfeed_content = "full"\n[tag_feeds]\nitems_per_feed = 10\nfeed_content = "summary"\n'
        '[author_feeds]\nitems_per_feed = 5\n[sections.notes]\ntitle = "Notes"\nfeed_content = "summary"\nsite_feeds = false\n'
        '[redirects]\n"/old/feed.xml" = "/feed.xml"\n"/tags/retired/feed.xml" = "gone"\n',
    )
    assert config.options("site").items_per_feed == 20 and config.options("site").feed_content == "full"
    assert (config.options("tag").items_per_feed, config.options("tag").feed_content) == (10, "summary")
    assert (config.options("author").items_per_feed, config.options("author").feed_content) == (5, "full")
    assert (config.options("section", "notes").items_per_feed, config.options("section", "notes").feed_content) == (20, "summary")
    assert config.options("section", "essays") == config.options("site")
    notes = config.section("notes")
    assert notes is not None and notes.title == "Notes" and notes.site_feeds is False
    assert {(r.source, r.target) for r in config.redirects} == {("/old/feed.xml", "/feed.xml"), ("/tags/retired/feed.xml", None)}


def test_tables_from_the_environment_are_json(tmp_path: Path) -> None:
    config = _load_toml(tmp_path, "", env={"FEEDS_TAG_FEEDS": '{"feed_content": "summary"}', "FEEDS_REDIRECTS": '{"/a.xml": "gone"}'})
    assert config.options("tag").feed_content == "summary" and config.redirects[0].gone


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("[sections.notes]\nitems_per_feed = 0\n", "sections.notes.items_per_feed", "from 1 to 1000"),
        ('[sections.notes]\nfeed_content = "body"\n', "sections.notes.feed_content", "full, summary"),
        ("[sections.notes]\nsite_feed = false\n", "sections.notes.site_feed", "unknown setting"),
        ('[tag_feeds]\nitems_per_feed = "many"\n', "tag_feeds.items_per_feed", "whole number"),
        ('feed_content = "excerpt"\n', "feed_content", "full, summary"),
        ('[redirects]\n"/a.xml" = "/b.xml"\n"/b.xml" = "/a.xml"\n', "redirects", "redirect loop: /a.xml -> /b.xml -> /a.xml"),
        ('[redirects]\n"old.xml" = "/feed.xml"\n', "redirects", "clean site path"),
        ('[redirects]\n"/old.xml" = "ftp://x/feed.xml"\n', "redirects", "absolute http(s) URL"),
        ('permalink = "http://127.0.0.1:8000/p/{slug}/"\n', "permalink", "write it as a path"),
        ('permalink = "blog/{slug}"\n', "permalink", "path starting with '/' or an absolute"),
    ],
)
def test_a_bad_table_value_names_its_full_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _load_toml(tmp_path, text)
    assert raised.value.key.startswith(key) and message in str(raised.value)


def test_an_absolute_permalink_on_another_host_is_accepted(tmp_path: Path) -> None:
    config = _load_toml(tmp_path, 'permalink = "https://blog.example.com/{year}/{slug}/"\n')
    assert config.permalink == "https://blog.example.com/{year}/{slug}/" and not config.post_pages
