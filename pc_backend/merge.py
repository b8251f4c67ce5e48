"""Field-level three-way merge of the operator's edits onto a newer OCI snapshot.

Paths are those of `diff_fields` (the audit log's): `strategy.rsi_period`, `universe`,
`holdings[005930].qty`, `holdings[005930]` (a whole holding added or removed). A field changed
only locally is kept; a field changed only on OCI is taken; a field both changed to different
values is a conflict (base, mine, theirs) and keeps the local value until the operator picks a
side. When the two sides touch one field at different depths (OCI removed a holding whose qty
the operator edited), the conflict is on the shorter path.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from oci_backend.store import diff_fields

_TOKEN = re.compile(r"\[([^\]]+)\]|([^.\[\]]+)")

# Fields that change on every write and say nothing about the content (as in the store).
VOLATILE = frozenset({"revision", "asof", "updated_at"})


class PathError(ValueError):
    """A field path that does not parse or does not exist in the document."""


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


def content(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` without the volatile stamps."""
    return {k: v for k, v in doc.items() if k not in VOLATILE}


def changes(base: dict[str, Any], mine: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(path, base value, my value) of every changed field, volatile stamps ignored."""
    return [(c.path, c.before, c.after) for c in diff_fields(content(base), content(mine))]


def _overlaps(a: str, b: str) -> bool:
    if a == b:
        return True
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return long_.startswith(short + ".") or long_.startswith(short + "[")


@dataclass
class MergeConflict:
    path: str
    base: Any
    mine: Any
    theirs: Any


@dataclass
class MergeResult:
    merged: dict[str, Any]
    conflicts: list[MergeConflict] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # my changes re-applied without conflict


def three_way(base: dict[str, Any], mine: dict[str, Any], theirs: dict[str, Any]) -> MergeResult:
    """Rebase the changes base→mine onto theirs, field by field (see the module docstring).
    The merged document carries theirs' volatile stamps; a conflicting field holds mine."""
    mine_changes = changes(base, mine)
    theirs_paths = [p for p, _, _ in changes(base, theirs)]
    merged = copy.deepcopy(theirs)
    result = MergeResult(merged)
    conflict_paths: list[str] = []
    for path, _before, after in mine_changes:
        touching = [tp for tp in theirs_paths if _overlaps(path, tp)]
        if not touching:
            set_at(merged, path, after)
            result.kept.append(path)
            continue
        where = min([path, *touching], key=len)
        if any(_overlaps(where, c) for c in conflict_paths):
            continue
        mine_v, theirs_v = get_at(mine, where), get_at(theirs, where)
        if mine_v == theirs_v:
            continue  # both made the same change
        conflict_paths.append(where)
        result.conflicts.append(MergeConflict(where, get_at(base, where), mine_v, theirs_v))
        set_at(merged, where, mine_v)  # `where` is the shorter path: its parent exists
    return result

