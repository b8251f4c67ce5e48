"""The tables behind the backtest, sweep and walk-forward reports, and the one number format.

`format_value` picks the format of every number a report, the cockpit or the CLI shows, by
column (the formats themselves are `krx_common.fmt`'s); the ``*_frame``
functions build pandas tables from results and the ``*_items`` functions key/value lists (the
HTML report and the cockpit both use them). No plotting and no file I/O here.
"""

from __future__ import annotations

import calendar
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from krx_common import fmt
from strategy.backtest.metrics import METRIC_COLUMNS
from strategy.rules import sell_tax_rate

if TYPE_CHECKING:
    from strategy.backtest.engine import BacktestResult

# Metrics shown as percentages; the rest are plain numbers.
_PERCENT_METRICS = frozenset(
    {"total_return", "cagr", "mdd", "volatility", "win_rate", "exposure", "return", "depth",
     "avg_return", "best_return", "worst_return", "expectancy_pct"}
)
# Ratios shown with three decimals (the objective columns of sweeps and walk-forwards).
_RATIO_METRICS = frozenset({"sharpe", "sortino", "calmar", "turnover", "profit_factor", "pf"})
_MONEY_METRICS = frozenset(
    {
        "final_equity",
        "initial_capital",
        "total_costs",
        "total_commission",
        "total_tax",
        "total_slippage",
        "slippage_cost",
        "pnl",
        "total_pnl",
        "unrealized_pnl",
        "expectancy_krw",
        "avg_win_krw",
        "avg_loss_krw",
        "entry_price",
        "exit_price",
        "price",
        "notional",
        "commission",
        "tax",
        "cash",
        "equity",
        "avg_price",
        "last_close",
        "costs",
        "market_value",
    }
)


def format_value(name: str, value: Any) -> str:
    """`value` of column/metric `name` for display — the one number format of every report
    and table the CLI prints: fractions as % (2 decimals), KRW with separators (no
    decimals), ratios (Sharpe, Sortino, Calmar, profit factor) with 3 decimals, NaN as —."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "—"
        base = name.removeprefix("is_").removeprefix("oos_").removeprefix("benchmark_")
        if base in _PERCENT_METRICS or name.endswith("_pct") and abs(v) < 10:
            return fmt.pct(v)
        if base in _MONEY_METRICS or abs(v) >= 1e5:
            return fmt.won_number(v)
        if base in _RATIO_METRICS:
            return fmt.num(v, 3)
        if v == int(v) and abs(v) < 1e9:
            return f"{int(v)}"
        return f"{v:.4g}"
    return str(value)


def instrument_label(code: str) -> str:
    """`069500 KODEX 200`: the code with its Korean name when the ticker master knows it."""
    from contracts.instruments import instrument, is_known

    code = str(code)
    return f"{code} {instrument(code).name_ko}" if is_known(code) else code


def day_text(v: Any) -> str:
    """A date cell as YYYY-MM-DD (empty for none)."""
    if v is None or v == "" or bool(pd.isna(v)):
        return ""
    return f"{pd.Timestamp(v):%Y-%m-%d}"


def drawdown_series(equity: pd.Series) -> pd.Series:
    """Drawdown from the running peak as a fraction (<= 0)."""
    return equity / equity.cummax() - 1.0


def traded_tickers(result: BacktestResult) -> list[str]:
    """Tickers with at least one fill, in order of first fill."""
    fills = result.fills
    if fills is None or fills.empty:
        return []
    return list(dict.fromkeys(fills.sort_values("date", kind="mergesort")["ticker"].astype(str)))


def per_year_frame(result: BacktestResult) -> pd.DataFrame:
    """The result's per-year table with the benchmark's per-year return alongside."""
    frame = result.per_year.copy()
    bench = result.benchmark
    if bench is not None and len(bench) and "year" in frame.columns:
        year_end = bench.groupby(pd.DatetimeIndex(bench.index).year).last()
        prev = year_end.shift(1)
        prev.iloc[0] = bench.iloc[0]
        bret = year_end / prev - 1.0
        frame["benchmark_return"] = frame["year"].map(bret.to_dict())
    return frame


def metrics_frame(result: BacktestResult) -> pd.DataFrame:
    """Every metric of the result formatted, with the benchmark's where the engine has one."""
    bench = result.meta.get("benchmark_metrics", {}) if isinstance(result.meta, dict) else {}
    rows = []
    for k, v in result.metrics.items():
        b = bench.get(k)
        rows.append((k, format_value(k, v), "" if b is None else format_value(k, b)))
    return pd.DataFrame(rows, columns=["metric", "strategy", "benchmark (buy & hold)"])


