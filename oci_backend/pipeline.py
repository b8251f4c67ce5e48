"""The daily cycle: data → as-of session → signals → plan → summary (SPEC.md §1, §4).

Called by `krx daily`, `scripts/daily_ops.sh`, the API's cycle trigger and the in-process
scheduler — all through `run_cycle`, under one cycle lock so two runs never interleave.
It fails closed: missing, invalid or stale data, a holiday, or an emergency stop give a
summary that says so and, where a plan is due, a BLOCKED plan with the reason.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock, Timeout
from pydantic import BaseModel

from contracts.audit import AuditAction, AuditEntry
from contracts.common import now_kst
from contracts.plan import OrderPlan, PlanDecision, Side
from contracts.portfolio import Portfolio
from contracts.settings import ExecutionMode, Settings
from contracts.signals import Signals
from contracts.summary import (
    DataFreshness,
    OpsSummary,
    OverallStatus,
    PlanSummary,
    Risk,
    Severity,
    Stage,
)
from krx_common.atomic import StoreError, WriteFailed, atomic_write_model, read_model
from krx_common.defaults import KST
from oci_backend.paths import DataPaths
from oci_backend.replay_root import ReplayMarker, read_marker
from oci_backend.store import Store
from oci_backend.tickets import opens_from_bars, process_pending
from oci_backend.tickets.boxes import plan_stage
from oci_backend.tickets.manual import RESERVE_INCIDENT
from strategy import calendar
from strategy import signals as sig
from strategy.marketdata import make_provider
from strategy.marketdata.errors import BadMarketData, MarketDataUnavailable
from strategy.marketdata.validation import BarIssue, ensure_valid
from strategy.planner import blocked_plan, plan_orders

# pandas loads with the first cycle (strategy.marketdata), not with the server's start.
if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# One exit-code table (SPEC.md §5; krx_cli.commands._common, daily_ops.sh, oci-install.md):
# 0 OK, 2 blocked / warn / holiday / stale (and usage errors), 1 failure.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BLOCKED = 2

Renderer = Callable[[OpsSummary, "OrderPlan | None"], str]


class CycleBusy(RuntimeError):
    """Another daily cycle holds the cycle lock."""


# -- the asof rule -----------------------------------------------------------------------------
class AsofRefused(ValueError):
    """A requested `asof` the cycle refuses, raised before anything is written; `field` names
    the part of the request at fault."""

    field = "asof"


class NotASession(AsofRefused):
    """`asof` is not an XKRX session (weekend or holiday)."""


class AsofOutOfRange(AsofRefused):
    """`asof` lies outside the range the XKRX calendar was built for."""


class AsofNotClosed(AsofRefused):
    """`asof` is after the last completed session: its bars cannot exist yet."""


class NotAReplayRoot(AsofRefused):
    """`asof` asked of a live data root, which never replays a session."""

    def __init__(self, root: object, asof: date) -> None:
        super().__init__(
            f"asof {asof} is refused: {root} is a live data root, which never replays a "
            f"session. Omit asof to plan the last completed session, or replay in a separate "
            f"replay data root (`krx replay`, or `krx daily --replay` with a new --data-dir)")


def _check_session(asof: date) -> None:
    """`NotASession` naming the nearest sessions, `AsofOutOfRange` outside the calendar."""
    try:
        if calendar.is_session(asof):
            return
        before, after = calendar.previous_session(asof), calendar.next_session(asof)
    except calendar.CalendarRangeError as exc:
        raise AsofOutOfRange(f"asof: {exc}") from None
    raise NotASession(
        f"asof {asof} ({asof:%a}) is not an XKRX session; nearest sessions: "
        f"{before} ({before:%a}) before, {after} ({after:%a}) after"
    )


def check_asof(paths: DataPaths, asof: date, *, now: datetime | None = None,
               replay: bool | None = None) -> None:
    """THE asof rule of every cycle someone asks for (the API, `krx daily`, the replay
    driver): `asof` must be an XKRX session (`NotASession`, `AsofOutOfRange`), closed by
    `now` (`AsofNotClosed`), and the data root a replay root (`NotAReplayRoot`: a live root
    never replays). `replay` is what the root is or is about to be (`krx daily --replay`
    checks before it marks the root); None reads `paths.is_replay`."""
    _check_session(asof)
    try:
        last = calendar.last_completed_session(now or now_kst())
    except calendar.CalendarRangeError as exc:
        raise AsofOutOfRange(f"asof: {exc}") from None
    if asof > last:
        raise AsofNotClosed(f"asof: {asof} has not closed yet; the last completed session is "
                            f"{last}")
    if not (paths.is_replay if replay is None else replay):
        raise NotAReplayRoot(paths.root, asof)


@dataclass
class CycleResult:
    summary: OpsSummary
    plan: OrderPlan | None
    exit_code: int
    text: str | None = None  # the rendered report, made before anything was written


@dataclass
class _Loaded:
    bars: dict[str, pd.DataFrame]
    provider: str
    synthetic: bool
    risks: list[Risk]
    block: str | None
    freshness: DataFreshness | None
    # The session decided on: the expected one, or the last bar common to every ticker when
    # `max_data_age_sessions` tolerates a lag (never a session some ticker has no bar for).
    decide_on: date | None = None


def run_cycle(
    store: Store,
    *,
    data_spec: str = "auto",
    asof: date | None = None,
    now: datetime | None = None,
    actor: str = "cron",
    wait_lock: bool = False,
    notifier: Callable[[OpsSummary], object] | None = None,
    render: Renderer | None = None,
    requested: bool = False,
    current_session: bool = False,
) -> CycleResult:
    """Run one daily cycle and persist its summary (and plan, when one is due).

    `current_session` (a re-plan after a change) plans the session the root is at: on a replay
    root the summary's session, read under the cycle lock, so a cycle that finished while this
    one waited for the lock is never planned over with the older day; on a live root the last
    completed session (as without `asof`).

    `asof` replays a past session instead of the last completed one. With `requested` (a
    cycle someone asked for: the API, `krx daily`, the replay driver) `asof` must pass
    `check_asof`, the one asof rule; a library call's `asof` need only be a session. Raises
    `CycleBusy` if another cycle is running (unless `wait_lock`), and an `AsofRefused`
    (before the lock, nothing written) for a refused `asof`; any other failure is recorded as
    a FAILED summary and returned with exit code 1. `render`, when given, turns the summary
    and plan into text before anything is written (CycleResult.text): a renderer that fails
    writes nothing.
    """
    marker = read_marker(store.paths)  # the one read of the replay marker per cycle
    if asof is not None:
        if requested:
            check_asof(store.paths, asof, now=now, replay=marker is not None)
        else:
            _check_session(asof)
    lock = FileLock(str(store.paths.cycle_lock), timeout=-1 if wait_lock else 0)
    try:
        lock.acquire()
    except Timeout:
        raise CycleBusy(
            "a daily cycle is already running; try again when it has finished"
        ) from None
    except OSError as exc:  # a read-only or full data root: named, never a 500 traceback
        raise WriteFailed(store.paths.cycle_lock, exc) from exc
    try:
        if current_session and asof is None and marker is not None:
            current = store.summary()  # under the cycle lock: no cycle can move it now
            asof = current.asof if current is not None else None
        now = now or now_kst()
        try:
            result = _cycle(store, data_spec=data_spec, asof=asof, now=now, marker=marker,
                            render=render)
        except _RenderFailed as exc:
            raise exc.__cause__ or exc from None
        except Exception as exc:  # the cycle must leave a visible trace, never die silently
            # A full or read-only disk is named by its message: no traceback for it.
            log.error("daily cycle failed: %s", exc, exc_info=not isinstance(exc, StoreError))
            result = _failed(store, now, f"{type(exc).__name__}: {exc}", render)
        store.audit_log.append(AuditEntry(
            actor=actor, action=AuditAction.DAILY_RUN, target="daily_cycle",
            reason=result.summary.message,
            details={"asof": str(result.summary.asof), "status": result.summary.status.value,
                     "stage": result.summary.stage.value,
                     "plan_id": result.plan.plan_id if result.plan else None,
                     **({"replay": True} if marker is not None else {})},
        ))
        if notifier is not None:
            try:
                notifier(result.summary)
            except Exception:  # a notification outage must not fail the cycle
                log.exception("notification failed")
        return result
    finally:
        lock.release()


class _RenderFailed(Exception):
    """The renderer raised: nothing was written; run_cycle re-raises the renderer's error."""


