"""The grid of a parameter sweep: parsing, validation and expansion into combinations.

A grid maps a parameter name to its values: a list, a scalar, or an inclusive range
``{start, stop, step}`` (YAML), or ``name=start:stop:step`` / ``name=a,b,c`` on the command line.
Every value is validated against its field when the grid is parsed (an invalid value or an
unknown name raises `GridError` naming both); every combination is then validated through
`StrategyParams` / `Guardrails`. Combinations that break a cross-field rule
(``ma_short_period < regime_ma_long``, ``rsi_buy_threshold < rsi_sell_threshold``) are
**skipped and counted** (``df.attrs["n_skipped"]``), not fatal, so a rectangular grid can
straddle the rule; a grid whose every combination is skipped raises `GridError`.

Each combination carries its kernel parameter vector and its indicator group
(`GROUP_PARAMS`); `strategy.backtest.sweep` runs them.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import SimpleNamespace
from typing import Annotated, Any, cast

import numpy as np
import yaml
from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from contracts.common import Contract, refuse_boolean_number
from contracts.settings import Guardrails, Settings, StrategyParams
from strategy.params import param_vector

# Parameters the indicators depend on: combinations sharing them share one IndicatorSet.
INDICATOR_PARAMS: tuple[str, ...] = (
    "rsi_period",
    "regime_ma_long",
    "ma_short_period",
    "adx_period",
)
# `run_batch` takes the capital as one scalar per call, so it splits groups too.
GROUP_PARAMS: tuple[str, ...] = (*INDICATOR_PARAMS, "initial_capital")

# Guardrails that reach the parameter vector (max_data_age_sessions does not affect a backtest).
GUARDRAIL_PARAMS: tuple[str, ...] = ("max_orders", "max_single_order_pct", "max_buy_turnover_pct")
STRATEGY_PARAMS: tuple[str, ...] = tuple(StrategyParams.model_fields)
SWEEPABLE_PARAMS: tuple[str, ...] = STRATEGY_PARAMS + GUARDRAIL_PARAMS

# A grid this large is almost certainly a typo in a range (step too small).
MAX_COMBINATIONS = 2_000_000

Grid = dict[str, list[Any]]


class GridError(ValueError):
    """A grid that cannot be swept; the message names the parameter and value at fault."""


@dataclass(frozen=True, slots=True)
class Combination:
    """One validated grid point: its position in grid order, its swept values, the kernel's
    parameter vector and its indicator group (the validated models are not kept: a
    100,000-point grid would hold 100,000 of them)."""

    combo_id: int
    values: dict[str, Any]
    params: np.ndarray  # strategy.params.param_vector of the validated settings
    group: tuple[Any, ...]  # the GROUP_PARAMS values (indicators are computed per group)

    def settings(self, base: Settings) -> Settings:
        """`base` with this point applied (validated again)."""
        return settings_for(base, self.values)


@dataclass
class GridExpansion:
    """The valid combinations of a grid (grid order) and the skipped ones with the reason."""

    names: list[str]
    combinations: list[Combination]
    skipped: list[tuple[dict[str, Any], str]] = field(default_factory=list)


# --- grid parsing -------------------------------------------------------------------------


@functools.cache
def _field_adapter(name: str) -> TypeAdapter[Any]:
    if name in STRATEGY_PARAMS:
        info = StrategyParams.model_fields[name]
    else:
        info = Guardrails.model_fields[name]
    form: Any = info.annotation
    if info.metadata:
        form = Annotated[form, *info.metadata]
    return TypeAdapter(form)


def canonical_param(name: str) -> str:
    """The sweepable field called `name` (``guardrails.max_orders`` and ``strategy.x`` accepted).

    Raises GridError for a name that is not a `StrategyParams` field or a backtest guardrail,
    suggesting the closest one.
    """
    key = str(name).strip()
    for prefix in ("strategy.", "guardrails."):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    if key in SWEEPABLE_PARAMS:
        return key
    if key in Guardrails.model_fields:
        raise GridError(f"grid parameter {name!r} does not affect a backtest; remove it")
    close = difflib.get_close_matches(key, SWEEPABLE_PARAMS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise GridError(
        f"unknown grid parameter {name!r}{hint}; sweepable: {', '.join(SWEEPABLE_PARAMS)}"
    )


def _validate_value(name: str, value: Any) -> Any:
    model = StrategyParams if name in STRATEGY_PARAMS else Guardrails
    try:
        return _field_adapter(name).validate_python(refuse_boolean_number(model, name, value))
    except ValidationError as exc:
        msg = "; ".join(e["msg"] for e in exc.errors())
        raise GridError(f"grid parameter {name!r}: value {value!r} is invalid: {msg}") from None
    except ValueError as exc:
        raise GridError(f"grid parameter {name!r}: value {value!r} is invalid: {exc}") from None


def _decimal(name: str, key: str, value: Any) -> Decimal:
    if isinstance(value, bool):
        raise GridError(f"grid parameter {name!r}: range {key} {value!r} is not a number")
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise GridError(f"grid parameter {name!r}: range {key} {value!r} is not a number") from None
    if not d.is_finite():
        raise GridError(f"grid parameter {name!r}: range {key} {value!r} is not finite")
    return d


def expand_range(name: str, start: Any, stop: Any, step: Any) -> list[int | float]:
    """The inclusive range start, start+step, ..., <= stop (decimal arithmetic, so 0.1 steps
    do not drift); ints when start, stop and step are all integral."""
    d0 = _decimal(name, "start", start)
    d1 = _decimal(name, "stop", stop)
    ds = _decimal(name, "step", step)
    if ds <= 0:
        raise GridError(f"grid parameter {name!r}: range step {step!r} must be > 0")
    if d1 < d0:
        raise GridError(f"grid parameter {name!r}: range stop {stop!r} is below start {start!r}")
    count = int((d1 - d0) / ds) + 1
    if count > MAX_COMBINATIONS:
        raise GridError(f"grid parameter {name!r}: range {start}:{stop}:{step} has {count} values")
    values = [d0 + i * ds for i in range(count)]
    if all(d == d.to_integral_value() for d in (d0, d1, ds)):
        return [int(v) for v in values]
    return [float(v) for v in values]


def _values_of(name: str, spec: Any) -> list[Any]:
    if isinstance(spec, Mapping):
        keys = set(spec)
        if keys != {"start", "stop", "step"}:
            raise GridError(
                f"grid parameter {name!r}: a range needs exactly start, stop, step "
                f"(got {', '.join(sorted(map(str, keys)))})"
            )
        return list(expand_range(name, spec["start"], spec["stop"], spec["step"]))
    if isinstance(spec, list | tuple):
        if not spec:
            raise GridError(f"grid parameter {name!r}: empty list of values")
        return list(spec)
    if spec is None:
        raise GridError(f"grid parameter {name!r}: no value given")
    return [spec]


def parse_grid(spec: Mapping[str, Any]) -> Grid:
    """A validated grid from ``{name: [values] | {start, stop, step} | value}``.

    Names are canonicalised, each value is validated and coerced by its field (so ``"45"``
    becomes 45.0 for a float field), duplicate values are dropped (first kept), and key order
    is kept. Raises GridError naming the parameter (and value) at fault.
    """
    if not isinstance(spec, Mapping):
        raise GridError(f"a grid is a mapping of parameter -> values, got {type(spec).__name__}")
    if not spec:
        raise GridError("the grid is empty: give at least one parameter")
    grid: Grid = {}
    for raw_name, raw_values in spec.items():
        name = canonical_param(raw_name)
        if name in grid:
            raise GridError(f"grid parameter {name!r} is given twice")
        values: list[Any] = []
        for v in _values_of(str(raw_name), raw_values):
            coerced = _validate_value(name, v)
            if coerced not in values:
                values.append(coerced)
        grid[name] = values
    n = grid_size(grid)
    if n > MAX_COMBINATIONS:
        raise GridError(f"the grid has {n:,} combinations (limit {MAX_COMBINATIONS:,})")
    return grid


def parse_grid_yaml(text: str) -> Grid:
    """`parse_grid` of a YAML document (a mapping; a top-level ``grid:`` key is unwrapped)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise GridError(f"grid YAML does not parse: {exc}") from None
    if isinstance(doc, Mapping) and set(doc) == {"grid"}:
        doc = doc["grid"]
    if not isinstance(doc, Mapping):
        raise GridError("grid YAML must be a mapping of parameter -> values")
    return parse_grid(doc)


