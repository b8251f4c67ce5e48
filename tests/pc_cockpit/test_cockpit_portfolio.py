"""Portfolio page: edit cash in the workspace, the field-level diff, PUSH with a required
reason (OCI's new revision shown), a 409 conflict resolved per field, input validation."""

from __future__ import annotations

import pandas as pd
import pytest
from cockpit_stack import Stack, pull, texts

from contracts.portfolio import Portfolio
from pc_cockpit.forms import FormError, MissingCell, build_portfolio

pytestmark = pytest.mark.integration


def submit(at, label: str):  # noqa: ANN001, ANN201
    """Click the (form) button labelled `label` and rerun."""
    button = next(b for b in at.button if b.label == label)
    return button.click().run()


def oci_snapshot(stack: Stack) -> dict:
    with stack.oci_client() as c:
        return c.get("/api/v1/sync/snapshot").json()


def test_portfolio_cash_edit_diff_and_push_show_ocis_new_revision(fresh_stack, cockpit):
    pull(fresh_stack)
    before = oci_snapshot(fresh_stack)
    at = cockpit(fresh_stack, page="portfolio")
    at.number_input(key="pf_cash").set_value(12_345_678.0)
    submit(at, "로컬 작업본에 저장")
    assert any("작업본에 저장됨: 변경 1건" in s.value for s in at.success), texts(at)
    diff = at.dataframe[-1].value
    assert list(diff["필드"]) == ["cash"]
    assert oci_snapshot(fresh_stack)["revision"] == before["revision"]  # not pushed yet
    # PUSH without a reason: refused locally, OCI untouched
    submit(at, "PUSH")
    assert any("사유를 입력하세요" in w.value for w in at.warning)
    assert oci_snapshot(fresh_stack)["revision"] == before["revision"]
    at.text_input(key="portfolio_push_reason").input("deposit 2.3M")
    submit(at, "PUSH")
    after = oci_snapshot(fresh_stack)
    assert after["revision"] > before["revision"]
    assert after["portfolio"]["cash"] == 12_345_678.0
    assert any(f"OCI 응답: 새 리비전 {after['revision']} " in s.value for s in at.success), \
        texts(at)
    with fresh_stack.oci_client() as c:
        entry = c.get("/api/v1/audit", params={"action": "PUSH"}).json()[-1]
    assert entry["reason"] == "deposit 2.3M"
    change = {"path": "portfolio.cash", "before": 10_000_000.0, "after": 12_345_678.0}
    assert change in entry["changes"]


def test_portfolio_conflict_shows_base_mine_theirs_and_pushes_the_pick(fresh_stack, cockpit):
    pull(fresh_stack)
    at = cockpit(fresh_stack, page="portfolio")
    at.number_input(key="pf_cash").set_value(11_000_000.0)
    submit(at, "로컬 작업본에 저장")
    # Meanwhile OCI's cash changes (another PC, or a fill).
    snap = oci_snapshot(fresh_stack)
    theirs = dict(snap["portfolio"], cash=9_000_000.0)
    with fresh_stack.oci_client() as c:
        r = c.post("/api/v1/sync/push", json={"portfolio": theirs, "reason": "other desk"},
                   headers={"If-Match": f'"{snap["revision"]}"'})
        assert r.status_code == 200, r.text
    at.text_input(key="portfolio_push_reason").input("my deposit")
    submit(at, "PUSH")
    assert not at.exception
    assert any("충돌" in e.value for e in at.error), texts(at)
    assert oci_snapshot(fresh_stack)["portfolio"]["cash"] == 9_000_000.0  # nothing pushed
    three_way = next(d.value for d in at.dataframe if "OCI 값" in d.value.columns)
    row = three_way[three_way["필드"] == "cash"].iloc[0]
    assert (row["기준 (PULL)"], row["내 값"], row["OCI 값"]) == \
        ("10,000,000", "11,000,000", "9,000,000")
    at.radio(key="portfolio_pick_0").set_value("mine")
    submit(at, "선택 적용")
    assert any("충돌 해결됨: 남은 충돌 0건" in s.value for s in at.success), texts(at)
    at.text_input(key="portfolio_push_reason").input("my deposit, kept")
    submit(at, "PUSH")
    assert oci_snapshot(fresh_stack)["portfolio"]["cash"] == 11_000_000.0


