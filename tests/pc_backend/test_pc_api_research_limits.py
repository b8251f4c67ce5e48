"""The PC backend stays responsive and answers the documented 4xx around research requests:
the schemathesis findings of issue 11 (window before the data, unbounded grids, `since` as a
number, undocumented 401) as plain tests against a real `krx pc serve`."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from oci_server import REPO_DAILY, OciServer, error_of
from pc_server import PcFactory, PcServer, hash_files

from pc_backend import research

pytestmark = pytest.mark.integration

# 8 x 8 x 8 x 8 = 4,096 combinations in as many indicator groups (several seconds of CPU; the
# PC accepts up to research.MAX_GRID_COMBINATIONS).
# 16,384 combinations (the engine got faster: 4,096 could end before the first poll).
HEAVY_GRID = {"regime_ma_long": list(range(100, 108)), "ma_short_period": list(range(20, 28)),
              "rsi_period": list(range(10, 18)), "adx_period": list(range(10, 18)),
              "rsi_buy_threshold": [40.0, 42.0, 44.0, 46.0]}


def test_pc_research_health_and_status_stay_responsive_during_a_heavy_sweep(
        oci: OciServer, pc_factory: PcFactory) -> None:
    pc = pc_factory(oci, env={"KRX_PC_DATA": f"csv:{REPO_DAILY}"})
    assert 8 ** 4 * 4 <= research.MAX_GRID_COMBINATIONS
    answer: dict[str, httpx.Response] = {}

    def heavy() -> None:
        with pc.client(timeout=600) as c:
            answer["sweep"] = c.post("/api/v1/sweep", json={
                "start": "2021-01-04", "end": "2025-12-29", "grid": HEAVY_GRID})

    worker = threading.Thread(target=heavy)
    worker.start()
    slowest = {"/health": 0.0, "/api/v1/status": 0.0}
    polls = 0
    try:
        time.sleep(0.3)  # the sweep is under way
        with pc.client(timeout=5) as c:
            while worker.is_alive() and polls < 40:
                for path in slowest:
                    t0 = time.monotonic()
                    r = c.get(path)
                    slowest[path] = max(slowest[path], time.monotonic() - t0)
                    assert r.status_code == 200, r.text
                polls += 1
                time.sleep(0.2)
            still_running = worker.is_alive()
    finally:
        worker.join(timeout=600)
    assert answer["sweep"].status_code == 200, answer["sweep"].text
    assert still_running or polls >= 3, "the sweep ended before it could be observed"
    assert slowest["/health"] < 2.0 and slowest["/api/v1/status"] < 4.0, slowest


def test_pc_research_refuses_a_window_before_the_data_and_a_grid_too_large(
        pc_offline: PcServer) -> None:
    pc = pc_offline
    files = hash_files(pc.workspace)
    with pc.client() as c:
        for route, extra in (("/api/v1/backtest", {}), ("/api/v1/sweep",
                                                         {"grid": {"rsi_period": [30]}}),
                             ("/api/v1/walkforward", {"grid": {"rsi_period": [30]}})):
            r = c.post(route, json={"start": "2000-01-01", "end": "2000-01-01", **extra})
            assert r.status_code == 422, (route, r.text)
            assert error_of(r)["field"] == "end" and "2020-01-02" in error_of(r)["message"]
        far = c.post("/api/v1/backtest", json={"start": "0001-01-01", "end": "9999-12-31"})
        assert far.status_code == 422 and error_of(far)["field"] == "start", far.text

        big = {"rsi_period": list(range(2, 202)), "rsi_buy_threshold": list(range(0, 101))}
        r = c.post("/api/v1/sweep", json={"start": "2021-01-04", "end": "2025-12-29",
                                          "grid": big})
        assert r.status_code == 422 and error_of(r)["field"] == "grid", r.text
        r = c.post("/api/v1/sweep", json={"start": "2021-01-04", "end": "2025-12-29",
                                          "grid": {"rsi_period": list(range(2, 1100))}})
        assert r.status_code == 422 and error_of(r)["field"] == "grid.rsi_period", r.text
        wf = {"rsi_period": list(range(2, 102)), "rsi_buy_threshold": list(range(0, 60))}
        r = c.post("/api/v1/walkforward", json={"start": "2021-01-04", "end": "2025-12-29",
                                                "grid": wf})
        assert r.status_code == 422 and error_of(r)["field"] == "grid", r.text
    assert hash_files(pc.workspace) == files


def test_pc_audit_since_must_be_a_datetime_with_offset(pc: PcServer) -> None:
    with pc.client() as c:
        for bad in ("0.5", "1700000000", "2025-12-29T09:00:00"):
            r = c.get("/api/v1/audit", params={"since": bad})
            assert r.status_code == 422, (bad, r.text)
            assert error_of(r)["field"] == "since"
        ok = c.get("/api/v1/audit", params={"since": "2000-01-01T00:00:00+09:00"})
        assert ok.status_code == 200 and ok.json(), ok.text


def test_pc_openapi_documents_401_and_the_error_body_on_every_api_route(
        pc_offline: PcServer) -> None:
    schema = httpx.get(f"{pc_offline.base_url}/openapi.json", trust_env=False).json()
    routes = [(path, method, op) for path, ops in schema["paths"].items()
              for method, op in ops.items() if path.startswith("/api/v1/")]
    assert len(routes) > 20
    for path, method, op in routes:
        assert "401" in op["responses"], (method, path)
        ref = op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorBody"), (method, path)
    assert "401" not in schema["paths"]["/health"]["get"]["responses"]
    assert {"429", "503"} <= set(schema["paths"]["/api/v1/sweep"]["post"]["responses"])
    with httpx.Client(base_url=pc_offline.base_url, trust_env=False) as anon:
        r = anon.post("/api/v1/shutdown")
    assert r.status_code == 401 and error_of(r)["field"] == "Authorization"
    assert pc_offline.proc.poll() is None


def test_pc_workspace_put_refuses_true_false_as_a_number(pc_offline: PcServer) -> None:
    files = hash_files(pc_offline.workspace)
    with pc_offline.client() as c:
        r = c.put("/api/v1/workspace/portfolio", json={"cash": True, "holdings": []})
        assert r.status_code == 422 and error_of(r)["field"] == "cash", r.text
        assert "true/false" in error_of(r)["message"]
    assert hash_files(pc_offline.workspace) == files
