"""Field paths of JSON-like documents (portfolio, settings) and the field-level diff on them.

Paths are those of the audit log: `strategy.rsi_period`, `universe`, `holdings[005930].qty`,
`holdings[005930]` (a whole holding: lists of objects with a `ticker` are keyed by it).
`diff_fields` yields them; `get_at`, `exists` and `set_at` walk them (the PC's three-way merge).
"""

from __future__ import annotations

import copy
import re
from typing import Any, NamedTuple

# Fields that change on every write and say nothing about the content.
VOLATILE = frozenset({"revision", "asof", "updated_at"})

_TOKEN = re.compile(r"\[([^\]]+)\]|([^.\[\]]+)")


class FieldDiff(NamedTuple):
    """One changed field: its path, the value before and after (None = absent)."""

    path: str
    before: Any
    after: Any


class PathError(ValueError):
    """A field path that does not parse or does not exist in the document."""


def diff_fields(before: Any, after: Any, prefix: str = "") -> list[FieldDiff]:
    """Field-level before→after changes between two JSON-like values (dotted paths)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[FieldDiff] = []
        for key in sorted(set(before) | set(after)):
            path = f"{prefix}.{key}" if prefix else str(key)
            out += diff_fields(before.get(key), after.get(key), path)
        return out
    if _is_keyed_list(before) and _is_keyed_list(after):
        b = {item["ticker"]: item for item in before}
        a = {item["ticker"]: item for item in after}
        out = []
        for key in sorted(set(b) | set(a)):
            out += diff_fields(b.get(key), a.get(key), f"{prefix}[{key}]")
        return out
    if before != after:
        return [FieldDiff(prefix, before, after)]
    return []


def _is_keyed_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, dict) and "ticker" in x for x in value)


def content(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` without the volatile stamps."""
    return {k: v for k, v in doc.items() if k not in VOLATILE}


def parse_path(path: str) -> list[tuple[str, str]]:
    """`holdings[005930].qty` → [('key', 'holdings'), ('item', '005930'), ('key', 'qty')]."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(path):
        if path[pos] == ".":
            pos += 1
            continue
        m = _TOKEN.match(path, pos)
        if not m:
            raise PathError(f"path {path!r} does not parse at character {pos}")
        tokens.append(("item", m.group(1)) if m.group(1) is not None else ("key", m.group(2)))
        pos = m.end()
    if not tokens:
        raise PathError("empty path")
    return tokens


_MISSING = object()


def _step(node: Any, kind: str, name: str) -> Any:
    if kind == "key":
        if isinstance(node, dict) and name in node:
            return node[name]
        return _MISSING
    if isinstance(node, list):
        return next((x for x in node if isinstance(x, dict) and x.get("ticker") == name),
                    _MISSING)
    return _MISSING


def _walk(doc: Any, path: str) -> Any:
    """The value at `path`, or `_MISSING`."""
    node = doc
    for kind, name in parse_path(path):
        node = _step(node, kind, name)
        if node is _MISSING:
            break
    return node


def get_at(doc: Any, path: str) -> Any:
    """The value at `path`, None when it does not exist (as `diff_fields` reports it)."""
    node = _walk(doc, path)
    return None if node is _MISSING else node


def exists(doc: Any, path: str) -> bool:
    return _walk(doc, path) is not _MISSING


def set_at(doc: Any, path: str, value: Any) -> None:
    """Set `path` to `value` in place; for a keyed-list item, None removes it."""
    tokens = parse_path(path)
    node = doc
    for kind, name in tokens[:-1]:
        nxt = _step(node, kind, name)
        if nxt is _MISSING:
            raise PathError(f"cannot set {path}: {name} does not exist")
        node = nxt
    kind, name = tokens[-1]
    if kind == "key":
        if not isinstance(node, dict):
            raise PathError(f"cannot set {path}: the parent is not an object")
        node[name] = copy.deepcopy(value)
        return
    if not isinstance(node, list):
        raise PathError(f"cannot set {path}: the parent is not a list")
    idx = next((i for i, x in enumerate(node) if isinstance(x, dict) and x.get("ticker") == name),
               None)
    if value is None:
        if idx is not None:
            del node[idx]
    elif idx is None:
        node.append(copy.deepcopy(value))
    else:
        node[idx] = copy.deepcopy(value)
