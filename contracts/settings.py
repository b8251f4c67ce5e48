"""`state/settings.json`: strategy parameters, universe, mode, guardrails, notifications."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt, model_validator

from contracts.common import (
    MAX_KRW,
    Contract,
    KstDatetime,
    SessionDay,
    Ticker,
    now_kst,
    rule_error,
)

DEFAULT_UNIVERSE = ["069500", "229200", "091160", "305720", "005930"]


class ExecutionMode(StrEnum):
    """DRY_RUN: paper fills at the next open. MANUAL: the operator trades at the HTS and
    records the fills. BROKER_PAPER / BROKER_LIVE: OCI sends the approved ticket to the broker
    (KIS 모의투자 / a real account); both need broker credentials on OCI, BROKER_LIVE also
    `live_trading_acknowledged`."""

    DRY_RUN = "DRY_RUN"
    MANUAL = "MANUAL"
    BROKER_PAPER = "BROKER_PAPER"
    BROKER_LIVE = "BROKER_LIVE"

    @property
    def is_broker(self) -> bool:
        """Does OCI place this mode's orders at the broker itself?"""
        return self in BROKER_MODES


BROKER_MODES = frozenset({ExecutionMode.BROKER_PAPER, ExecutionMode.BROKER_LIVE})


class StrategyParams(Contract):
    """Crisis Alpha v1 parameters; the defaults are the strategy's documented ones."""

    regime_ma_long: Annotated[int, Field(ge=2, le=1000)] = 120
    ma_short_period: Annotated[int, Field(ge=2, le=1000)] = 60
    golden_cross_override: StrictBool = True
    adx_period: Annotated[int, Field(ge=2, le=500)] = 30
    adx_threshold: Annotated[float, Field(ge=0, le=100)] = 17.5
    chop_action: Literal["block_entries", "exit_all"] = "block_entries"
    min_regime_hold_days: Annotated[int, Field(ge=0, le=1000)] = 30
    rsi_period: Annotated[int, Field(ge=2, le=500)] = 40
    rsi_buy_threshold: Annotated[float, Field(ge=0, le=100)] = 50.0
    rsi_sell_threshold: Annotated[float, Field(ge=0, le=100)] = 70.0
    stop_loss_pct: Annotated[float, Field(gt=0, lt=1)] = 0.12
    max_positions: Annotated[int, Field(ge=1, le=50)] = 5
    min_cash_pct: Annotated[float, Field(ge=0, lt=1)] = 0.01
    commission: Annotated[float, Field(ge=0, lt=0.05)] = 0.00015
    slippage: Annotated[float, Field(ge=0, lt=0.05)] = 0.0005
    initial_capital: Annotated[float, Field(gt=0, le=MAX_KRW)] = 10_000_000.0

    @model_validator(mode="after")
    def _coherent(self) -> StrategyParams:
        if self.ma_short_period >= self.regime_ma_long:
            raise rule_error("ma_order", "ma_short_period",
                             "ma_short_period ({short}) must be shorter than regime_ma_long "
                             "({long})", short=self.ma_short_period, long=self.regime_ma_long)
        if self.rsi_buy_threshold >= self.rsi_sell_threshold:
            raise rule_error("rsi_order", "rsi_buy_threshold",
                             "rsi_buy_threshold ({buy}) must be below rsi_sell_threshold "
                             "({sell})", buy=self.rsi_buy_threshold,
                             sell=self.rsi_sell_threshold)
        return self


class Guardrails(Contract):
    """Limits on buys enforced on OCI; a violation blocks the plan (sells are never blocked)."""

    max_orders: Annotated[int, Field(ge=1, le=1000)] = 20
    max_single_order_pct: Annotated[float, Field(gt=0, le=1)] = 0.25
    max_buy_turnover_pct: Annotated[float, Field(gt=0, le=10)] = 1.0
    max_data_age_sessions: Annotated[int, Field(ge=0, le=10)] = 0


class NotificationPrefs(Contract):
    apprise_urls: list[Annotated[str, Field(min_length=1, max_length=2000)]] = Field(
        default_factory=list, max_length=20, description="apprise URLs; empty = off")
    daily_summary: StrictBool = True
    incidents: StrictBool = True


