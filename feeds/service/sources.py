"""Where the builder reads posts from: the content folder, or a git branch fetched on every scan."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from feeds.config import Config
from feeds.content.git import GitSource


@dataclass(frozen=True)
class Source:
    """The posts as they are now: a folder to scan, and for git the commit, its time and each file's history."""

    root: Path
    #: The content's own clock (git: the commit time); None: the folder's modification times.
    content_time: datetime | None = None
    commit: str | None = None
    #: (first, last) commit time of every post file: default dates for git content.
    history: Mapping[str, tuple[datetime, datetime]] | None = None
    #: The published commit, when the branch no longer descends from it (a force-push rewrote history).
    rewritten_from: str | None = None


#: Returns the content as it is now, given the commit the published snapshot was built from.
Sync = Callable[[str | None], Source]


def content_source(config: Config, folder: Path) -> Sync:
    """The content folder itself, or a clone of the git remote kept in ``folder``."""
    content = config.content_dir
    if isinstance(content, Path):
        return lambda published: Source(content)
    git = GitSource(content, folder, branch=config.content_branch, timeout=config.git_timeout)

    def sync(published: str | None) -> Source:
        checkout = git.sync()  # GitSourceError: unreachable, timeout, bad ref (the builder keeps the last snapshot)
        rewritten = published is not None and not git.descends(published, checkout.commit)
        return Source(checkout.path, checkout.commit_time, checkout.commit, checkout.dates, published if rewritten else None)

    return sync
