"""The package layout shows the flow: stages import only downward, only the web edge imports Flask, modules stay small."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: STYLE.md: "if a file passes ~400 lines, it probably holds two ideas".
MAX_LINES = 400


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


def import_cycles(graph: Any) -> list[list[str]]:
    """Every set of modules that import each other in a circle (strongly connected components of two or more)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in order:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        order[root] = low[root] = len(order)
        stack.append(root)
        on_stack.add(root)
        while work:  # Tarjan's algorithm, without recursion
            module, imported = work[-1]
            for other in imported:
                if other not in order:
                    order[other] = low[other] = len(order)
                    stack.append(other)
                    on_stack.add(other)
                    work.append((other, iter(sorted(graph.find_modules_directly_imported_by(other)))))
                    break
                if other in on_stack:
                    low[module] = min(low[module], order[other])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[module])
                if low[module] == order[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return cycles


def test_no_module_imports_itself_through_others() -> None:
    """No import cycle anywhere in the package (imports made only for type checking count too)."""
    import grimp

    assert import_cycles(grimp.build_graph("feeds")) == []


def test_an_import_cycle_would_be_caught() -> None:
    """The cycle test is not vacuous: it sees imports made only for type checking, and one import back closes a cycle."""
    import grimp

    graph = grimp.build_graph("feeds")
    assert graph.direct_import_exists(importer="feeds.cli", imported="feeds.service.runtime")  # `if TYPE_CHECKING:` only
    assert graph.find_shortest_chain(importer="feeds.service.runtime", imported="feeds.service.roles") is not None
    graph.add_import(importer="feeds.service.roles", imported="feeds.service.runtime")  # what roles.py did before compose.py
    (cycle,) = import_cycles(graph)
    assert {"feeds.service.roles", "feeds.service.runtime"} <= set(cycle)
