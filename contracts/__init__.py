"""Every schema that crosses a boundary (file or HTTP), one module per artifact."""

from pydantic import BaseModel

from contracts.audit import AuditAction, AuditEntry, FieldChange
from contracts.broker import (
    BrokerBalance,
    BrokerStatus,
    ReconcileResolveRequest,
    Reconciliation,
)
from contracts.common import now_kst
from contracts.instruments import Instrument, all_instruments, instrument, is_known
from contracts.ops import CycleRequest, CycleResponse, Health
from contracts.pc import (
    Diff,
    PcHealth,
    PcPushResponse,
    PcStatus,
    PullResult,
    ShutdownResponse,
    StoredDraft,
)
from contracts.plan import GuardrailCheck, OrderPlan, PlanDecision, PlannedOrder, Side
from contracts.portfolio import Holding, Portfolio
from contracts.research import BacktestResponse, SweepResponse, WalkForwardResponse
from contracts.settings import (
    ExecutionMode,
    Guardrails,
    NotificationPrefs,
    Settings,
    StrategyParams,
)
from contracts.signals import ReasonCode, Regime, RegimeState, SignalAction, Signals, TickerSignal
from contracts.summary import (
    DataFreshness,
    OpsSummary,
    OverallStatus,
    PlanSummary,
    Risk,
    Severity,
    Stage,
)
from contracts.sync import (
    EmergencyStop,
    EmergencyStopRequest,
    PushRequest,
    PushResponse,
    SyncSnapshot,
)
from contracts.ticket import (
    Fill,
    FillsRequest,
    Ticket,
    TicketEvent,
    TicketOrder,
    TicketRecord,
    TicketState,
)

# Every model exported as JSON Schema to contracts/schemas/<name>.json.
SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "portfolio": Portfolio,
    "settings": Settings,
    "signals": Signals,
    "order_plan": OrderPlan,
    "ticket": Ticket,
    "ticket_record": TicketRecord,
    "fill": Fill,
    "fills_request": FillsRequest,
    "ops_summary": OpsSummary,
    "audit_entry": AuditEntry,
    "emergency_stop": EmergencyStop,
    "emergency_stop_request": EmergencyStopRequest,
    "sync_snapshot": SyncSnapshot,
    "push_request": PushRequest,
    "push_response": PushResponse,
    "health": Health,
    "cycle_request": CycleRequest,
    "cycle_response": CycleResponse,
    # the PC backend's answers (docs/pc-api.md)
    "pc_health": PcHealth,
    "pc_status": PcStatus,
    "pull_result": PullResult,
    "diff": Diff,
    "pc_push_response": PcPushResponse,
    "stored_draft": StoredDraft,
    "shutdown_response": ShutdownResponse,
    "backtest_response": BacktestResponse,
    "sweep_response": SweepResponse,
    "walkforward_response": WalkForwardResponse,
    # broker modes (OCI's /broker/* answers)
    "reconciliation": Reconciliation,
    "broker_status": BrokerStatus,
    "broker_balance": BrokerBalance,
    "reconcile_resolve_request": ReconcileResolveRequest,
}

__all__ = [
    "SCHEMA_MODELS", "AuditAction", "AuditEntry", "BacktestResponse", "DataFreshness",
    "Diff", "EmergencyStop",
    "EmergencyStopRequest", "ExecutionMode", "FieldChange", "Fill", "FillsRequest",
    "GuardrailCheck", "Guardrails", "Holding", "Instrument", "NotificationPrefs", "OpsSummary",
    "OrderPlan", "OverallStatus", "PcHealth", "PcPushResponse", "PcStatus", "PlanDecision",
    "PlanSummary", "PlannedOrder", "Portfolio", "PullResult",
    "PushRequest", "PushResponse", "ReasonCode", "Regime", "RegimeState", "Risk", "Settings",
    "Severity", "ShutdownResponse", "Side", "SignalAction", "Signals", "Stage",
    "StoredDraft", "StrategyParams", "SweepResponse", "SyncSnapshot",
    "Ticket", "TicketEvent", "TicketOrder", "TicketRecord", "TicketState", "TickerSignal",
    "WalkForwardResponse", "all_instruments", "instrument", "is_known", "now_kst",
]
