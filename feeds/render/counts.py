"""How often each spelling of a tag, author name or language is used by feed posts: the incremental planner's counts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class Counts:
    """How often each spelling of a tag (or author name) is used by feed posts, and its first file."""

    #: Feed posts using each spelling.
    uses: dict[str, int]
    #: The first file (by path) using each spelling: the one whose spelling a tag shows when several are used as often.
    first: dict[str, str]

    def add(self, source: str, names: Iterable[str]) -> None:
        """Count the spellings ``names`` of the file ``source``."""
        for name in names:
            self.uses[name] = self.uses.get(name, 0) + 1
            if name not in self.first or source < self.first[name]:
                self.first[name] = source

    def remove(self, source: str, names: Iterable[str]) -> None:
        """Stop counting them; ValueError when ``source`` was a spelling's first file (which file is first now needs a pass)."""
        for name in names:
            left = self.uses[name] - 1
            if left:
                if self.first[name] == source:
                    raise ValueError("the first file of a spelling went")  # (the planner plans from scratch then)
                self.uses[name] = left
            else:
                del self.uses[name], self.first[name]
