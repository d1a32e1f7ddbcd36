"""Front matter text → a mapping, with the file's own line numbers for every problem.

Simple front matter (``key: "text"``, plain values, dates, ``[a, b]``, ``- item`` lists) is read
without libyaml's event machinery, each value typed by the YAML loader's own resolvers and
constructors, so the result is the dict the loader would build; anything else goes to libyaml
(the pure-Python parser again on an error, for its exact messages and line marks).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import yaml
from frontmatter.default_handlers import YAMLHandler

from feeds.content.errors import ContentError
from feeds.limits import MAX_QUOTED_VALUE, MAX_YAML_DEPTH, MAX_YAML_EXPANSION, cut

_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _safe_load(text: str) -> Any:
    """Parse YAML with libyaml when present (~10x faster on 10k posts), refusing what would expand past the limits.

    On any other error the pure-Python parser parses it again, so problems keep
    its messages and line marks exactly (under the same limits).
    """
    try:
        return _bounded_load(text, _FAST_LOADER)
    except _Refused:
        raise
    except Exception:
        return _bounded_load(text, yaml.SafeLoader)


def _bounded_load(text: str, loader_class: type[yaml.SafeLoader] | type[yaml.CSafeLoader]) -> Any:
    """Compose the document's nodes (an alias is one shared node), check their size, and only then build the values."""
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


