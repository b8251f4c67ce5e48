"""Form values → validated contracts (pure; the pages call these, tests too). A ValueError
names the field at fault ('holdings.0.qty: ...')."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
from pydantic import ValidationError

from contracts.portfolio import Portfolio
from contracts.settings import Settings
from krx_common.words import invalid_field_text, invalid_text
from pc_cockpit.i18n import current_lang


class FormError(ValueError):
    """A form value the contract refuses: the dotted `field`, pydantic's error `kind` (or a
    rule's code: rsi_order, ma_order, duplicate) and its ctx `params`. `str()` is the English
    message (logs, tests); `words(lang)` is what the operator reads, from the catalogue."""

    def __init__(self, field: str, kind: str, params: dict[str, Any], message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.kind, self.params = field, kind, params

    def words(self, lang: str | None = None) -> str:
        return invalid_text(self.kind, self.params, lang or current_lang())

    def operator_text(self, lang: str | None = None) -> str:
        """'입력 오류 — RSI 매수 기준 (미만 매수) `strategy.rsi_buy_threshold`: …' with the
        field's name and the error's type kept."""
        return invalid_field_text(self.field, self.kind, self.params, lang or current_lang())


def field_error(exc: ValidationError, default: str) -> FormError:
    """The first error of `exc` as a `FormError` naming its dotted field; a cross-field rule
    names its field in its ctx (`contracts.common.rule_error`)."""
    err = exc.errors()[0]
    loc = [str(x) for x in err.get("loc", ()) if not str(x).startswith("function-")]
    ctx = dict(err.get("ctx") or {})
    if isinstance(ctx.get("field"), str):
        loc.append(str(ctx["field"]))
    field, kind = ".".join(loc) or default, str(err.get("type", "other"))
    return FormError(field, kind, ctx, str(err.get("msg")))


def _duplicate(items: list[Any], field: str) -> FormError | None:
    seen: set[Any] = set()
    for i, item in enumerate(items):
        if item in seen:
            return FormError(f"{field}[{i}]", "duplicate", {}, f"{item!r} appears twice")
        seen.add(item)
    return None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or value == ""


# The cells a holdings row cannot go without, in the grid's order.
REQUIRED_HOLDING_CELLS = ("ticker", "qty", "avg_price")


class MissingCell(ValueError):
    """A holdings row of the grid with a required cell left empty: `row` (0-based, the grid's
    order), its ticker (when it has one) and the `column` to fill in."""

    def __init__(self, row: int, ticker: str, column: str) -> None:
        super().__init__(f"holdings row {row + 1} ({ticker or '-'}): {column} is empty")
        self.row, self.ticker, self.column = row, ticker, column


def build_portfolio(base: Portfolio, cash: float, frame: pd.DataFrame) -> Portfolio:
    """`base` with `cash` and the holdings rows of the editor (rows left wholly empty are
    ignored; a row with some cells but not every required one raises `MissingCell`)."""
    holdings: list[dict[str, Any]] = []
    for i, row in enumerate(frame.to_dict(orient="records")):
        ticker = "" if _blank(row.get("ticker")) else str(row["ticker"]).strip()
        if not ticker and _blank(row.get("qty")) and _blank(row.get("avg_price")):
            continue
        for column in REQUIRED_HOLDING_CELLS:
            if _blank(row.get(column)):
                raise MissingCell(i, ticker, column)
        qty: Any = row.get("qty")
        price: Any = row.get("avg_price")
        entry = row.get("entry_date")
        holdings.append({
            "ticker": ticker,
            "qty": None if _blank(qty) else int(qty),
            "avg_price": None if _blank(price) else float(price),
            "entry_date": None if _blank(entry) else str(entry).strip(),
        })
    data = base.model_dump(mode="json")
    data.update(cash=cash, holdings=holdings)
    dup = _duplicate([h["ticker"] for h in holdings], "holdings")
    if dup is not None:
        raise dup
    try:
        return Portfolio.model_validate(data)
    except ValidationError as exc:
        err = field_error(exc, "portfolio")
        raise FormError(_holding_path(err.field, holdings), err.kind, err.params,
                        str(exc.errors()[0].get("msg"))) from None


def _holding_path(field: str, holdings: list[dict[str, Any]]) -> str:
    """'holdings.0.qty' → 'holdings[069500].qty' (the row's ticker, as in the diff and the
    audit trail) when the row has a ticker."""
    m = re.match(r"holdings\.(\d+)(\.|$)", field)
    if m is None:
        return field
    i = int(m.group(1))
    ticker = holdings[i]["ticker"] if i < len(holdings) else ""
    if not ticker:
        return field
    return f"holdings[{ticker}]{m.group(2)}{field[m.end():]}"


def calendar_values(closed_text: str, late_text: str) -> dict[str, Any]:
    """The Strategy page's two calendar text areas → `settings.calendar`: closed dates one
    per line (`YYYY-MM-DD`), late opens one per line (`YYYY-MM-DD HH:MM`); blank lines are
    skipped, the contract validates the rest (ValueError names a malformed line)."""
    closed = [line.strip() for line in closed_text.splitlines() if line.strip()]
    late: dict[str, str] = {}
    for i, line in enumerate(ln.strip() for ln in late_text.splitlines()):
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"calendar.late_opens line {i + 1}: {line!r}: write "
                             "'YYYY-MM-DD HH:MM'")
        late[parts[0]] = parts[1]
    return {"closed_dates": closed, "late_opens": late}


def build_settings(base: Settings, values: dict[str, Any]) -> Settings:
    """`base` with the form's values: `strategy`/`guardrails` mappings, `universe`,
    `benchmark`, `execution_mode`, `notifications`, `calendar`."""
    data = base.model_dump(mode="json")
    for key, value in values.items():
        data[key] = value
    dup = _duplicate(list(data.get("universe") or []), "universe")
    if dup is not None:
        raise dup
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise field_error(exc, "settings") from None
