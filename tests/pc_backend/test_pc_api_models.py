"""The PC API's typed seams: every answer has a `contracts` model, the routes declare it, the
cockpit's `PcClient` returns it; domain errors carry no status and one table maps them."""

from __future__ import annotations

import ast
import inspect
from datetime import date
from pathlib import Path

import pytest
from oci_server import error_of
from pc_server import PcServer

import pc_backend.research
import pc_backend.service
import pc_backend.workspace
import strategy.research
from contracts.pc import Diff, PcHealth, PcStatus, WalkForwardRequest
from contracts.research import BacktestResponse, SweepResponse, WalkForwardResponse
from pc_backend import errors
from pc_cockpit.client import CockpitConfig, PcClient, PcError

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_every_route_answers_a_declared_model(pc_offline: PcServer) -> None:
    with pc_offline.client() as c:
        spec = c.get("/openapi.json").json()
    undeclared = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            ok = {code: r for code, r in op["responses"].items() if code.startswith("2")}
            for code, answer in ok.items():
                if code == "204":
                    continue
                schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
                if not schema or schema == {}:
                    undeclared.append(f"{method.upper()} {path} {code}")
    assert undeclared == []
    bodies = spec["components"]["schemas"]
    for name in ("BacktestResponse", "SweepResponse", "WalkForwardResponse", "PcStatus",
                 "ShutdownResponse"):
        assert name in bodies, name


def test_pc_client_returns_the_contracts_models(pc_offline: PcServer) -> None:
    client = PcClient(CockpitConfig(pc_offline.base_url, pc_offline.workspace / "pc_token"))
    try:
        assert isinstance(client.health(), PcHealth)
        status = client.status()
        assert isinstance(status, PcStatus) and status.oci.reachable is False
        assert isinstance(client.diff(), Diff)
        start, end = date(2024, 1, 2), date(2025, 12, 29)
        bt = client.backtest(start, end, {"rsi_period": 30})
        assert isinstance(bt, BacktestResponse) and bt.params["rsi_period"] == 30
        assert bt.series.equity.dates[0] == start and bt.series.equity.dates[-1] == end
        sw = client.sweep(start, end, {"rsi_period": [30, 40]})
        assert isinstance(sw, SweepResponse) and sw.attrs.n_combinations == 2
        assert sorted(r["rsi_period"] for r in sw.rows) == [30, 40]
        wf = client.walkforward(WalkForwardRequest(
            start=date(2021, 1, 4), end=end, grid={"rsi_period": [30, 40]}, train_months=12,
            test_months=6, step_months=12))
        assert isinstance(wf, WalkForwardResponse) and wf.windows and wf.oos_equity
        with pytest.raises(PcError) as err:  # a domain error through the one table
            client.backtest(end, start)
        assert (err.value.status, err.value.code, err.value.field) == (422, "VALIDATION_ERROR",
                                                                       "end")
    finally:
        client.close()


def test_shutdown_answers_its_model(pc_offline: PcServer) -> None:
    with pc_offline.client() as c:
        r = c.post("/api/v1/shutdown")
    # Served by `krx pc serve`: the stop is accepted, with its model's body.
    assert r.status_code == 202 and r.json() == {"status": "stopping"}
    assert pc_offline.proc.wait(timeout=30) == 0


def test_domain_errors_carry_no_http_status() -> None:
    """No domain module of the PC backend (nor `strategy.research`) names a status code; the
    routers do not reach into the service's client, workspace or config."""
    domain = [REPO / "pc_backend" / f"{m}.py" for m in ("workspace", "service", "research")]
    domain.append(REPO / "strategy" / "research.py")
    for path in domain:
        text = path.read_text(encoding="utf-8")
        assert "status_code =" not in text and "PcApiError" not in text, path
        assert "ApiError(" not in text, path
    for path in (REPO / "pc_backend" / "routers").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "service":
                assert node.attr not in ("client", "workspace", "config", "link"), path
    # Every error class a domain module defines has an answer (its own or a base's entry).
    for module in (pc_backend.workspace, pc_backend.service, pc_backend.research,
                   strategy.research):
        for _, kind in inspect.getmembers(module, inspect.isclass):
            if issubclass(kind, Exception) and kind.__module__ == module.__name__:
                if kind is strategy.research.DataSpecError:
                    continue  # the PC names KRX_PC_DATA: `research.DataSpecUnusable`
                assert any(k in errors.ERROR_TABLE for k in kind.__mro__), kind


def test_bad_ticket_id_is_a_422_from_the_table(pc_offline: PcServer) -> None:
    with pc_offline.client() as c:
        r = c.get("/api/v1/tickets/bad%20id")
    assert r.status_code == 422 and error_of(r)["field"] == "ticket_id"