class _Refused(Exception):
    """The front matter would expand past MAX_YAML_EXPANSION or nest past MAX_YAML_DEPTH: refused before it is built."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message, self.line = message, line


def _check_size(root: yaml.Node) -> None:
    """Raise _Refused if the aliases of ``root`` expand it by more than MAX_YAML_EXPANSION, or it nests too deep.

    Linear in the nodes as written: each node's expanded size and height are computed
    once (``known``), however many aliases point at it; an alias to a node that holds
    it would expand for ever.
    """
    known: dict[int, tuple[int, int]] = {}
    pairs = root.value if isinstance(root, yaml.MappingNode) else [(None, root)]
    for key, value in pairs:
        try:
            _expanded(value, 1, known, set())
        except _Refused as e:
            raise _Refused(f"{_key_name(key)}{e.message}", (key or value).start_mark.line) from None
    written = sum(_own(node) for node in _distinct(root))
    added = _expanded(root, 0, known, set())[0] - written
    if added > MAX_YAML_EXPANSION:
        # The largest field; of equal ones the last, which is the one that refers to the others' anchors.
        sizes = [(known.get(id(key), (0, 0))[0] + known[id(value)][0], index, key) for index, (key, value) in enumerate(pairs)]
        key = max(sizes)[2]
        message = f"YAML aliases would expand the front matter by {added:,} values (limit {MAX_YAML_EXPANSION:,}); refused"
        raise _Refused(f"{_key_name(key)}{message}", (key or root).start_mark.line)


def _expanded(node: yaml.Node, depth: int, known: dict[int, tuple[int, int]], open_nodes: set[int]) -> tuple[int, int]:
    """Return the size of ``node`` with every alias written out (see MAX_YAML_EXPANSION) and its height, memoised in ``known``.

    ``node`` is at ``depth``: a node reached again through an alias must fit there too.
    """
    found = known.get(id(node))
    if found is None:
        if depth > MAX_YAML_DEPTH:
            raise _Refused(f"nests deeper than {MAX_YAML_DEPTH} levels", node.start_mark.line)
        size, height = _own(node), 0
        if not isinstance(node, yaml.ScalarNode):
            if id(node) in open_nodes:
                raise _Refused("a YAML alias refers to a value that holds it (it would expand for ever)", node.start_mark.line)
            open_nodes.add(id(node))
            for child in _children(node):
                child_size, child_height = _expanded(child, depth + 1, known, open_nodes)
                size, height = size + child_size, max(height, child_height + 1)
            open_nodes.discard(id(node))
        found = known[id(node)] = (size, height)
    if depth + found[1] > MAX_YAML_DEPTH:
        raise _Refused(f"nests deeper than {MAX_YAML_DEPTH} levels", node.start_mark.line)
    return found


def _own(node: yaml.Node) -> int:
    """A scalar counts its length plus one, a list or mapping one."""
    return len(node.value) + 1 if isinstance(node, yaml.ScalarNode) else 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _distinct(root: yaml.Node) -> list[yaml.Node]:
    """Every node of the graph once (as written: an aliased node is counted where its anchor is)."""
    seen: dict[int, yaml.Node] = {}
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) not in seen:
            seen[id(node)] = node
            todo.extend(_children(node))
    return list(seen.values())


def _key_name(key: yaml.Node | None) -> str:
    """The field a refusal is about, as ``name: `` (cut), or nothing when it is not a plain name."""
    if isinstance(key, yaml.ScalarNode):
        return f"{cut(key.value, MAX_QUOTED_VALUE)}: "
    return ""


# The front matter most posts hold is a few lines of the simplest YAML -- ``key: "text"``, ``key: plain text``,
# ``key: 2026-01-02``, ``key: [a, b]``, ``key:`` and ``  - item`` lines -- and libyaml's events cost about
# as much as the rest of loading: such lines are read here, every scalar typed by the loader's own resolvers and
# constructors, so the mapping is the one the loader builds. Anything else (an escape but \" and \\, a tab, a comment
# after a value, an anchor, a tag, a block or multi-line scalar, a nested mapping...) goes to the loader.
_UNUSUAL = re.compile(r"[\t\r\x85\u2028\u2029\ufeff]")


_DOUBLE_QUOTED = r'"([^"\\]*(?:\\["\\][^"\\]*)*)"'  # of the escapes only \" and \\


# ``key: value`` (a key at column 0, shorter than libyaml's 1024) or ``- item``; a double-quoted value apart.
_LINE = re.compile(rf"([A-Za-z_][A-Za-z0-9_-]{{0,99}}):(?: (?:{_DOUBLE_QUOTED}|(.+)))?|( *)- (?:{_DOUBLE_QUOTED}|(.+))")


_QUOTED = re.compile(rf"{_DOUBLE_QUOTED}|'([^']*)'")  # '' is not matched


_ESCAPE = re.compile(r"\\([\"\\])")


_NOT_PLAIN_START = frozenset("-?:,[]{}#&*!|>'\"%@` ")  # YAML indicators, and a space


_NOT_IN_FLOW_PLAIN = re.compile(r"[:#?\[\]{}]")  # "?" too: PyYAML ends a plain scalar there in a flow, libyaml does not


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


_SCALAR_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float", "null", "timestamp"))
#: Keys the resolvers leave as text (``title``, not ``yes``), remembered: a few names, in every file.
_TEXT_KEYS: set[str] = set()
#: Plain scalars the resolvers type (``2026-01-02``, ``false``), remembered with their (immutable) values.
_TYPED: dict[str, Any] = {}


_TEXT = object()


class _NotSimple(Exception):
    """The front matter is beyond :func:`_simple_yaml`: the loader reads it."""


def _simple_yaml(text: str) -> dict[Any, Any] | None:
    """Return the mapping YAML ``text`` holds if it is simple enough to read here, else None."""
    if _UNUSUAL.search(text) is not None:
        return None
    meta: dict[Any, Any] = {}
    key: str | None = None  # the key a block sequence may follow (``key:`` with no value)
    items: list[Any] | None = None
    indent = 0
    try:
        for line in text.split("\n"):
            if not line or line[0] == "#":
                continue
            match = _LINE.fullmatch(line)
            if match is None:
                return None
            name, quoted, value, item_indent, item_quoted, item = match.groups()
            if name is None:
                if key is None or (items is not None and len(item_indent) != indent):
                    return None
                if items is None:
                    items, indent = [], len(item_indent)
                    meta[key] = items
                items.append(_unescape(item_quoted) if item_quoted is not None else _scalar(item))
                continue
            if name not in _TEXT_KEYS:
                if type(_plain(name)) is not str:
                    return None
                if len(_TEXT_KEYS) < 1000:
                    _TEXT_KEYS.add(name)
            key, items = None, None
            if quoted is not None:
                meta[name] = quoted if "\\" not in quoted else _unescape(quoted)
            elif value is not None:
                meta[name] = _scalar(value)
            else:
                meta[name] = None
                key = name
    except _NotSimple:
        return None
    return meta or None


def _unescape(text: str) -> str:
    """Undo the escapes \\" and \\\\ (the only ones _simple_yaml reads)."""
    return _ESCAPE.sub(r"\1", text) if "\\" in text else text


def _scalar(text: str) -> Any:
    """Return the value of a one-line scalar or flow sequence (``text`` is not empty)."""
    if text[0] in "\"'":
        match = _QUOTED.fullmatch(text)
        if match is None:
            raise _NotSimple
        return _unescape(match[1]) if match[1] is not None else match[2]
    if text[0] == "[" and text[-1] == "]":
        inner = text[1:-1]
        if not inner:
            return []
        values = []
        for part in inner.split(","):
            item = part.strip(" ")
            if not item or (item[0] not in "\"'" and _NOT_IN_FLOW_PLAIN.search(item) is not None):
                raise _NotSimple
            values.append(_scalar(item))
        return values
    if text[0] in _NOT_PLAIN_START or text[-1] in " :" or ": " in text or " #" in text:
        raise _NotSimple
    return _plain(text)


