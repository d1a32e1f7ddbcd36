"""The history of the content branch as post dates: when each ``*.md`` file was added and last changed.

Pure: parses ``git log --first-parent -M --name-status -z`` output and moves a
path → (first, last) map forward over commits, carrying dates across renames.
Every host that sees the same commits computes the same dates.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

_HEADER = re.compile(rb"\x01([0-9a-f]+) ?([0-9a-f]*)[^\x02]*\x02(-?\d+)")
_STATUS = re.compile(rb"\n?([ACDMRTUXB])(\d*)")


@dataclass(frozen=True)
class Commit:
    sha: str
    first_parent: str
    time: int
    #: (status letter, similarity score or -1, path, new path for renames and copies).
    changes: tuple[tuple[str, int, str, str | None], ...]


@dataclass
class History:
    """Dates of every ``*.md`` path in the repository at ``commit``, as Unix times."""

    commit: str
    paths: dict[str, tuple[int, int]]


def parse_log(out: bytes) -> list[Commit]:
    """Parse ``git log -z --name-status --format=%x01%H %P%x02%ct`` (paths may hold any byte but NUL)."""
    commits: list[Commit] = []
    tokens = out.split(b"\0")
    i = 0
    header: tuple[str, str, int] | None = None
    changes: list[tuple[str, int, str, str | None]] = []
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.startswith(b"\x01") or token.startswith(b"\n\x01"):
            match = _HEADER.match(token.lstrip(b"\n"))
            if match is None:
                raise ValueError(f"unexpected git log header {token[:80]!r}")
            if header is not None:
                commits.append(Commit(*header, tuple(changes)))
            header = (match[1].decode("ascii"), match[2].decode("ascii"), int(match[3]))
            changes = []
            continue
        if not token.strip():
            continue
        status = _STATUS.fullmatch(token)
        if status is None or header is None:
            raise ValueError(f"unexpected git log entry {token[:80]!r}")
        letter, score = status[1].decode("ascii"), int(status[2]) if status[2] else -1
        path = os.fsdecode(tokens[i])
        i += 1
        new: str | None = None
        if letter in "RC":
            new = os.fsdecode(tokens[i])
            i += 1
        changes.append((letter, score, path, new))
    if header is not None:
        commits.append(Commit(*header, tuple(changes)))
    return commits


def apply(paths: dict[str, tuple[int, int]], commits: list[Commit]) -> None:
    """Move ``paths`` (``*.md`` path → first, last commit time) forward over ``commits``, oldest first."""
    for commit in commits:
        t = commit.time
        # Sources first: "rename a → b" and "add a" can come in one commit, in either order.
        moved: dict[str, tuple[int, int] | None] = {}
        for letter, _, path, _new in commit.changes:
            if letter == "R":
                moved[path] = paths.pop(path, None)
            elif letter == "D":
                paths.pop(path, None)
        for letter, score, path, new in commit.changes:
            if letter in "RC" and new is not None:
                before = moved.get(path) if letter == "R" else None
                if new.endswith(".md"):
                    if before is None:
                        paths[new] = (t, t)
                    else:
                        # A pure rename (100 % similar) changes no text: the post was not updated.
                        paths[new] = (before[0], before[1] if score == 100 else max(before[0], t))
            elif letter in "AMT" and path.endswith(".md"):
                first = paths[path][0] if letter != "A" and path in paths else t
                paths[path] = (first, max(first, t))