def trade_list_frame(result: BacktestResult) -> pd.DataFrame:
    """Closed trades (then positions still open at the end, marked at the close): ticker with
    its Korean name, entry/exit date and price, qty, P&L (KRW and %), holding days, reasons."""
    t = result.trades
    cols = ["ticker", "entry_date", "entry_price", "exit_date", "exit_price", "qty", "pnl",
            "return", "holding_days", "entry_reason", "exit_reason"]
    rows: list[dict[str, Any]] = []
    if t is not None and len(t):
        for r in t.to_dict(orient="records"):
            rows.append({c: r.get(c) for c in cols})
    op = result.open_positions
    if op is not None and len(op):
        for r in op.to_dict(orient="records"):
            entry = float(r.get("entry_price") or math.nan)
            last = r.get("last_close", r.get("close", math.nan))
            pnl = r.get("unrealized_pnl", math.nan)
            rows.append({
                "ticker": r.get("ticker"), "entry_date": r.get("entry_date"),
                "entry_price": entry, "exit_date": None, "exit_price": last,
                "qty": r.get("qty"), "pnl": pnl,
                "return": (float(last) / entry - 1.0) if entry and last == last else math.nan,
                "holding_days": r.get("holding_days"), "entry_reason": r.get("entry_reason", ""),
                "exit_reason": "OPEN (marked at the last close)",
            })
    frame = pd.DataFrame(rows, columns=cols)
    frame.insert(1, "name", [instrument_label(c).partition(" ")[2] for c in frame["ticker"]])
    return frame


def trade_stats(result: BacktestResult) -> dict[str, Any]:
    """Closed-trade statistics: count, win rate, profit factor (gross profit / gross loss),
    expectancy (mean P&L per trade, KRW and %), average win and loss, best and worst trade."""
    t = result.trades
    if t is None or not len(t):
        return {"n_trades": 0, "win_rate": math.nan, "profit_factor": math.nan,
                "expectancy_krw": math.nan, "expectancy_pct": math.nan, "avg_win_krw": math.nan,
                "avg_loss_krw": math.nan, "best_trade": "", "worst_trade": ""}
    pnl = t["pnl"].astype(float)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    gross_loss = -float(losses.sum())
    values = pnl.to_numpy()
    best, worst = t.iloc[int(np.argmax(values))], t.iloc[int(np.argmin(values))]

    def label(r: Any) -> str:
        return (f"{instrument_label(r['ticker'])} {day_text(r['entry_date'])} → "
                f"{day_text(r['exit_date'])}: {float(r['pnl']):+,.0f} KRW "
                f"({float(r['return']) * 100:+.2f}%)")

    return {
        "n_trades": len(t),
        "win_rate": float((pnl > 0).mean()),
        "profit_factor": float(wins.sum()) / gross_loss if gross_loss > 0 else math.inf,
        "expectancy_krw": float(pnl.mean()),
        "expectancy_pct": float(t["return"].astype(float).mean()),
        "avg_win_krw": float(wins.mean()) if len(wins) else math.nan,
        "avg_loss_krw": float(losses.mean()) if len(losses) else math.nan,
        "best_trade": label(best),
        "worst_trade": label(worst),
    }


