"""MkDocs hooks for the manual: write the settings reference from ``feeds.settings.SETTINGS``, the limits from ``feeds.limits``.

Both are generated on every build, so there is no hand-kept copy to drift:
``configuration.md`` holds the marker below and the build replaces it with a table of
every setting (key, environment variable, default, help). ``tests/test_config.py``
checks the same table and the README's main settings against ``SETTINGS``. Likewise
``limits.md``: a table of every constant of ``feeds/limits.py`` with its ``#:`` comment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from feeds import limits
from feeds.config import ENV_PREFIX
from feeds.settings import SETTINGS, Setting

#: Where the reference goes: the page and the line the build replaces.
PAGE = "configuration.md"
MARKER = "<!-- settings-reference -->"
#: Where the table of limits goes.
LIMITS_PAGE = "limits.md"
LIMITS_MARKER = "<!-- limits-reference -->"

# A code span, kept as it is; outside code spans `<` and `|` are escaped so help text stays text in a table cell.
_CODE = re.compile(r"(`[^`]*`)")


def format_default(value: Any) -> str:
    """Show a setting's default as the manual and the README write it."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list | tuple):
        return ", ".join(f"`{item}`" for item in value) if value else "none"
    if isinstance(value, dict):
        return "`{" + ", ".join(f"{key} = {json.dumps(item)}" for key, item in value.items()) + "}`"
    return f"`{value}`"


def cell(text: str) -> str:
    """Escape Markdown text for one table cell, leaving code spans alone."""
    parts = _CODE.split(text)
    return "".join(part if part.startswith("`") else part.replace("<", "&lt;").replace("|", "\\|") for part in parts)


def settings_reference(settings: Iterable[Setting] = SETTINGS) -> str:
    """Return the Markdown table of every setting, in the order of ``SETTINGS``."""
    rows = ["| key | environment variable | default | what |", "|---|---|---|---|"]
    for setting in settings:
        variable = ENV_PREFIX + setting.name.upper()
        rows.append(f"| `{setting.name}` | `{variable}` | {format_default(setting.default)} | {cell(setting.help)} |")
    return "\n".join(rows) + "\n"


def limits_reference(source: Path = Path(limits.__file__)) -> str:
    """Return the Markdown tables of every constant in ``feeds/limits.py``: one per ``# -- section --``, with its ``#:`` comment."""
    out: list[str] = []
    comment: list[str] = []
    for line in source.read_text(encoding="utf-8").splitlines():
        section = re.fullmatch(r"# -- (.+?) -+", line)
        constant = re.fullmatch(r"([A-Z][A-Z0-9_]*) = (.+)", line)
        if section:
            out += ["", f"**{section[1]}**", "", "| name | value | what |", "|---|---|---|"]
        elif line.startswith("#:"):
            comment.append(line[2:].strip())
        elif constant:
            value = getattr(limits, constant[1])
            shown = f"`{constant[2]}`" + (f" ({value:,})" if isinstance(value, int) and str(value) != constant[2] else "")
            out.append(f"| `{constant[1]}` | {shown} | {cell(' '.join(comment))} |")
            comment = []
        elif not line.startswith("#"):
            comment = []
    return "\n".join(out).strip() + "\n"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Put the settings reference and the limits in place of their markers (MkDocs hook)."""
    for name, marker, table in ((PAGE, MARKER, settings_reference), (LIMITS_PAGE, LIMITS_MARKER, limits_reference)):
        if page.file.src_uri != name:
            continue
        if marker not in markdown:
            from mkdocs.exceptions import PluginError

            raise PluginError(f"docs/{name}: the line {marker} is missing; the generated table goes there")
        return markdown.replace(marker, table())
    return markdown
