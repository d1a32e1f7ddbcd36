"""One root, each stage's errors in one module, every one listed in the manual and whole after a trip through pickle."""

from __future__ import annotations

import importlib
import pickle
import pkgutil
from pathlib import Path

import pytest

import feeds
from feeds.errors import FeedsError

ROOT = Path(__file__).resolve().parent.parent
#: The one module of each stage that defines errors.
HOMES = (
    "feeds.errors",
    "feeds.content.errors",
    "feeds.snapshot.errors",
    "feeds.db.errors",
    "feeds.fediverse.errors",
    "feeds.service.errors",
)


def every_error() -> set[type[BaseException]]:
    """Every FeedsError subclass defined anywhere in the package (every module imported first)."""
    for module in pkgutil.walk_packages(feeds.__path__, "feeds."):
        if module.name != "feeds.__main__":  # runs the command line
            importlib.import_module(module.name)
    found: set[type[BaseException]] = set()
    todo: list[type[BaseException]] = [FeedsError]
    while todo:
        error = todo.pop()
        found.add(error)
        todo.extend(error.__subclasses__())
    return {error for error in found if error.__module__.startswith("feeds")}


def test_every_error_lives_in_its_stages_errors_module() -> None:
    errors = every_error()
    assert len(errors) >= 10
    assert {e.__qualname__: e.__module__ for e in errors if e.__module__ not in HOMES} == {}


def test_every_error_is_listed_in_the_manual() -> None:
    page = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    assert sorted(e.__name__ for e in every_error() if f"`{e.__name__}`" not in page) == []
    assert all(f"`{home.replace('.', '/')}.py`" in page for home in HOMES)


EXAMPLES = {
    "ConfigError": ("scan_interval", "must be at least 1"),
    "StorageError": ("/srv/snap/objects/ab/cd", "cannot write a body: No space left on device", "No space left on device"),
    "SnapshotError": ("/srv/snap/manifests", "cannot publish: Read-only file system", "Read-only file system"),
    "ContentError": ("posts/a.md", "invalid YAML", 3),
    "ContentRootError": ("/srv/content", "not found"),
    "GitSourceError": ("https://user:secret@example.com/blog.git", "main", "fetch failed", "unreachable"),
    "ManifestError": ("manifests/1-x.json: not a readable manifest",),
    "NotRendered": ("posts/a.md", "ab" * 16),
    "RewrittenHistory": ("a" * 40, "b" * 40),
    "PublishError": ("feed.xml", "503 Slow Down", "bucket"),
    "Cancelled": (),
    "Unavailable": ("/tags/go/feed.xml", 1),
    "DatabaseError": ("postgresql://feeds@db/feeds", "connection refused"),
    "MigrationError": ("sqlite:///feeds.db", "0002_followers.sql: table followers already exists"),
    "FediverseError": ("the fediverse failed",),
    "SignatureError": ("the Date is 4000 s old (at most 3600 s)",),
    "RefusedError": ("http://10.0.0.1/inbox", "a private address"),
    "FetchError": ("https://mastodon.example/users/ann", "HTTP 500", 500),
    "ActivityError": ("the activity has no actor",),
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_an_error_comes_back_whole_from_a_helper_process(name: str) -> None:
    (error_type,) = [e for e in every_error() if e.__name__ == name]
    error = error_type(*EXAMPLES[name])
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is error_type and str(again) == str(error)
    assert {k: v for k, v in vars(again).items()} == {k: v for k, v in vars(error).items()}


def test_every_error_has_an_example() -> None:
    assert sorted(e.__name__ for e in every_error() if e is not FeedsError) == sorted(EXAMPLES)


def test_no_error_shows_git_credentials() -> None:
    from feeds.content.errors import GitSourceError

    error = GitSourceError(*EXAMPLES["GitSourceError"])
    assert "secret" not in str(error) and "secret" not in error.remote
