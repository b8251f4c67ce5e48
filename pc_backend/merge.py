"""Field-level three-way merge of the operator's edits onto a newer OCI snapshot.

Paths are those of `krx_common.docpath` (the audit log's): `strategy.rsi_period`, `universe`,
`holdings[005930].qty`, `holdings[005930]` (a whole holding added or removed). A field changed
only locally is kept; a field changed only on OCI is taken; a field both changed to different
values is a conflict (base, mine, theirs) and keeps the local value until the operator picks a
side. When the two sides touch one field at different depths (OCI removed a holding whose qty
the operator edited), the conflict is on the shorter path.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from krx_common.docpath import content, diff_fields, get_at, set_at


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