def _scalar(text: str) -> Any:
    # YAML scalar rules: 40 -> int, 0.1 -> float, true -> bool, exit_all -> str.
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_set_items(items: Iterable[str]) -> dict[str, Any]:
    """Grid spec from ``name=start:stop:step`` (inclusive), ``name=a,b,c`` or ``name=value``.

    The result goes to `parse_grid`; raises GridError for a malformed item.
    """
    spec: dict[str, Any] = {}
    for item in items:
        name, sep, rhs = item.partition("=")
        name = name.strip()
        rhs = rhs.strip()
        if not sep or not name or not rhs:
            raise GridError(f"--set {item!r}: expected name=start:stop:step, name=a,b,c or name=v")
        if name in spec:
            raise GridError(f"--set {item!r}: parameter {name!r} is given twice")
        if ":" in rhs:
            parts = rhs.split(":")
            if len(parts) != 3 or not all(p.strip() for p in parts):
                raise GridError(f"--set {item!r}: a range is start:stop:step")
            spec[name] = {"start": parts[0], "stop": parts[1], "step": parts[2]}
        elif "," in rhs:
            spec[name] = [_scalar(p.strip()) for p in rhs.split(",") if p.strip()]
        else:
            spec[name] = _scalar(rhs)
    return spec


def grid_size(grid: Mapping[str, Sequence[Any]]) -> int:
    """Number of combinations of a grid (cross-field skips not subtracted)."""
    return math.prod(len(v) for v in grid.values())


