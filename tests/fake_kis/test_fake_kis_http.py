"""The KIS fake over real HTTP (`krx fake-kis` as a process): KIS's token-endpoint errors,
paging headers, the paper/real TR-id rule, counters, and its state file across a SIGKILL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.broker.fake_kis_server import FakeKisHandle, running_fake_kis

pytestmark = pytest.mark.integration

KEY, SECRET, CANO = "PSfakeKeyForFakeTests0123456789", "fake-secret-for-fake-tests", "50000000"
CCLD = "/uapi/domestic-stock/v1/trading/inquire-daily-ccld"


def token(kis: FakeKisHandle) -> httpx.Response:
    return httpx.post(f"{kis.base_url}/oauth2/tokenP", json={
        "grant_type": "client_credentials", "appkey": KEY, "appsecret": SECRET})


def headers(tok: str, tr_id: str, cont: str = "") -> dict[str, str]:
    return {"authorization": f"Bearer {tok}", "appkey": KEY, "appsecret": SECRET,
            "tr_id": tr_id, "custtype": "P", "tr_cont": cont}


@pytest.fixture(scope="module")
def shared_fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeKisHandle]:
    """One fake process for the tests below that need no start option of their own."""
    with running_fake_kis(tmp_dir=tmp_path_factory.mktemp("fake"), session_date="2025-03-04",
                          rate_limit=50) as kis:
        yield kis


@pytest.fixture
def kis(shared_fake: FakeKisHandle) -> FakeKisHandle:
    """The shared fake as it started: account, orders, keys, tokens, counters (`reset`)."""
    shared_fake.control("reset")
    return shared_fake


def test_token_endpoint_errors_have_kis_shape(kis: FakeKisHandle) -> None:
    first = token(kis)
    assert first.status_code == 200
    body = first.json()
    assert set(body) >= {"access_token", "access_token_token_expired", "token_type"}
    again = token(kis)
    assert again.status_code == 403
    assert again.json()["error_code"] == "EGW00133"
    wrong = httpx.post(f"{kis.base_url}/oauth2/tokenP", json={
        "grant_type": "client_credentials", "appkey": KEY, "appsecret": "nope"})
    assert wrong.json()["error_code"] == "EGW00105"
    counters = kis.counters()
    assert counters["token_requests"] == 3 and counters["token_issuances"] == 1
    assert counters["paths"]["/oauth2/tokenP"] == 3


def test_paging_headers_and_context(kis: FakeKisHandle) -> None:
    kis.control("config", page_size=2)
    for _ in range(5):
        kis.control("hts-order", ticker="069500", side="BUY", qty=1, limit=33100)
    tok = token(kis).json()["access_token"]
    params = {"CANO": CANO, "ACNT_PRDT_CD": "01", "INQR_STRT_DT": "20250304",
              "INQR_END_DT": "20250304", "CTX_AREA_FK100": "", "CTX_AREA_NK100": ""}
    conts, rows, cont = [], [], ""
    for _ in range(5):
        r = httpx.get(kis.base_url + CCLD, params=params, headers=headers(tok, "VTTC0081R",
                                                                           cont))
        body = r.json()
        assert body["rt_cd"] == "0" and all(isinstance(v, str)
                                            for row in body["output1"] for v in row.values())
        conts.append(r.headers["tr_cont"])
        rows += [row["odno"] for row in body["output1"]]
        if r.headers["tr_cont"] in ("D", "E"):
            break
        params = {**params, "CTX_AREA_FK100": body["ctx_area_fk100"],
                  "CTX_AREA_NK100": body["ctx_area_nk100"]}
        cont = "N"
    assert conts == ["F", "M", "E"] and len(set(rows)) == 5


def test_wrong_kind_tr_id_and_bad_fields(kis: FakeKisHandle) -> None:
    tok = token(kis).json()["access_token"]
    url = f"{kis.base_url}/uapi/domestic-stock/v1/trading/order-cash"
    body = {"CANO": CANO, "ACNT_PRDT_CD": "01", "PDNO": "069500", "ORD_DVSN": "00",
            "ORD_QTY": "1", "ORD_UNPR": "33100"}
    real = httpx.post(url, json=body, headers=headers(tok, "TTTC0012U")).json()
    assert real["msg_cd"] == "EGW02004" and "모의투자" in real["msg1"]
    numeric = httpx.post(url, json={**body, "ORD_QTY": 1},
                         headers=headers(tok, "VTTC0802U")).json()
    assert numeric["rt_cd"] == "1" and "ORD_QTY must be a string" in numeric["msg1"]
    assert numeric["msg_cd"] == "OPSQ2001"
    other = httpx.post(url, json={**body, "CANO": "12345678"},
                       headers=headers(tok, "VTTC0802U")).json()
    assert other["msg_cd"] == "OPSQ2000" and "CANO" in other["msg1"]
    wrong_path = httpx.post(url, json=body, headers=headers(tok, "VTTC8434R")).json()
    assert wrong_path["msg_cd"] == "OPSQ0002" and "없는 서비스 코드" in wrong_path["msg1"]
    ok = httpx.post(url, json=body, headers=headers(tok, "VTTC0802U")).json()
    assert ok["rt_cd"] == "0" and ok["output"]["ODNO"]
    assert len(kis.state()["orders"]) == 1


def test_state_file_survives_a_sigkill(tmp_path: Path) -> None:
    state = tmp_path / "fake-kis-state.json"
    with running_fake_kis(tmp_dir=tmp_path, session_date="2025-03-04",
                          state_file=state) as kis:
        tok = token(kis).json()["access_token"]
        kis.control("hts-order", ticker="069500", side="BUY", qty=3, limit=33100)
        before = kis.state()
        kis.kill()
        kis.start()
        assert kis.state() == before
        r = httpx.get(f"{kis.base_url}/uapi/domestic-stock/v1/trading/inquire-balance",
                      params={"CANO": CANO, "ACNT_PRDT_CD": "01"},
                      headers=headers(tok, "VTTC8434R"))
        assert r.json()["rt_cd"] == "0"  # the token survived too
        assert r.json()["output1"][0]["hldg_qty"] == "3"


def test_initial_holdings_and_reset(tmp_path: Path) -> None:
    with running_fake_kis(tmp_dir=tmp_path, session_date="2025-03-04", cash=1_000.0,
                          holdings={"069500": (12, 33_000.0)}) as kis:
        assert kis.state()["holdings"] == {"069500": {"qty": 12, "avg_price": 33_000.0}}
        kis.control("account", cash=5.0, holdings={"069500": {"qty": 0, "avg_price": 0}})
        assert kis.state()["holdings"] == {} and kis.state()["cash"] == 5.0
        kis.control("reset")
        assert kis.state()["holdings"]["069500"]["qty"] == 12 and kis.state()["cash"] == 1_000


def test_fill_mode_from_the_cli_and_the_control_route(tmp_path: Path) -> None:
    with running_fake_kis(tmp_dir=tmp_path, session_date="2025-03-04", cash=1_000_000.0,
                          fill_mode="open") as kis:
        assert kis.state()["config"]["fill_mode"] == "open"
        # 069500 opened at 33,xxx on 2025-03-04: a buy limited 1,000 won below it fills anyway
        kis.control("hts-order", ticker="069500", side="BUY", qty=1, limit=32000)
        assert kis.state()["orders"][0]["filled"] == 1
        bad = httpx.post(f"{kis.base_url}/__fake__/config", json={"fill_mode": "close"})
        assert bad.status_code == 422 and "fill_mode" in bad.json()["error"]
        assert kis.state()["config"]["fill_mode"] == "open"  # unchanged
        kis.control("config", fill_mode="limit")
        kis.control("hts-order", ticker="069500", side="BUY", qty=1, limit=32000)
        assert [o["filled"] for o in kis.state()["orders"]] == [1, 0]
        kis.control("reset")
        assert kis.state()["config"]["fill_mode"] == "open"  # the CLI's mode again


def test_cli_requires_data() -> None:
    out = subprocess.run([sys.executable, "-m", "krx_cli.main", "fake-kis", "--port", "1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--data" in out.stderr
    bad = subprocess.run([sys.executable, "-m", "krx_cli.main", "fake-kis", "--port", "1",
                          "--data", "csv:.", "--holding", "069500:x:1"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--holding" in bad.stderr