def test_portfolio_form_validation_names_the_field():
    base = Portfolio.default()
    frame = pd.DataFrame([{"ticker": "069500", "qty": 0, "avg_price": 100.0, "entry_date": ""}])
    with pytest.raises(ValueError, match=r"^holdings\[069500\]\.qty: "):  # as in the diff
        build_portfolio(base, 1_000.0, frame)
    frame = pd.DataFrame([{"ticker": None, "qty": 2, "avg_price": 100.0, "entry_date": ""}])
    with pytest.raises(MissingCell) as missing:  # no ticker to name it by: its row
        build_portfolio(base, 1_000.0, frame)
    assert (missing.value.row, missing.value.ticker, missing.value.column) == (0, "", "ticker")
    frame = pd.DataFrame([{"ticker": "069500", "qty": 3, "avg_price": 100.0, "entry_date": ""},
                          {"ticker": "069500", "qty": 1, "avg_price": 90.0, "entry_date": ""}])
    with pytest.raises(ValueError, match="appears twice"):
        build_portfolio(base, 1_000.0, frame)
    empty_row = pd.DataFrame([{"ticker": None, "qty": None, "avg_price": None,
                               "entry_date": None}])
    assert build_portfolio(base, 5.0, empty_row).holdings == []


def test_portfolio_form_errors_read_in_korean_with_the_field_name_kept():
    base = Portfolio.default()
    frame = pd.DataFrame([{"ticker": "069500", "qty": 0, "avg_price": 100.0, "entry_date": ""}])
    with pytest.raises(FormError) as caught:
        build_portfolio(base, 1_000.0, frame)
    assert caught.value.operator_text("ko") == \
        "입력 오류 — `holdings[069500].qty`: 0보다 커야 합니다 [greater_than]"
    assert caught.value.operator_text("en") == \
        "Invalid input — `holdings[069500].qty`: must be greater than 0 [greater_than]"
    frame = pd.DataFrame([{"ticker": "069500", "qty": 3, "avg_price": 100.0, "entry_date": ""},
                          {"ticker": "069500", "qty": 1, "avg_price": 90.0, "entry_date": ""}])
    with pytest.raises(FormError) as caught:
        build_portfolio(base, 1_000.0, frame)
    assert caught.value.operator_text("ko") == \
        "입력 오류 — `holdings[1]`: 중복된 값이 있습니다 [duplicate]"


def test_portfolio_discard_returns_the_workspace_to_the_pulled_base(stack: Stack, cockpit):
    pull(stack)
    at = cockpit(stack, page="portfolio")
    at.number_input(key="pf_cash").set_value(7_000_000.0)
    submit(at, "로컬 작업본에 저장")
    with stack.pc_client() as c:
        assert c.get("/api/v1/workspace/portfolio").json()["cash"] == 7_000_000.0
    at.button(key="portfolio_discard").click().run()
    assert any("로컬 수정을 버렸습니다" in s.value for s in at.success), texts(at)
    with stack.pc_client() as c:
        assert c.get("/api/v1/diff").json()["changes"] == []
        pulled = c.get("/api/v1/snapshot").json()["portfolio"]["cash"]
    assert at.number_input(key="pf_cash").value == pulled  # the form follows the workspace


def test_portfolio_new_row_with_an_empty_required_cell_is_named_not_dropped():
    """Issue 16 item 14: a new grid row with a ticker and a qty but no average price."""
    base = Portfolio.default()
    frame = pd.DataFrame([{"ticker": "069500", "qty": 3, "avg_price": 100.0, "entry_date": ""},
                          {"ticker": "305720", "qty": 5, "avg_price": None, "entry_date": None}])
    with pytest.raises(MissingCell) as missing:
        build_portfolio(base, 1_000.0, frame)
    assert (missing.value.row, missing.value.ticker, missing.value.column) == \
        (1, "305720", "avg_price")


def test_portfolio_grid_lists_names_with_codes_and_keeps_incomplete_rows(stack: Stack, cockpit):
    """The grid does not mark cells required (Streamlit would drop an incomplete new row on
    save, "변경 0건"); the ticker choices read "code name"; a missing cell is named in words."""
    import json

    pull(stack)
    at = cockpit(stack, page="portfolio")
    editor = next(e for e in at.dataframe if e.proto.editing_mode)  # the holdings grid
    columns = json.loads(editor.proto.columns)
    assert not any(cfg.get("required") for cfg in columns.values()), columns
    ticker = columns["ticker"]["type_config"]
    labels = {o["value"]: o.get("label") for o in ticker["options"]}
    assert labels["069500"] == "069500 KODEX 200", labels
    from pc_cockpit.i18n import t

    text = t("pf.missing_cell", "ko", row=2, ticker="305720", column=t("col.avg_price", "ko"))
    assert "2번째 줄(305720)" in text and "평균" in text and "저장하지 않았습니다" in text