def _rendered(render: Renderer | None, summary: OpsSummary, plan: OrderPlan | None) -> str | None:
    if render is None:
        return None
    try:
        return render(summary, plan)
    except Exception as exc:
        raise _RenderFailed() from exc


# A cycle re-plans at most this often when the portfolio or settings move under it; the last
# attempt plans under the write lock, so nothing can move.
PLAN_ATTEMPTS = 3


def _cycle(
    store: Store, *, data_spec: str, asof: date | None, now: datetime,
    marker: ReplayMarker | None, render: Renderer | None = None,
) -> CycleResult:
    """Build the plan and write it only if the portfolio and settings it was built on are
    still current (checked under the write lock, written under it): a ticket filled by the
    processor or MANUAL fills recorded meanwhile make the cycle re-plan on the new state."""
    for attempt in range(1, PLAN_ATTEMPTS + 1):
        last = attempt == PLAN_ATTEMPTS
        with store.lock() if last else nullcontext():
            built = _build(store, data_spec=data_spec, asof=asof, now=now, marker=marker,
                           render=render)
            with store.lock():
                now_at = (store.portfolio().revision, store.settings().revision)
                built_on = (built.summary.portfolio_revision, built.summary.settings_revision)
                if now_at == built_on or last:
                    if built.plan is not None:
                        store.write_plan(built.plan)
                    store.write_summary(built.summary, now)
                    _record_clock(store, built, live=marker is None and asof is None)
                    return built
        log.warning("the portfolio/settings moved from revision %s to %s while the cycle "
                    "planned: re-planning (attempt %d)", built_on, now_at, attempt + 1)
    raise AssertionError("unreachable: the last attempt always writes")