def monthly_returns_frame(equity: pd.Series) -> pd.DataFrame:
    """Compounded return per calendar month (rows: years, columns: Jan..Dec) and per year
    (column ``total``).
    A month's return is its last equity over the previous month's last (the first month over
    the first equity value)."""
    if equity is None or not len(equity):
        return pd.DataFrame()
    idx = pd.DatetimeIndex(equity.index)
    month_end = equity.groupby([idx.year, idx.month]).last()
    prev = month_end.shift(1)
    prev.iloc[0] = float(equity.iloc[0])
    ret = month_end / prev - 1.0
    table = ret.unstack(level=1).reindex(columns=range(1, 13))
    table.index.name = "year"
    year_end = equity.groupby(idx.year).last()
    yprev = year_end.shift(1)
    yprev.iloc[0] = float(equity.iloc[0])
    table.columns = [calendar.month_abbr[int(m)] for m in table.columns]
    table["total"] = (year_end / yprev - 1.0).to_numpy()
    return table


def worst_drawdowns_frame(equity: pd.Series, n: int = 5) -> pd.DataFrame:
    """The `n` deepest drawdown periods: peak, trough and recovery dates (recovery = first
    session back at the peak; empty while not recovered), depth and lengths in sessions."""
    cols = ["rank", "peak", "trough", "recovery", "depth", "sessions_to_trough",
            "sessions_to_recover"]
    if equity is None or len(equity) < 2:
        return pd.DataFrame(columns=cols)
    v = equity.to_numpy(dtype=float)
    dates = pd.DatetimeIndex(equity.index)
    peak_val = np.maximum.accumulate(v)
    under = v < peak_val
    periods: list[dict[str, Any]] = []
    i = 0
    while i < len(v):
        if not under[i]:
            i += 1
            continue
        start = i - 1  # the peak session
        j = i
        while j < len(v) and under[j]:
            j += 1
        seg = v[i:j]
        k = i + int(np.argmin(seg))
        recovered = j < len(v)
        periods.append({
            "peak": dates[start], "trough": dates[k],
            "recovery": dates[j] if recovered else None,
            "depth": v[k] / v[start] - 1.0,
            "sessions_to_trough": k - start,
            "sessions_to_recover": (j - k) if recovered else None,
        })
        i = j
    periods.sort(key=lambda p: p["depth"])
    frame = pd.DataFrame(periods[:n], columns=cols[1:])
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame


def per_ticker_frame(result: BacktestResult) -> pd.DataFrame:
    """Per traded ticker: trades, win rate, total and average P&L, best and worst trade
    return, average holding days (closed trades)."""
    cols = ["ticker", "name", "trades", "win_rate", "total_pnl", "avg_return", "best_return",
            "worst_return", "avg_holding_days"]
    t = result.trades
    if t is None or not len(t):
        return pd.DataFrame(columns=cols)
    rows = []
    for code, g in t.groupby(t["ticker"].astype(str), sort=False):
        pnl = g["pnl"].astype(float)
        ret = g["return"].astype(float)
        rows.append({
            "ticker": code, "name": instrument_label(code).partition(" ")[2],
            "trades": len(g), "win_rate": float((pnl > 0).mean()),
            "total_pnl": float(pnl.sum()), "avg_return": float(ret.mean()),
            "best_return": float(ret.max()), "worst_return": float(ret.min()),
            "avg_holding_days": float(g["holding_days"].astype(float).mean()),
        })
    return pd.DataFrame(rows, columns=cols).sort_values("total_pnl", ascending=False)