def expand_grid(base: Settings, grid: Mapping[str, Sequence[Any]]) -> GridExpansion:
    """Every combination of `grid` over `base`, validated through StrategyParams/Guardrails.

    Combinations are in grid order (the last parameter varies fastest) and numbered by that
    order, skipped ones included, so a combo id names the same point whatever is skipped.
    """
    names = [canonical_param(n) for n in grid]
    # Every value is validated against its field once (a grid holds few distinct values);
    # each combination then goes through the model's own cross-field rule (the `_coherent`
    # validator's function, called on the combination's fields): 100,000 full model
    # validations, or even model constructions, would take seconds.
    columns = [[_validate_value(name, v) for v in grid[n]]
               for name, n in zip(names, grid, strict=True)]
    base_strategy = base.strategy.model_dump()
    base_guard = base.guardrails.model_dump()
    fast = _only_cross_field_rules(StrategyParams)
    coherent = StrategyParams.__pydantic_decorators__.model_validators["_coherent"].func
    rows = _param_rows(base, names, columns)
    vectors = list(rows) if rows is not None else None  # one row view per grid point
    group_of = operator.attrgetter(*GROUP_PARAMS)
    s_names = [n for n in names if n in STRATEGY_PARAMS]
    g_names = [n for n in names if n in GUARDRAIL_PARAMS]
    # One namespace of the base strategy, with each combination's swept values set on it: the
    # cross-field rule reads it like a model (see the comment above).
    point_ns = SimpleNamespace(**base_strategy)
    combos: list[Combination] = []
    skipped: list[tuple[dict[str, Any], str]] = []
    for combo_id, values in enumerate(itertools.product(*columns)):
        point = dict(zip(names, values, strict=True))
        try:
            if fast:
                for k in s_names:
                    setattr(point_ns, k, point[k])
                strategy = cast(StrategyParams, point_ns)
                coherent(strategy)
            else:
                strategy = StrategyParams.model_validate(
                    {**base_strategy, **{k: point[k] for k in s_names}})
            guard = (
                Guardrails.model_validate({**base_guard, **{k: point[k] for k in g_names}})
                if g_names else base.guardrails
            )
        except ValidationError as exc:
            skipped.append((point, "; ".join(e["msg"] for e in exc.errors())))
            continue
        except PydanticCustomError as exc:  # a coded cross-field rule: its message as is
            skipped.append((point, exc.message()))
            continue
        except ValueError as exc:
            skipped.append((point, f"Value error, {exc}"))
            continue
        combos.append(Combination(
            combo_id, point,
            vectors[combo_id] if vectors is not None else param_vector(strategy, guard),
            group_of(strategy),
        ))
    if not combos:
        reason = skipped[0][1] if skipped else "empty grid"
        raise GridError(f"every combination of the grid is invalid (first: {reason})")
    return GridExpansion(names=names, combinations=combos, skipped=skipped)