def _build(
    store: Store, *, data_spec: str, asof: date | None, now: datetime,
    marker: ReplayMarker | None, render: Renderer | None = None,
) -> CycleResult:
    """The summary (and plan) of one cycle on the current state; writes nothing except what
    processing pending tickets writes."""
    portfolio, settings = store.portfolio(), store.settings()
    stop = store.stop_in_force()
    today = now.astimezone(KST).date()
    cal = calendar.for_settings(settings)  # XKRX + the operator's closures and late opens
    is_session_today = cal.is_session(today)
    base = {
        "run_at": now, "is_session_today": is_session_today,
        "execution_mode": settings.execution_mode,
        "portfolio_revision": portfolio.revision, "settings_revision": settings.revision,
    }
    # A live cycle on a clock behind the last completed session (stepped back onto a holiday
    # too) is refused before anything else: the book must not go back.
    last = read_model(store.paths.last_asof, LastAsof) if marker is None and asof is None \
        else None
    skewed = _clock_skew(now, today, last, base, render)
    if skewed is not None:
        return skewed
    closed_day = today if asof is None else asof
    if cal.is_closed_by_override(closed_day) or (asof is None and not is_session_today):
        why = ("closed by the operator (settings.calendar.closed_dates)"
               if cal.is_closed_by_override(closed_day) else "XKRX holiday or weekend")
        summary = OpsSummary(
            **base, asof=None, holiday=True, stage=Stage.NO_ACTION_TODAY,
            status=OverallStatus.WARN,
            risks=[Risk(code="HOLIDAY", severity=Severity.INFO,
                        message=f"{closed_day} is not a session ({why}): no plan today",
                        params={"day": closed_day.isoformat(),
                                "by_operator": int(cal.is_closed_by_override(closed_day))})],
            message=f"{closed_day} is not a trading session ({why}); no plan",
        )
        text = _rendered(render, summary, None)
        return CycleResult(summary, None, EXIT_BLOCKED, text)
    expected = asof or cal.last_completed_session(now)
    skewed = _clock_skew(now, expected, last, base, render)
    if skewed is not None:
        return skewed

    loaded = _load_market(store, settings, portfolio, data_spec, expected, cal)
    expected = loaded.decide_on or expected
    risks = list(loaded.risks)
    if not loaded.block:
        # DRY_RUN tickets waiting for an open these bars now have are filled first (as the
        # backtest fills the previous decision at this session's open), then we plan.
        if process_pending(store, now=now, opens=opens_from_bars(loaded.bars)):
            portfolio = store.portfolio()
            base["portfolio_revision"] = portfolio.revision
    replay = f"REPLAY data root ({marker.label}): not live state" if marker else None
    if replay:
        risks.append(Risk(code="REPLAY", severity=Severity.INFO, message=replay,
                          params={"label": marker.label if marker else ""}))
    block_reasons: list[str] = []
    if loaded.block:
        block_reasons.append(loaded.block)
    if stop.on:
        block_reasons.append("EMERGENCY_STOP")
        risks.append(Risk(code="EMERGENCY_STOP", severity=Severity.CRITICAL,
                          message=f"emergency stop on since {stop.at:%Y-%m-%d %H:%M} "
                                  f"by {stop.by}: {stop.reason}",
                          params={"at": f"{stop.at:%Y-%m-%d %H:%M}", "by": stop.by,
                                  "reason": stop.reason}))
    if settings.execution_mode is ExecutionMode.BROKER_LIVE:
        risks.append(Risk(code="BROKER_LIVE", severity=Severity.WARN,
                          message="execution mode BROKER_LIVE: submitted tickets are sent to "
                                  "the broker as real orders"))

    signals = None
    if loaded.block:
        plan = blocked_plan(expected, portfolio, settings, block_reasons,
                            synthetic=loaded.synthetic, created_at=now)
    else:
        decision = sig.decide(loaded.bars, expected, portfolio, settings)
        signals = sig.to_signals(decision, settings)
        plan = plan_orders(
            decision, portfolio, settings, fill_year=cal.next_session(expected).year,
            extra_block_reasons=block_reasons, synthetic=loaded.synthetic, created_at=now,
        )
        risks += _strategy_risks(plan, signals)
    if replay:  # labelled (not part of the content-addressed id)
        plan = plan.model_copy(update={"reasons": [*plan.reasons, f"REPLAY: {replay}"]})

    progress: tuple[Stage, str] | None = None
    if plan.decision is PlanDecision.BLOCKED:
        stage = Stage.STOPPED if stop.on else Stage.BLOCKED
        status, code = OverallStatus.BLOCKED, EXIT_BLOCKED
    else:
        stage = Stage.PLAN_READY if plan.decision is PlanDecision.READY else Stage.NO_ACTION_TODAY
        if stage is Stage.NO_ACTION_TODAY and _done_today(store, expected):
            stage = Stage.DONE_TODAY  # a re-plan after the day's fills: nothing left to do
        if stage is Stage.PLAN_READY:
            progress = plan_stage(store, plan.plan_id)
        if progress is not None:  # a re-run of a plan already acted on: its tickets say
            stage = progress[0]
        warn = any(r.severity is not Severity.INFO for r in risks)
        # WARN is not OK: cron and daily_ops.sh must see it (exit 2), like BLOCKED.
        status = OverallStatus.WARN if warn else OverallStatus.OK
        code = EXIT_BLOCKED if warn else EXIT_OK
    risks += _incidents_of(store, expected, risks)
    summary = OpsSummary(
        **base, asof=expected, freshness=loaded.freshness, signals=signals,
        plan=plan_summary(plan), stage=stage, risks=risks, status=status,
        message=_message(plan, expected) + (f"; {progress[1]}" if progress else ""),
    )
    text = _rendered(render, summary, plan)
    return CycleResult(summary, plan, code, text)


