"""Every code the system words has its words in the one catalogue, KO and EN: Telegram labels,
the risk codes emitted anywhere, the ticket event codes."""

from __future__ import annotations

from krx_common.i18n import TEXT, has, text


def test_telegram_labels_live_in_the_one_catalogue():
    from oci_backend.telegram import texts

    # texts.py keeps no table of its own: every label is the catalogue's `tg.<key>`
    assert not any(isinstance(v, dict) and v and all(isinstance(p, tuple) for p in v.values())
                   for v in vars(texts).values())
    keys = [k for k in TEXT if k.startswith("tg.")]
    assert len(keys) > 50
    for key in keys:
        short = key[len("tg."):]
        assert texts.t(short, "ko") == text(key, "ko")
        assert texts.t(short, "en") == text(key, "en")
        assert texts.t(short, "ko") != texts.t(short, "en") or short in ("audit_usage",)
    assert texts.t("stopped", "ko") == "비상정지를 켰습니다."
    assert has("tg.help")


REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
PACKAGES = ("contracts", "strategy", "broker", "oci_backend", "pc_backend", "pc_cockpit",
            "krx_cli", "krx_common")


def _calls(name: str):  # noqa: ANN202
    """(module, call) of every `name(...)` call in the project's packages."""
    import ast

    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            module = ".".join(path.relative_to(REPO).with_suffix("").parts)
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and (
                        getattr(node.func, "id", None) == name
                        or getattr(node.func, "attr", None) == name):
                    yield module, node


def emitted_risk_codes() -> set[str]:
    """Every risk code raised anywhere: `Risk(code=...)` with a literal or a module constant;
    `Risk(code=c.code)` of a guardrail check stands for every `GuardrailCheck(code=...)`."""
    import ast
    import importlib

    codes: set[str] = set()
    unresolved: list[str] = []
    guard = False
    for module, call in _calls("Risk"):
        code = next((k.value for k in call.keywords if k.arg == "code"), None)
        if isinstance(code, ast.Constant) and isinstance(code.value, str):
            codes.add(code.value)
        elif isinstance(code, ast.Name):
            codes.add(getattr(importlib.import_module(module), code.id))
        elif isinstance(code, ast.Attribute) and code.attr == "code":
            guard = True
        else:
            unresolved.append(f"{module}:{call.lineno}")
    assert not unresolved, f"Risk(code=...) this test cannot read: {unresolved}"
    if guard:
        for _, call in _calls("GuardrailCheck"):
            code = next((k.value for k in call.keywords if k.arg == "code"), None)
            assert isinstance(code, ast.Constant), "GuardrailCheck(code=...) not a literal"
            codes.add(code.value)
    return codes


def _hangul(s: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in s)


def test_every_emitted_risk_code_has_korean_and_english_words():
    codes = emitted_risk_codes()
    # the scan finds what is known to be raised (a scan finding nothing proves nothing)
    assert {"DATA_INVALID", "CYCLE_FAILED", "CASH_LIMIT", "GUARDRAIL_MIN_CASH_BREACHED",
            "DATA_MISSING", "BROKER_DRIFT", "BROKER_LIVE", "GUARDRAIL_MAX_ORDERS"} <= codes
    missing = []
    for code in sorted(codes):
        keys = [k for k in (f"risk.{code}", f"risk.{code}.plain", f"guard_check.{code}")
                if k in TEXT]
        if not keys or not all(_hangul(TEXT[k][0]) and TEXT[k][1] for k in keys):
            missing.append(code)
    assert not missing, f"risk codes without KO+EN words in krx_common.i18n: {missing}"


def _no_english(said: str) -> None:
    import re

    from latin_text import latin_sentences

    # the detail in backticks is a code, not a sentence
    assert latin_sentences(re.sub(r"`[^`]*`", "", said)) == [], said


