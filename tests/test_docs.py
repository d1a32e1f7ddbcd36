"""The README stays short and its links into the manual resolve (`make docs` checks the manual's own links)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_README_LINES = 200


def slug(heading: str) -> str:
    """The anchor GitHub and MkDocs give a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return re.sub(r" +", "-", text)


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def test_the_readme_is_at_most_200_lines() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines: move the detail into a page of docs/"


def test_the_readme_links_into_the_manual_resolve() -> None:
    targets = re.findall(r"\]\(([^)\s]+)\)", README.read_text(encoding="utf-8"))
    local = [target for target in targets if not re.match(r"[a-z]+:", target)]
    assert any(target.startswith("docs/") for target in local)
    for target in local:
        path, _, anchor = target.partition("#")
        page = ROOT / path
        assert page.exists(), f"README.md links to {path}, which does not exist"
        if anchor:
            assert anchor in anchors(page), f"README.md links to {target}: no such heading in {path}"


def test_every_limit_is_in_the_manual_with_its_comment() -> None:
    """docs/hooks.py writes docs/limits.md's table from feeds/limits.py: every constant, each with its `#:` comment."""
    import importlib.util

    from feeds import limits

    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    rows = {
        line.split("|")[1].strip(" `"): line.split("|")[3].strip()
        for line in hooks.limits_reference().splitlines()
        if line.startswith("| `")
    }
    names = {name for name in vars(limits) if name.isupper()}
    assert set(rows) == names and all(rows.values()), names ^ set(rows)
    assert hooks.LIMITS_MARKER in (ROOT / "docs" / hooks.LIMITS_PAGE).read_text(encoding="utf-8")


def test_no_limit_is_named_twice() -> None:
    """A second assignment to a name in feeds/limits.py silently changes the first one's meaning (two branches picked one name)."""
    import ast
    from collections import Counter

    tree = ast.parse((ROOT / "feeds" / "limits.py").read_text(encoding="utf-8"))
    targets = [t for n in tree.body if isinstance(n, ast.Assign) for t in n.targets]
    targets += [n.target for n in tree.body if isinstance(n, ast.AnnAssign)]
    names = Counter(target.id for target in targets if isinstance(target, ast.Name))
    assert [name for name, count in names.items() if count > 1] == []