def _clock_skew(now: datetime, session: date, last: LastAsof | None, base: dict[str, Any],
                render: Renderer | None) -> CycleResult | None:
    """The BLOCKED/CLOCK_SKEW result when the clock makes `session` current while a later one
    was already completed; None when the clock is not behind."""
    if last is None or session >= last.asof:
        return None
    message = (f"CLOCK_SKEW: the clock ({now:%Y-%m-%d %H:%M %Z}) is behind the last "
               f"completed cycle's session {last.asof}: refused, no plan for {session} (the "
               "book must not go back); check the system clock (timedatectl, NTP)")
    summary = OpsSummary(
        **base, asof=None, stage=Stage.BLOCKED, status=OverallStatus.BLOCKED,
        risks=[Risk(code="CLOCK_SKEW", severity=Severity.CRITICAL, message=message,
                    params={"now": f"{now:%Y-%m-%d %H:%M %Z}", "expected": session.isoformat(),
                            "last": last.asof.isoformat()})],
        message=message)
    return CycleResult(summary, None, EXIT_BLOCKED, _rendered(render, summary, None))


class LastAsof(BaseModel):
    """`state/last_asof.json`: the session of the last completed cycle on a live root."""

    asof: date


def _record_clock(store: Store, built: CycleResult, *, live: bool) -> None:
    """Remember a completed cycle's session (live roots); raise an incident for a refused
    CLOCK_SKEW cycle."""
    summary = built.summary
    if any(r.code == "CLOCK_SKEW" for r in summary.risks):
        store.audit_log.append(AuditEntry(
            actor="system", action=AuditAction.INCIDENT, target="daily_cycle",
            reason=summary.message, details={"code": "CLOCK_SKEW"}))
        return
    plan = built.plan
    if live and plan is not None and plan.decision is not PlanDecision.BLOCKED \
            and summary.asof is not None:
        atomic_write_model(store.paths.last_asof, LastAsof(asof=summary.asof))