def test_risks_raised_with_params_say_their_specifics_in_korean():
    from datetime import date

    from contracts.plan import OrderPlan
    from krx_common.words import risk_text
    from oci_backend.pipeline import cash_limit_params, invalid_data_params
    from strategy.marketdata.errors import BadMarketData
    from strategy.marketdata.validation import BarIssue

    exc = BadMarketData("069500", [
        BarIssue("069500", date(2025, 9, 1), "HIGH_BELOW_LOW", "error", "high < low", "high"),
        BarIssue("069500", None, "EMPTY", "error", "no bars")], "csv:/data")
    said = risk_text("DATA_INVALID", invalid_data_params(exc), str(exc), "ko")
    assert said.startswith("069500: 시장 데이터(csv:/data)가 검증을 통과하지 못했습니다: 오류 2건")
    assert "2025-09-01 `HIGH_BELOW_LOW`" in said
    _no_english(said)

    plan = OrderPlan.model_construct(orders=[])
    cut = "CASH_LIMIT: 305720 estimated cut from 1200 to 83 shares (the cut is made at the fill)"
    said = risk_text("CASH_LIMIT", cash_limit_params(cut, plan), cut, "ko")
    assert said == ("305720 매수: 보유 하한 위 현금으로는 1,200주 중 약 83주만 체결될 수 "
                    "있습니다 (체결가에서 줄입니다)."), said

    said = risk_text("GUARDRAIL_MIN_CASH_BREACHED",
                     {"ticket": "T-1", "cash": 81234, "reserve": 100000}, "…", "ko")
    assert said.startswith("티켓 T-1: 체결 후 현금 81,234원이 계획의 보유 하한 "
                           "100,000원보다 적습니다")
    said = risk_text("BROKER_DRIFT", {"n": 2, "fields": "cash, holdings[069500].qty"}, "…",
                     "ko")
    assert said.startswith("증권사 잔고와 장부가 2건 다릅니다: `cash, holdings[069500].qty`")
    _no_english(said)
    said = risk_text("CYCLE_FAILED", {"error": "OSError: disk full"}, "…", "ko")
    assert said == "일일 사이클이 실패했습니다: `OSError: disk full`. OCI 로그를 확인하세요."
    said = risk_text("DATA_MISSING", {"ticker": "069500", "provider": "pykrx",
                                      "variant": "no_provider", "spec": "auto"}, "…", "ko")
    assert "설치된 실시간 시장 데이터 제공자가 없습니다" in said
    _no_english(said)
    assert risk_text("BROKER_LIVE", {}, "…", "ko").startswith("실행 모드 BROKER_LIVE: 제출한")


def test_every_ticket_event_code_has_korean_and_english_words():
    import ast

    codes: set[str] = set()
    for name in ("transition", "move", "TicketEvent"):
        for module, call in _calls(name):
            if not module.startswith("oci_backend"):
                continue
            code = next((k.value for k in call.keywords if k.arg == "code"), None)
            for part in (code.body, code.orelse) if isinstance(code, ast.IfExp) else (code,):
                if isinstance(part, ast.Constant):
                    codes.add(part.value)
                elif part is not None:  # computed: the refusal's `refused.<Error>`
                    codes.add("refused")
    assert {"submitted", "claimed", "paper_filled", "fills_recorded", "placed",
            "refused"} <= codes
    for code in codes:
        key = f"tkevent.{code}"
        assert key in TEXT and _hangul(TEXT[key][0]) and TEXT[key][1], code
    from oci_backend.tickets import errors

    for error in vars(errors).values():
        if isinstance(error, type) and issubclass(error, errors.TicketError):
            name = f"tkevent.refused.{error.__name__}"
            assert name not in TEXT or _hangul(TEXT[name][0])


def test_ticket_event_words_from_code_and_params():
    from krx_common.words import ticket_event_text

    assert ticket_event_text("", {}, "ko") is None  # an older event: no code
    said = ticket_event_text("fills_recorded", {"n": 2, "actor": "operator", "total": 3,
                                                "final": 1, "note": "HTS 체결"}, "ko")
    assert said == "체결 2건 기록 (기록자 operator, 모두 3건) — 최종 · 세부: `HTS 체결`"
    assert ticket_event_text("refused.EmergencyStopped", {}, "ko") == \
        "긴급 정지 중이라 거부했습니다"
    assert ticket_event_text("refused.Unheard", {}, "ko") == "허용되지 않아 거부했습니다"
    assert ticket_event_text("submitted", {"actor": "api"}, "en") == "submitted by api"
