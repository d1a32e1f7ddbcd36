from __future__ import annotations

from pathlib import Path

import pytest

from feeds.config import SETTINGS, load_config
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


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in readme]
    assert not missing, f"settings missing from README.md: {missing}"