def _incidents_of(store: Store, asof: date, risks: list[Risk]) -> list[Risk]:
    """The incidents raised on this session's summary (a reserve-breaking fill): a re-plan
    of the same session keeps them."""
    try:
        prev = store.summary()
    except StoreError:
        return []
    if prev is None or prev.asof != asof:
        return []
    return [r for r in prev.risks if r.code == RESERVE_INCIDENT and r not in risks]


def _done_today(store: Store, asof: date) -> bool:
    """The latest summary says the fills of this session's plan were recorded."""
    try:
        prev = store.summary()
    except StoreError:
        return False
    return prev is not None and prev.asof == asof and prev.stage is Stage.DONE_TODAY


def _load_market(
    store: Store, settings: Settings, portfolio: Portfolio, data_spec: str, expected: date,
    cal: calendar.SessionCalendar,
) -> _Loaded:
    tickers = sig.required_tickers(settings, portfolio)
    provider = make_provider(data_spec, cache_dir=store.paths.cache_dir, demo_end=expected)
    risks: list[Risk] = []
    if provider.synthetic:
        risks.append(Risk(code="SYNTHETIC_DATA", severity=Severity.WARN,
                          message="market data is SYNTHETIC (demo provider): not real prices"))
    try:
        bars = calendar.without_closed_days(provider.load(tickers, end=expected), cal)
    except MarketDataUnavailable as exc:
        hint = _missing_hint(data_spec)
        risks.append(Risk(code="DATA_MISSING", severity=Severity.CRITICAL,
                          message=hint or str(exc),
                          params={"ticker": exc.ticker, "provider": exc.provider}
                          | ({"variant": "no_provider", "spec": data_spec.strip().lower()}
                             if hint else {})))
        return _Loaded({}, provider.name, provider.synthetic, risks, "DATA_MISSING", None)
    except BadMarketData as exc:
        risks.append(Risk(code="DATA_INVALID", severity=Severity.CRITICAL, message=str(exc),
                          params=invalid_data_params(exc)))
        return _Loaded({}, provider.name, provider.synthetic, risks, "DATA_INVALID", None)

    last_bar = {t: df.index[-1].date() for t, df in bars.items() if not df.empty}
    for t in tickers:
        df = bars.get(t)
        if df is None or df.empty:
            risks.append(Risk(code="DATA_MISSING", severity=Severity.CRITICAL,
                              message=f"{t}: {provider.name} returned no bars",
                          params={"ticker": t, "provider": provider.name}))
            return _Loaded(bars, provider.name, provider.synthetic, risks, "DATA_MISSING", None)
        try:
            issues = _validated(t, df, provider.name, cal)
        except BadMarketData as exc:
            risks.append(Risk(code="DATA_INVALID", severity=Severity.CRITICAL, message=str(exc),
                              params=invalid_data_params(exc)))
            return _Loaded(bars, provider.name, provider.synthetic, risks, "DATA_INVALID", None)
        halts = [i for i in issues if i.severity == "halt" and i.date == expected]
        for h in halts:
            risks.append(Risk(code="TRADING_HALT", severity=Severity.WARN,
                              message=f"{t}: trading halt on {h.date}",
                              params={"ticker": t, "day": str(h.date)}))

    max_age = settings.guardrails.max_data_age_sessions
    stale = {}
    for t in tickers:
        last = last_bar[t]
        if last < expected:
            lag = len(cal.sessions_in_range(last, expected)) - 1
            if lag > max_age:
                stale[t] = last
    freshness = DataFreshness(
        provider=provider.name, synthetic=provider.synthetic, expected_session=expected,
        last_bar=last_bar, stale=bool(stale),
        message=(f"stale: expected bars for {expected}, got " +
                 ", ".join(f"{t} last {d}" for t, d in stale.items())) if stale else "fresh",
    )
    if stale:
        risks.append(Risk(code="DATA_STALE", severity=Severity.CRITICAL, message=freshness.message,
                          params={"expected": expected.isoformat(), "last": ", ".join(
                              f"{t} {d}" for t, d in stale.items())}))
        return _Loaded(bars, provider.name, provider.synthetic, risks, "DATA_STALE", freshness)
    decide_on = min(last_bar[t] for t in tickers)
    if decide_on < expected:
        risks.append(Risk(
            code="DATA_LAGGING", severity=Severity.WARN,
            message=f"bars end at {decide_on}, not {expected} (within max_data_age_sessions="
                    f"{max_age}): the plan decides on {decide_on}'s close",
            params={"decide_on": decide_on.isoformat(), "expected": expected.isoformat(),
                    "max_age": max_age}))
    return _Loaded(bars, provider.name, provider.synthetic, risks, None, freshness, decide_on)


