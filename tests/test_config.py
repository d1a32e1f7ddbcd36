from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from feeds.config import SETTINGS, SETTINGS_BY_NAME, load_config
from feeds.errors import ConfigError

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
