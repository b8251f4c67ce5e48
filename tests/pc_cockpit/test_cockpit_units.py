"""Pure parts of the cockpit: labels in both languages, KRW/KST formats and colours, the
client's operator-readable errors, reading the backend's backtest answer."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from contracts.research import BacktestResponse
from contracts.settings import Guardrails, NotificationPrefs, StrategyParams
from contracts.signals import ReasonCode
from contracts.summary import Stage
from krx_common.defaults import GAIN_COLOR, KST, LOSS_COLOR
from pc_cockpit import fmt
from pc_cockpit.charts import RemoteBacktest
from pc_cockpit.client import CockpitConfig, PcClient, PcError
from pc_cockpit.i18n import TEXT, field_label, t


def test_i18n_every_label_has_korean_and_english_with_the_same_placeholders():
    for key, (ko, en) in TEXT.items():
        assert ko and en, key
        assert set(re.findall(r"{(\w+)", ko)) == set(re.findall(r"{(\w+)", en)), key


def test_i18n_covers_every_stage_and_reason_code():
    for stage in Stage:
        assert f"stage.{stage.value}" in TEXT and f"next.{stage.value}" in TEXT
    for reason in ReasonCode:
        assert f"reason.{reason.value}" in TEXT


def test_i18n_every_strategy_parameter_and_guardrail_has_korean_and_english_labels():
    fields = [("param", n) for n in StrategyParams.model_fields] + \
        [("guard", n) for n in Guardrails.model_fields] + \
        [("notify", n) for n in NotificationPrefs.model_fields if n != "apprise_urls"]
    for prefix, name in fields:
        ko, en = field_label(prefix, name, "ko"), field_label(prefix, name, "en")
        assert f"{prefix}.{name}" in TEXT, name
        assert ko != name and en != name and ko != en, name
        assert any("\uac00" <= ch <= "\ud7a3" for ch in ko), ko  # Hangul
    labels = [field_label(p, n, "ko") for p, n in fields]
    assert len(set(labels)) == len(labels)  # no two fields share a label
    assert field_label("param", "no_such_field") == "no_such_field"


def test_i18n_defaults_to_korean_and_falls_back_to_the_key():
    assert t("nav.overview") == "개요"
    assert t("nav.overview", "en") == "Overview"
    assert t("no.such.key") == "no.such.key"


def test_fmt_krw_separators_and_colours_gains_red_losses_blue():
    assert fmt.krw(12345678.4) == "12,345,678원"
    assert fmt.krw(12345678.4, "en") == "₩12,345,678"
    assert fmt.krw(None) == "—"
    assert fmt.color_of(0.1) == GAIN_COLOR == "#d62728"
    assert fmt.color_of(-0.1) == LOSS_COLOR
    assert fmt.signed_markdown(0.05, "+5%") == ":red[+5%]"
    assert fmt.signed_markdown(-0.05, "-5%") == ":blue[-5%]"
    assert fmt.pct(0.01234, signed=True) == "+1.23%"


def test_fmt_timestamps_in_kst_and_naive_refused():
    utc = datetime(2026, 11, 30, 0, 5, tzinfo=UTC)
    assert fmt.kst(utc) == "2026-11-30 09:05 KST"
    assert fmt.kst("2026-11-30T09:05:07+09:00", seconds=True) == "2026-11-30 09:05:07 KST"
    assert fmt.kst(datetime(2026, 11, 30, 9, 5)) == "—"  # noqa: DTZ001 (naive on purpose)
    assert datetime(2026, 1, 1, tzinfo=KST).tzinfo is KST


def _client(tmp_path, handler) -> PcClient:  # noqa: ANN001
    token = tmp_path / "pc_token"
    token.write_text("t" * 40, encoding="utf-8")
    return PcClient(CockpitConfig("http://127.0.0.1:9", token),
                    transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(("status", "body", "expected"), [
    (503, {"error": "OCI_UNREACHABLE", "message": "tunnel down."}, "OCI에 연결할 수 없습니다"),
    (409, {"error": "CONFLICT", "message": "x", "conflicts": [{"path": "cash"}]}, "충돌"),
    (423, {"error": "EMERGENCY_STOP", "message": "stopped by ops"}, "stopped by ops"),
    (422, {"error": "VALIDATION_ERROR", "message": "must be > 0", "field": "cash"}, "cash"),
    (409, {"error": "STALE_TICKET", "message": "plan changed"}, "다시 초안을 작성하세요"),
    (401, {"error": "UNAUTHORIZED", "message": "bad token"}, "토큰"),
    (500, {"error": "INTERNAL_ERROR", "message": "boom"}, "INTERNAL_ERROR (500): boom"),
])
def test_client_turns_error_answers_into_operator_messages(tmp_path, status, body, expected):
    # The PC backend's HTTP boundary only: every answer shape of docs/pc-api.md errors.
    client = _client(tmp_path, lambda request: httpx.Response(status, json=body))
    with pytest.raises(PcError) as err:
        client.status()
    assert expected in err.value.user_message()
    assert err.value.code == body["error"]
    if body["error"] == "CONFLICT":
        assert err.value.conflicts == [{"path": "cash"}]


def test_client_transport_failure_says_start_the_backend(tmp_path):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(PcError) as err:
        _client(tmp_path, refuse).status()
    assert err.value.code == "PC_DOWN"
    assert "krx pc serve" in err.value.user_message()


def test_remote_backtest_reads_the_series_chop_and_fills_of_the_answer():
    days = ["2025-01-02", "2025-01-03"]
    payload = {
        "metrics": {"total_return": 0.1, "sharpe": None},
        "benchmark_metrics": {"total_return": 0.05}, "params": {}, "meta": {},
        "series": {"equity": {"dates": days, "values": [1.0, 1.1]},
                   "benchmark": {"dates": days, "values": [1.0, 0.9]},
                   "regime": {"dates": days, "values": ["BULL", "BEAR"]},
                   "chop": {"dates": days, "values": [None, True]},
                   "exposure": {"dates": days, "values": [0.0, 0.5]}},
        "trades": [{"ticker": "069500", "entry_date": "2025-01-02", "exit_date": "2025-01-03",
                    "entry_price": 10.0, "exit_price": 11.0, "qty": 3,
                    "entry_reason": "RSI_DIP_ENTRY", "exit_reason": "STOP_LOSS"}],
        "fills": [{"date": "2025-01-02", "ticker": "069500", "side": "BUY", "qty": 3,
                   "price": 10.0, "reason": "RSI_DIP_ENTRY"}],
        "per_year": [{"year": 2025, "return": 0.1}],
        "open_positions": [], "order_events": [],
    }
    r = RemoteBacktest.from_model(BacktestResponse.model_validate(payload))
    assert list(r.equity) == [1.0, 1.1] and list(r.regime) == ["BULL", "BEAR"]
    assert list(r.chop) == [None, True]
    # The answer's fills as they are: the round trip's sell is not invented from the trade.
    assert list(r.fills["side"]) == ["BUY"] and str(r.fills["date"].iloc[0])[:10] == "2025-01-02"
    assert r.start == "2025-01-02" and r.end == "2025-01-03"
    assert r.meta["benchmark_metrics"] == {"total_return": 0.05}
    empty = RemoteBacktest.from_model(BacktestResponse.model_validate({
        **payload, "fills": [], "series": {
            k: {"dates": [], "values": []} for k in payload["series"]}}))
    assert empty.fills.empty and "ticker" in empty.fills.columns and empty.chop is None


def test_strategy_form_knows_every_parameter_kind():
    # The settings form draws one widget per StrategyParams field: bool, choice or number.
    kinds = {type(getattr(StrategyParams(), n)).__name__ for n in StrategyParams.model_fields}
    assert kinds <= {"int", "float", "bool", "str"}


def test_cockpit_html_report_lists_the_position_still_open_at_the_end():
    """Issue 16 item 15: the cockpit's HTML report has the trade list with the open position
    (the CLI lists it), from the PC backend's answer (`serialize.result_model`)."""
    from datetime import date

    from contracts.settings import Settings
    from pc_cockpit.charts import report_html
    from strategy.backtest.engine import run_backtest
    from strategy.backtest.serialize import result_model
    from strategy.research import prepare_backtest

    start, end = date(2024, 9, 2), date(2025, 9, 2)
    daily = Path(__file__).resolve().parents[2] / "data" / "krx" / "daily"
    setup = prepare_backtest(Settings(), f"csv:{daily}", start, end, params={}, universe=None,
                             today=date(2025, 9, 3))
    result = run_backtest(setup.bars, setup.settings, start, end, compiled=False)
    held = result.open_positions
    assert len(held) == 1  # the window ends holding 305720
    remote = RemoteBacktest.from_model(result_model(result))
    page = report_html(remote)
    assert 'id="trade-list"' in page
    assert "OPEN (marked at the last close)" in page and "305720" in page
    assert "1 position(s) still open at the end" in page
    assert f"{int(held['qty'].iloc[0]):,}" in page