NotifyLevel = Literal["on", "silent", "off"]


class TelegramPrefs(Contract):
    """Who may command the OCI Telegram bot (`krx telegram serve`): an update is answered only
    when its chat AND its sender are listed; empty = nobody."""

    allowed_chat_ids: list[StrictInt] = Field(default_factory=list, max_length=50,
                                        description="Telegram chat ids the bot answers in")
    allowed_user_ids: list[StrictInt] = Field(default_factory=list, max_length=50,
                                        description="Telegram user ids the bot obeys")
    notify: dict[Annotated[str, Field(pattern=r"^[A-Z_]{1,40}$")], NotifyLevel] = Field(
        default_factory=dict, max_length=20,
        description="notification kind (DAILY_SUMMARY, EMERGENCY_STOP, ...) → on | silent | "
                    "off, sent by the bot to the allowed chats (needs KRX_TELEGRAM_TOKEN_FILE "
                    "in the sending process); a kind not listed is off")


MAX_CALENDAR_OVERRIDES = 100
# A late open is a time of the regular session (09:00-15:30 KST), on the minute.
_HHMM = r"^(09:(0[1-9]|[1-5][0-9])|1[0-4]:[0-5][0-9]|15:([0-2][0-9]))$"


class CalendarOverrides(Contract):
    """Ad-hoc market closures and late opens, ahead of `exchange_calendars` (elections and
    temporary holidays reach XKRX only once KRX confirms them, sometimes days before). The
    calendar applies them everywhere (`strategy.calendar.SessionCalendar`): a closed date is
    never a session; a late open moves the session's open (the CSAT day opens at 10:00)."""

    closed_dates: list[SessionDay] = Field(
        default_factory=list, max_length=MAX_CALENDAR_OVERRIDES,
        description="dates the exchange is closed although XKRX lists them as sessions")
    late_opens: dict[SessionDay, Annotated[str, Field(pattern=_HHMM)]] = Field(
        default_factory=dict, max_length=MAX_CALENDAR_OVERRIDES,
        description="session date -> opening time 'HH:MM' KST (after 09:00, before 15:30)")

    @model_validator(mode="after")
    def _consistent(self) -> CalendarOverrides:
        seen: set[date] = set()
        for i, d in enumerate(self.closed_dates):
            if d in seen:
                raise rule_error("duplicate", f"closed_dates.{i}",
                                 "closed_dates[{i}] {value} appears twice", i=i, value=str(d))
            seen.add(d)
        both = sorted(seen & set(self.late_opens))
        if both:
            raise ValueError(f"late_opens.{both[0]}: {both[0]} is also in closed_dates; a "
                             "closed day has no open")
        return self


class Settings(Contract):
    benchmark: Ticker = "069500"
    universe: list[Ticker] = Field(default_factory=lambda: list(DEFAULT_UNIVERSE), min_length=1,
                                   max_length=200)
    strategy: StrategyParams = Field(default_factory=StrategyParams)
    execution_mode: ExecutionMode = ExecutionMode.DRY_RUN
    live_trading_acknowledged: StrictBool = Field(
        default=False,
        description="the operator's acknowledgement that BROKER_LIVE sends real orders with "
                    "real money; BROKER_LIVE is refused without it (PUSHed with a reason)")
    keep_unfilled_at_close: StrictBool = Field(
        default=False,
        description="broker modes: leave an order's unfilled remainder open at the close "
                    "(15:30 KST) instead of cancelling it (the default)")
    guardrails: Guardrails = Field(default_factory=Guardrails)
    notifications: NotificationPrefs = Field(default_factory=NotificationPrefs)
    telegram: TelegramPrefs = Field(default_factory=TelegramPrefs)
    calendar: CalendarOverrides = Field(default_factory=CalendarOverrides)
    updated_at: KstDatetime = Field(default_factory=now_kst)
    revision: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _unique_universe(self) -> Settings:
        seen: set[str] = set()
        for i, code in enumerate(self.universe):
            if code in seen:
                raise rule_error("duplicate", f"universe.{i}",
                                 "universe[{i}] '{value}' appears twice", i=i, value=code)
            seen.add(code)
        return self
