"""MkDocs hooks for the manual: write the settings reference from ``feeds.config.SETTINGS``.

The reference is generated on every build, so there is no hand-kept copy to drift:
``configuration.md`` holds the marker below and the build replaces it with a table of
every setting (key, environment variable, default, help). ``tests/test_config.py``
checks the same table and the README's main settings against ``SETTINGS``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from feeds.config import ENV_PREFIX, SETTINGS, Setting

#: Where the reference goes: the page and the line the build replaces.
PAGE = "configuration.md"
MARKER = "<!-- settings-reference -->"

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


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Put the settings reference in place of its marker (MkDocs hook)."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        from mkdocs.exceptions import PluginError

        raise PluginError(f"docs/{PAGE}: the line {MARKER} is missing; the settings reference goes there")
    return markdown.replace(MARKER, settings_reference())