# Validation results of bar frames already seen, keyed by content: a re-plan after a PUSH
# (or a replay) does not re-validate unchanged bars. Errors are never cached.
_VALID_BARS: OrderedDict[tuple[str, str, bytes], list[BarIssue]] = OrderedDict()
_VALID_BARS_MAX = 256


def _validated(ticker: str, df: pd.DataFrame, source: str,
               cal: calendar.SessionCalendar) -> list[BarIssue]:
    """`ensure_valid` against the sessions (XKRX + overrides) the frame spans, memoised by
    content and the closed dates."""
    digest = hashlib.blake2b(df.index.to_numpy("datetime64[ns]").tobytes(), digest_size=16)
    digest.update(np.ascontiguousarray(df.to_numpy(np.float64)).tobytes())
    digest.update(",".join(map(str, df.columns)).encode("utf-8"))
    digest.update(",".join(sorted(map(str, cal.closed))).encode("utf-8"))
    key = (ticker, source, digest.digest())
    hit = _VALID_BARS.get(key)
    if hit is not None:
        _VALID_BARS.move_to_end(key)
        return hit
    sessions = cal.session_days(df.index[0].date(), df.index[-1].date())
    issues = ensure_valid(ticker, df, sessions, source=source)
    _VALID_BARS[key] = issues
    if len(_VALID_BARS) > _VALID_BARS_MAX:
        _VALID_BARS.popitem(last=False)
    return issues


def _strategy_risks(plan: OrderPlan, signals: Signals) -> list[Risk]:
    risks = [Risk(code=c.code, severity=Severity.CRITICAL, message=c.message,
                  params={"value": c.value, "limit": c.limit})
             for c in plan.checks if not c.ok]
    regime = signals.regime
    if regime.regime.value == "BEAR":
        risks.append(Risk(code="REGIME_BEAR", severity=Severity.INFO,
                          message=f"benchmark regime BEAR for {regime.bear_days} sessions",
                          params={"days": regime.bear_days}))
    if regime.chop:
        risks.append(Risk(code="CHOP", severity=Severity.INFO,
                          message=f"ADX {regime.adx:.1f} below threshold: no new entries",
                          params={"adx": round(regime.adx or 0.0, 1)}))
    for r in plan.reasons:
        if r.startswith("CASH_LIMIT"):
            risks.append(Risk(code="CASH_LIMIT", severity=Severity.INFO, message=r,
                              params=cash_limit_params(r, plan)))
    return risks


_CASH_CUT = re.compile(r"CASH_LIMIT: (\w+) estimated cut from (\d+) to (\d+)")
_CASH_NONE = re.compile(r"CASH_LIMIT: (\w+) may not fill")


