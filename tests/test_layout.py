"""The package layout shows the flow: stages import only downward, only the web edge imports Flask, modules stay small."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: STYLE.md: "if a file passes ~400 lines, it probably holds two ideas".
MAX_LINES = 460


def test_import_contracts_are_kept() -> None:
    """import-linter checks the contracts in pyproject.toml: an upward import or Flask below the web edge fails."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_an_upward_import_would_be_caught(tmp_path: Path) -> None:
    """The contract is not vacuous: a content module importing the web layer breaks it."""
    import grimp

    graph = grimp.build_graph("feeds")
    assert graph.find_shortest_chain(importer="feeds.web.routes", imported="feeds.content.site") is not None  # down: allowed, and seen
    assert graph.find_shortest_chain(importer="feeds.content.index", imported="feeds.web.app") is None  # up: absent


def test_no_module_holds_two_ideas() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines()) for p in (ROOT / "feeds").rglob("*.py")}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}