def config_items(result: BacktestResult) -> list[tuple[str, str]]:
    """The run configuration: data window, universe (with names), benchmark, every strategy
    parameter, costs and guardrails — enough to re-run the report."""
    meta = result.meta if isinstance(result.meta, dict) else {}
    params = dict(result.params)
    guard = params.pop("guardrails", {}) or {}
    universe = params.pop("universe", meta.get("universe", []))
    bench = params.pop("benchmark", meta.get("benchmark", ""))
    years = sorted({d.year for d in pd.DatetimeIndex(result.equity.index)}) if len(
        result.equity) else []
    taxes = ", ".join(f"{y}: {sell_tax_rate(y, True) * 100:.2f}%" for y in years)
    items = [
        ("data window", f"{meta.get('start', '')} → {meta.get('end', '')} "
                        f"({meta.get('sessions', '')} sessions, "
                        f"{meta.get('warmup_sessions', '')} warm-up sessions before)"),
        ("universe", ", ".join(instrument_label(c) for c in universe)),
        ("benchmark", instrument_label(bench)),
        ("costs", f"commission {params.get('commission', math.nan) * 100:.3f}% per side, "
                  f"slippage {params.get('slippage', math.nan) * 100:.3f}%, "
                  f"stock sell tax by fill year ({taxes}; ETFs exempt)"),
    ]
    for k in ("commission", "slippage"):
        params.pop(k, None)
    items += [(k, format_value(k, v) if isinstance(v, float) else str(v))
              for k, v in params.items()]
    items += [(f"guardrails.{k}", format_value(k, v)) for k, v in guard.items()]
    notes = [*meta.get("warmup_notes", []), *meta.get("data_notes", [])]
    if notes:
        items.append(("notes", "; ".join(str(n) for n in notes)))
    return items


def trade_stats_items(result: BacktestResult) -> list[tuple[str, str]]:
    st = trade_stats(result)
    pf = st["profit_factor"]
    return [
        ("closed trades", str(st["n_trades"])),
        ("win rate", format_value("win_rate", st["win_rate"])),
        ("profit factor", "∞ (no losing trade)" if pf == math.inf else format_value("pf", pf)),
        ("expectancy", f"{format_value('pnl', st['expectancy_krw'])} KRW "
                       f"({format_value('return', st['expectancy_pct'])}) per trade"),
        ("average win", f"{format_value('pnl', st['avg_win_krw'])} KRW"),
        ("average loss", f"{format_value('pnl', st['avg_loss_krw'])} KRW"),
        ("best trade", st["best_trade"] or "—"),
        ("worst trade", st["worst_trade"] or "—"),
    ]


def sweep_top_frame(sweep: pd.DataFrame, objective: str, n: int = 20) -> pd.DataFrame:
    """The best `n` rows (the frame is ranked already) with the swept parameters and the key
    metrics (objective first)."""
    metrics = [c for c in METRIC_COLUMNS if c in sweep.columns]
    params = [c for c in sweep.columns if c not in metrics and c not in ("rank", "combo_id")]
    key = [objective] + [
        m
        for m in ("cagr", "mdd", "sharpe", "calmar", "total_return", "n_trades", "win_rate")
        if m != objective and m in metrics
    ]
    cols = [c for c in ("rank",) if c in sweep.columns] + params + key
    return sweep.head(n)[cols].reset_index(drop=True)


def buy_and_hold_items(sweep: pd.DataFrame, objective: str) -> list[tuple[str, str]]:
    bh = sweep.attrs.get("buy_and_hold") or {}
    if not bh or not len(sweep):
        return [("buy and hold", "not available for this sweep")]
    best = sweep.iloc[0]
    keys = [objective] + [k for k in ("total_return", "cagr", "mdd", "sharpe")
                          if k != objective]
    items = [("benchmark", instrument_label(str(bh.get("ticker", ""))))]
    for k in keys:
        if k in bh:
            items.append((k, f"buy & hold {format_value(k, bh[k])} · best combination "
                             f"{format_value(k, best.get(k))}"))
    n_beat = int((sweep[objective] > bh.get(objective, math.inf)).sum()) \
        if objective in bh else 0
    items.append(("combinations beating buy & hold", f"{n_beat} of {len(sweep)} on {objective}"))
    return items


def execution_items(sweep: pd.DataFrame) -> list[tuple[str, str]]:
    a = sweep.attrs
    secs = a.get("elapsed_s")
    return [
        ("window", f"{a.get('start', '')} → {a.get('end', '')}"),
        ("combinations", f"{len(sweep)} run, {a.get('n_skipped', 0)} skipped by cross-field "
                         f"rules, {a.get('n_groups', '')} indicator group(s)"),
        ("execution", str(a.get("execution", "unknown"))
         + (f", {secs:.1f} s" if isinstance(secs, float) else "")),
    ]
