"""Issue 16 item 4: what the first Overview run of a new browser session does, checked by its
structure (imports, round trips to the PC backend, elements), not by a timing that load would
make flaky. The figures are in `benchmarks/bench_cockpit.py`.

Each check runs the cockpit's first script run in a fresh interpreter (AppTest), so the
modules it imports are its own and not those of earlier tests, against a real OCI and PC
backend (`fresh_stack`, a workspace that never pulled: the first open PULLs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cockpit_stack import APP, REPO, Stack

from pc_cockpit.server import cockpit_command

pytestmark = pytest.mark.integration

# Run in a child interpreter: argv[1] "preload" runs the server's preload first (as
# `pc_cockpit.server` does before Streamlit serves), "bare" does not. Records the PC backend
# calls (PcClient._request) and the modules each run imported.
PROBE = r"""
import json, sys
from streamlit.testing.v1 import AppTest
from pc_cockpit import client as cl

calls = []
request = cl.PcClient._request

def recorded(self, method, path, **kw):
    calls.append(f"{method} {path}")
    return request(self, method, path, **kw)

cl.PcClient._request = recorded
if sys.argv[1] == "preload":
    from pc_cockpit.server import preload
    preload()
at = AppTest.from_file(sys.argv[2], default_timeout=120)
before = set(sys.modules)
at.run()
out = {"modules": sorted(set(sys.modules) - before), "calls": list(calls),
       "exception": [str(e.value) for e in at.exception],
       "charts": len(at.get("plotly_chart")), "tables": len(at.dataframe),
       "subheaders": [s.value for s in at.subheader],
       "text": "\n".join(str(e.value) for kind in ("success", "caption", "markdown")
                         for e in getattr(at, kind))}
calls.clear()
before = set(sys.modules)
at.run()
out["second"] = {"modules": sorted(set(sys.modules) - before), "calls": list(calls),
                 "charts": len(at.get("plotly_chart")),
                 "exception": [str(e.value) for e in at.exception]}
print(json.dumps(out))
"""

# Not needed before the chart (the plotting library, the backtest and its compiler), nor at
# all on the Overview.
HEAVY = ("plotly", "numba", "llvmlite", "strategy.backtest", "altair", "matplotlib", "scipy",
         "kaleido", "pykrx")
# What the first screen needs, one round trip each: the status (the connection badge), the
# PULL of a session's first open, the emergency stop, the pulled snapshot (stop state, mode
# and the page, read once, after the PULL).
FIRST_RUN_CALLS = ["GET /api/v1/status", "POST /api/v1/pull", "GET /api/v1/emergency-stop",
                   "GET /api/v1/snapshot"]


def probe(stack: Stack, mode: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KRX_COCKPIT_", "KRX_ID", "KRX_PW"))}
    env.update({"KRX_COCKPIT_PC_URL": stack.pc.base_url,
                "KRX_COCKPIT_TOKEN_FILE": str(stack.pc.workspace / "pc_token"),
                "PYTHONPATH": str(REPO)})
    done = subprocess.run([sys.executable, "-c", PROBE, mode, str(APP)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY)]


def test_first_overview_run_draws_the_morning_with_four_calls_and_no_chart(fresh_stack):
    """The first run of a session: stage, signals and risks from one PULL and one snapshot
    read, without the chart (no Plotly, no backtest, no numba); the next run draws it."""
    out = probe(fresh_stack, "bare")
    assert out["exception"] == []
    assert out["calls"] == FIRST_RUN_CALLS
    assert "주문 계획 준비됨" in out["text"] and "자동으로 PULL함" in out["text"], out["text"]
    assert out["tables"] == 1 and "위험" in out["subheaders"]
    assert out["charts"] == 0 and "불러오는 중…" in out["text"]  # the chart's placeholder
    assert heavy(out["modules"]) == []
    # The timer's rerun (the session's next run) draws the chart: the series, asked once.
    second = out["second"]
    assert second["exception"] == []
    assert second["calls"].count("POST /api/v1/backtest/series") == 1, second["calls"]
    assert second["charts"] == 1
    assert "plotly" in {m.split(".")[0] for m in second["modules"]}


def test_server_preload_leaves_the_first_run_nothing_to_import(fresh_stack):
    """After `pc_cockpit.server.preload` (what the cockpit process runs before it answers its
    health check), the first page view imports no library: the emoji catalogue of the page
    icons, pandas and pyarrow of the signals table, httpx's transport are already loaded."""
    out = probe(fresh_stack, "preload")
    assert out["exception"] == [] and out["calls"] == FIRST_RUN_CALLS
    preloaded = ("pandas", "numpy", "pyarrow", "plotly", "httpx", "httpcore", "h11",
                 "pydantic", "streamlit.emojis", "contracts", "krx_common", "pc_cockpit",
                 "strategy")
    late = [m for m in out["modules"] if m.startswith(preloaded)]
    assert late == [], late


def test_cockpit_server_runs_without_magic_and_without_a_forced_gc_per_run():
    cmd = cockpit_command(8501)
    flags = dict(zip(cmd, cmd[1:], strict=False))
    assert flags["--runner.magicEnabled"] == "false"
    assert flags["--runner.postScriptGC"] == "false"
    assert cmd[1:3] == ["-m", "pc_cockpit.server"]  # the preloading entry point