def _plain(text: str) -> Any:
    """Return the value of the plain scalar ``text``: typed as BaseResolver.resolve types it, built by the loader's constructor."""
    value = _TYPED.get(text, _TEXT)
    if value is not _TEXT:
        return value
    resolvers = _FAST_LOADER.yaml_implicit_resolvers
    tag = "tag:yaml.org,2002:str"
    for candidate, pattern in resolvers.get(text[0], []) + resolvers.get(None, []):
        if pattern.match(text):
            tag = candidate
            break
    if tag == "tag:yaml.org,2002:str":
        return text
    if tag not in _SCALAR_TAGS:
        raise _NotSimple
    try:
        value = _FAST_LOADER.yaml_constructors[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, text))
    except Exception as e:  # an impossible date, say: the loader reports it
        raise _NotSimple from e
    if len(_TYPED) < 10_000:
        _TYPED[text] = value
    return value


# python-frontmatter's own boundary (``^-{3,}\s*$``, multiline), so files split exactly as its YAMLHandler splits them.
_BOUNDARY = YAMLHandler.FM_BOUNDARY


def split(rel: str, text: str) -> tuple[str, str, int]:
    """Split front matter from body; return (front matter, body, the file line the front matter starts on)."""
    opening = _BOUNDARY.match(text)
    if opening is None:
        raise ContentError(rel, "no front matter: the file must start with a '---' line", 1)
    closing = _closing(text, opening.end())
    if closing is None:
        raise ContentError(rel, "front matter is not closed by a '---' line", 1)
    first_line = text[: opening.end()].count("\n") + 1
    start = closing.end()
    while text.startswith("\n", start):  # the body without the blank lines before it, copied once
        start += 1
    return text[opening.end() : closing.start()], text[start:], first_line


def _closing(text: str, start: int) -> re.Match[str] | None:
    """Return ``_BOUNDARY.search(text, start)``, trying only the lines that start with ``---``."""
    newline = text.find("\n---", start - 1)
    while newline != -1:
        match = _BOUNDARY.match(text, newline + 1)
        if match is not None:
            return match
        newline = text.find("\n---", newline + 1)
    return None


def parse(rel: str, fm_text: str, first_line: int) -> tuple[dict[Any, Any], bool]:
    """Return the front matter's mapping, and whether YAML escapes in it may have made forbidden characters."""
    simple = _simple_yaml(fm_text)
    if simple is not None:
        return simple, False  # its only escapes are \" and \\
    try:
        meta = _safe_load(fm_text)
    except _Refused as e:
        raise ContentError(rel, e.message, first_line + e.line) from None
    except RecursionError:  # the pure-Python parser, reading a nesting libyaml refused (it stops at 1,000 levels)
        raise ContentError(rel, f"front matter nests deeper than {MAX_YAML_DEPTH} levels", first_line) from None
    except yaml.MarkedYAMLError as e:
        # The context mark points at an unclosed bracket or quote; prefer it.
        mark = e.context_mark or e.problem_mark
        line = first_line + mark.line if mark else 1
        reason = e.problem or str(e)
        if e.context and e.problem_mark and e.context_mark and e.problem_mark.line != e.context_mark.line:
            reason = f"{e.context}: {reason} on line {first_line + e.problem_mark.line}"
        raise ContentError(rel, f"invalid YAML in front matter: {reason}", line) from e
    except yaml.YAMLError as e:
        raise ContentError(rel, f"invalid YAML in front matter: {e}", 1) from e
    except ValueError as e:  # PyYAML raises this for an impossible date such as 2026-02-30 (or an integer of 5,000 digits)
        found = _date_field(field_lines(fm_text, first_line))
        if found is None:
            raise ContentError(rel, f"invalid value in front matter ({e})", first_line) from e
        raise ContentError(rel, f"{found[0]}: not a real date ({e})", found[1]) from e
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ContentError(rel, f"front matter must be a mapping of fields, not a {type(meta).__name__}", first_line + 1)
    return meta, "\\" in fm_text  # without a backslash, no escape


def field_lines(fm_text: str, first_line: int) -> list[str]:
    """Return ``lines``: ``lines[n - 1]`` is line ``n`` of the file within the front matter (blank before it)."""
    return [""] * (first_line - 1) + fm_text.split("\n")


def _date_field(lines: list[str]) -> tuple[str, int] | None:
    """Return the first field holding a date that does not exist, and its line (PyYAML does not say)."""
    for number, line in enumerate(lines, start=1):
        match = re.match(r"^\s*(\w+)\s*:\s*['\"]?(\d{4})-(\d{1,2})-(\d{1,2})", line)
        if match:
            try:
                date(*(int(part) for part in match.groups()[1:]))
            except ValueError:
                return cut(match.group(1), MAX_QUOTED_VALUE), number
    return None