def cash_limit_params(reason: str, plan: OrderPlan) -> dict[str, str | int | float]:
    """The ticker and quantities of the planner's CASH_LIMIT reason (its own two forms,
    `strategy.planner`): the order's quantity and the estimated fill (0: may not fill)."""
    cut = _CASH_CUT.match(reason)
    if cut is not None:
        return {"ticker": cut.group(1), "sized": int(cut.group(2)), "est": int(cut.group(3))}
    none = _CASH_NONE.match(reason)
    if none is None:
        return {}
    qty = next((o.qty for o in plan.orders if o.ticker == none.group(1) and o.side is Side.BUY),
               0)
    return {"ticker": none.group(1), "sized": qty, "est": 0}


def invalid_data_params(exc: BadMarketData) -> dict[str, str | int | float]:
    """What the DATA_INVALID risk says: the ticker, the source, how many errors, and the first
    one's code and day."""
    errors = [i for i in exc.issues if i.severity == "error"] or exc.issues
    first = errors[0] if errors else None
    return {"ticker": exc.ticker, "source": exc.source or "-", "n": len(errors),
            "issue": first.code if first is not None else "-",
            "day": first.date.isoformat() if first is not None and first.date else "-"}


def plan_summary(plan: OrderPlan) -> PlanSummary:
    buys = [o for o in plan.orders if o.side is Side.BUY]
    sells = [o for o in plan.orders if o.side is Side.SELL]
    return PlanSummary(
        plan_id=plan.plan_id, decision=plan.decision, n_orders=len(plan.orders),
        n_buys=len(buys), n_sells=len(sells), reasons=plan.reasons,
        est_buy_notional=sum(o.est_notional for o in buys),
        est_sell_notional=sum(o.est_notional for o in sells),
    )


def _message(plan: OrderPlan, asof: date) -> str:
    if plan.decision is PlanDecision.BLOCKED:
        return f"plan for {asof} BLOCKED: {', '.join(plan.reasons[:3])}"
    if plan.decision is PlanDecision.EMPTY:
        return f"no orders for {asof}"
    return f"plan for {asof} READY: {len(plan.orders)} orders"


def _missing_hint(data_spec: str) -> str | None:
    """One line saying what to install when `auto`/`pykrx`/`fdr` failed for want of a package
    (a fresh clone has neither live provider), instead of every provider's error."""
    kind = data_spec.strip().lower()
    if kind not in ("auto", "pykrx", "fdr"):
        return None
    wanted = {"pykrx": ["pykrx"], "fdr": ["FinanceDataReader"],
              "auto": ["pykrx", "FinanceDataReader"]}[kind]
    if any(importlib.util.find_spec(m) is not None for m in wanted):
        return None
    if kind == "auto" and os.environ.get("KRX_CSV_DIR", "").strip():
        return None
    return (f"--data {kind}: no live market-data provider installed; run "
            "pip install -e '.[live-data]' (or use --data csv:DIR or --data demo)")


def _failed(
    store: Store, now: datetime, error: str, render: Renderer | None = None
) -> CycleResult:
    try:
        p, s = store.portfolio(), store.settings()
        mode, prev, srev = s.execution_mode, p.revision, s.revision
    except Exception:  # the state itself may be what failed
        mode, prev, srev = ExecutionMode.DRY_RUN, 0, 0
    try:
        is_session_today = calendar.is_session(now.astimezone(KST).date())
    except calendar.CalendarRangeError:  # the failure may be that very range: still report it
        is_session_today = False
    summary = OpsSummary(
        run_at=now, asof=None, is_session_today=is_session_today,
        execution_mode=mode, stage=Stage.FAILED, status=OverallStatus.FAILED,
        risks=[Risk(code="CYCLE_FAILED", severity=Severity.CRITICAL, message=error,
                    params={"error": error})],
        portfolio_revision=prev, settings_revision=srev, message=f"daily cycle failed: {error}",
    )
    try:
        text = render(summary, None) if render is not None else None
    except Exception:
        log.exception("could not render the FAILED summary")
        text = summary.message
    try:
        store.write_summary(summary, now)
    except Exception as exc:
        log.error("could not write the FAILED summary: %s", exc,
                  exc_info=not isinstance(exc, StoreError))
    return CycleResult(summary, None, EXIT_FAILURE, text)