def _param_rows(
    base: Settings, names: Sequence[str], columns: Sequence[Sequence[Any]]
) -> np.ndarray | None:
    """`param_vector` of every grid point in grid order, [n_points, N_PARAMS], built from the
    vectors of each single swept value over `base` (a parameter sets its own slots of the
    vector, whatever the others are); None when two swept parameters share a slot."""
    base_vec = param_vector(base.strategy, base.guardrails)
    slots: list[np.ndarray] = []
    tables: list[np.ndarray] = []
    for name, values in zip(names, columns, strict=True):
        rows = []
        for v in values:
            strategy = (base.strategy.model_copy(update={name: v})
                        if name in STRATEGY_PARAMS else base.strategy)
            guard = (base.guardrails.model_copy(update={name: v})
                     if name in GUARDRAIL_PARAMS else base.guardrails)
            rows.append(param_vector(strategy, guard))
        table = np.array(rows)
        changed = np.flatnonzero((table != base_vec).any(axis=0))
        slots.append(changed)
        tables.append(table[:, changed])
    every = np.concatenate(slots)
    if np.unique(every).size != every.size:
        return None
    # Grid order = C order of the value indices (the last parameter varies fastest).
    index = np.indices([len(c) for c in columns]).reshape(len(columns), -1)
    out = np.repeat(base_vec[None, :], index.shape[1], axis=0)
    for i, (slot, table) in enumerate(zip(slots, tables, strict=True)):
        if slot.size:
            out[:, slot] = table[index[i]]
    return out


def _only_cross_field_rules(model: type[StrategyParams]) -> bool:
    """True when `_coherent` is the model's only validator beyond its field types (then a
    constructed model plus `_coherent` is the full validation of field-valid values)."""
    decorators = model.__pydantic_decorators__
    # The base model's per-field checks (`Contract`) are applied to each value by
    # `_validate_value`; only validators of the model's own would need a full validation.
    own_field_validators = set(decorators.field_validators) - set(
        Contract.__pydantic_decorators__.field_validators)
    return (list(decorators.model_validators) == ["_coherent"]
            and not own_field_validators and not decorators.root_validators)


def settings_for(base: Settings, values: Mapping[str, Any]) -> Settings:
    """`base` with the grid point `values` applied (validated; GridError names the problem)."""
    s_over = {canonical_param(k): v for k, v in values.items()}
    g_over = {k: v for k, v in s_over.items() if k in GUARDRAIL_PARAMS}
    s_over = {k: v for k, v in s_over.items() if k in STRATEGY_PARAMS}
    try:
        strategy = StrategyParams.model_validate({**base.strategy.model_dump(), **s_over})
        guard = Guardrails.model_validate({**base.guardrails.model_dump(), **g_over})
    except ValidationError as exc:
        raise GridError(f"{dict(values)}: {'; '.join(e['msg'] for e in exc.errors())}") from None
    return base.model_copy(update={"strategy": strategy, "guardrails": guard})
