"""Cockpit start-up and first render: `krx demo` against a bare Streamlit app, in Chromium.

Rows (median of N runs, each on a fresh demo root):
- `krx demo → healthy`: from starting `krx demo --no-browser` until the OCI backend, the PC
  backend and the cockpit all answer their health URLs (the demo runs today's cycle first).
- `first Overview render`: an already-running headless Chromium (Debian's, never `playwright
  install`) opens the cockpit URL until the Overview shows the PC backend's connection state.
- `PULL → stage shown`: clicking PULL until the stage of the day is on the page.
- baseline rows: a bare one-line Streamlit app started the same way (`streamlit run`, same
  server flags) — its time to healthy and to its first render; ratios are ours / baseline.
- `first PULL + chart`: a PC backend started fresh (`krx pc serve --direct` in front of the
  demo's OCI) answers what the first Overview needs: `POST /pull`, then the chart's series of
  the last year (`POST /backtest/series`, the plain-Python kernel), once with numba's cache
  as the install leaves it (warm: `compile_kernels` ran) and once with an empty
  `NUMBA_CACHE_DIR` (right after an install). The baseline is the same backend answering the
  chart the old way (the full compiled `POST /backtest`), in the same process; the ratio is
  ours / old.
Targets on 2 cores (issue 16 item 4): healthy ≤ 8 s, first Overview render ≤ 1.5 s, first
PULL + chart ≤ 2 s warm and ≤ 5 s right after an install.
Writes `benchmarks/results/bench_cockpit.json`.
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, print_table, save_json  # noqa: E402

from krx_common.procs import free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
TARGET_HEALTHY_S = 8.0
TARGET_RENDER_S = 1.5
TARGET_PULL_WARM_S = 2.0
TARGET_PULL_COLD_S = 5.0


def wait_ok(urls: list[str], proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    pending = list(urls)
    with httpx.Client(timeout=1.0, trust_env=False) as http:
        while pending:
            if proc.poll() is not None:
                raise RuntimeError(f"process exited with {proc.returncode}")
            for url in list(pending):
                try:
                    if http.get(url).status_code == 200:
                        pending.remove(url)
                except httpx.TransportError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"not healthy in {timeout}s: {pending}")
            if pending:
                time.sleep(0.02)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def first_pull(root: Path, oci_url: str, tmp: Path, *, chart: str,
               numba_cache: Path | None) -> float:
    """Seconds for a freshly started PC backend to answer PULL and the Overview chart (`chart`:
    "series" = `/backtest/series`, "backtest" = the old full compiled `/backtest`)."""
    import os
    from datetime import date, timedelta

    port = free_port()
    ws = tmp / f"ws-{chart}-{'cold' if numba_cache else 'warm'}-{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRX_PC_", "KRX_OCI_"))}
    env.update({"KRX_PC_OCI_TOKEN_FILE": str(root / "state" / "demo_token"),
                "KRX_PC_DATA": "demo"})
    if numba_cache is not None:
        numba_cache.mkdir(parents=True, exist_ok=True)
        env["NUMBA_CACHE_DIR"] = str(numba_cache)
    proc = subprocess.Popen(
        [sys.executable, "-m", "krx_cli.main", "pc", "serve", "--port", str(port),
         "--workspace", str(ws), "--direct", oci_url], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ok([base + "/health"], proc)
        token = (ws / "pc_token").read_text(encoding="utf-8").strip()
        with httpx.Client(base_url=base, timeout=300, trust_env=False,
                          headers={"Authorization": f"Bearer {token}"}) as c:
            t0 = time.perf_counter()
            r = c.post("/api/v1/pull")
            r.raise_for_status()
            asof = date.fromisoformat(c.get("/api/v1/snapshot").json()["summary"]["asof"])
            from pc_cockpit.charts import session_window

            start, end = session_window(asof - timedelta(days=365), asof)
            route = "/api/v1/backtest/series" if chart == "series" else "/api/v1/backtest"
            r = c.post(route, json={"start": start.isoformat(), "end": end.isoformat()})
            r.raise_for_status()
            return time.perf_counter() - t0
    finally:
        stop(proc)


def demo_run(browser, tmp: Path) -> dict[str, float]:  # noqa: ANN001
    ports = {k: free_port() for k in ("oci", "pc", "cockpit")}
    log = tmp / "demo.log"
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "krx_cli.main", "demo", "--no-browser", "--data-dir",
             str(tmp / "root"), "--oci-port", str(ports["oci"]), "--pc-port", str(ports["pc"]),
             "--cockpit-port", str(ports["cockpit"])], cwd=REPO, stdout=out,
            stderr=subprocess.STDOUT)
    try:
        base = {k: f"http://127.0.0.1:{p}" for k, p in ports.items()}
        wait_ok([base["oci"] + "/health", base["pc"] + "/health",
                 base["cockpit"] + "/_stcore/health"], proc)
        healthy = time.perf_counter() - t0
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t1 = time.perf_counter()
        page.goto(base["cockpit"])
        page.get_by_role("heading", name="개요").wait_for(timeout=60_000)
        page.get_by_text("직접 연결").first.wait_for(timeout=60_000)  # the backend's answer
        render = time.perf_counter() - t1
        # the cockpit PULLs when it opens: the stage of the day follows without a click
        page.get_by_text(re.compile("오늘의 단계")).first.wait_for(timeout=60_000)
        staged = time.perf_counter() - t1
        t2 = time.perf_counter()
        page.get_by_role("button", name="PULL (OCI에서 가져오기)").click()
        page.get_by_text(re.compile("OCI 응답: 리비전")).first.wait_for(timeout=60_000)
        pulled = time.perf_counter() - t2
        page.close()
        out = {"healthy_s": healthy, "render_s": render, "stage_s": staged, "pull_s": pulled}
        for chart in ("series", "backtest"):
            out[f"{chart}_warm_s"] = first_pull(tmp / "root", base["oci"], tmp, chart=chart,
                                                numba_cache=None)
            out[f"{chart}_cold_s"] = first_pull(tmp / "root", base["oci"], tmp, chart=chart,
                                                numba_cache=tmp / f"numba-{chart}")
        return out
    finally:
        stop(proc)


def bare_run(browser, tmp: Path) -> dict[str, float]:  # noqa: ANN001
    from pc_cockpit.server import cockpit_command

    app = tmp / "bare.py"
    app.write_text('import streamlit as st\nst.title("bare")\n', encoding="utf-8")
    port = free_port()
    cmd = cockpit_command(port)
    cmd[cmd.index("run") + 1] = str(app)
    cmd[cmd.index("pc_cockpit.server")] = "streamlit"  # plain streamlit, no preload
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_ok([f"http://127.0.0.1:{port}/_stcore/health"], proc)
        healthy = time.perf_counter() - t0
        page = browser.new_page()
        t1 = time.perf_counter()
        page.goto(f"http://127.0.0.1:{port}")
        page.get_by_role("heading", name="bare").wait_for(timeout=60_000)
        render = time.perf_counter() - t1
        page.close()
        return {"healthy_s": healthy, "render_s": render}
    finally:
        stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    ours: list[dict[str, float]] = []
    bare: list[dict[str, float]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            for i in range(args.runs):
                with tempfile.TemporaryDirectory(prefix="bench-cockpit-") as tmp:
                    bare.append(bare_run(browser, Path(tmp)))
                    ours.append(demo_run(browser, Path(tmp)))
                print(f"run {i + 1}/{args.runs}: {ours[-1]}", file=sys.stderr)
        finally:
            browser.close()

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    rows = [
        {"name": "krx demo → healthy (3 processes)", "median_s": med(ours, "healthy_s"),
         "min_s": min(r["healthy_s"] for r in ours), "target_s": TARGET_HEALTHY_S,
         "vs_bare": med(ours, "healthy_s") / med(bare, "healthy_s")},
        {"name": "first Overview render (Chromium)", "median_s": med(ours, "render_s"),
         "min_s": min(r["render_s"] for r in ours), "target_s": TARGET_RENDER_S,
         "vs_bare": med(ours, "render_s") / med(bare, "render_s")},
        {"name": "open → stage shown (auto PULL)", "median_s": med(ours, "stage_s"),
         "min_s": min(r["stage_s"] for r in ours), "target_s": None, "vs_bare": None},
        {"name": "PULL click → OCI's answer shown", "median_s": med(ours, "pull_s"),
         "min_s": min(r["pull_s"] for r in ours), "target_s": None, "vs_bare": None},
        {"name": "first PULL + chart, fresh backend, warm install",
         "median_s": med(ours, "series_warm_s"), "min_s": min(r["series_warm_s"] for r in ours),
         "target_s": TARGET_PULL_WARM_S,
         "vs_old": med(ours, "series_warm_s") / med(ours, "backtest_warm_s")},
        {"name": "first PULL + chart, right after install (empty numba cache)",
         "median_s": med(ours, "series_cold_s"), "min_s": min(r["series_cold_s"] for r in ours),
         "target_s": TARGET_PULL_COLD_S,
         "vs_old": med(ours, "series_cold_s") / med(ours, "backtest_cold_s")},
        {"name": "old: first PULL + full /backtest chart, warm",
         "median_s": med(ours, "backtest_warm_s"),
         "min_s": min(r["backtest_warm_s"] for r in ours), "target_s": None, "vs_old": 1.0},
        {"name": "old: first PULL + full /backtest chart, empty cache",
         "median_s": med(ours, "backtest_cold_s"),
         "min_s": min(r["backtest_cold_s"] for r in ours), "target_s": None, "vs_old": 1.0},
        {"name": "baseline: bare streamlit → healthy", "median_s": med(bare, "healthy_s"),
         "min_s": min(r["healthy_s"] for r in bare), "target_s": None, "vs_bare": 1.0},
        {"name": "baseline: bare streamlit first render", "median_s": med(bare, "render_s"),
         "min_s": min(r["render_s"] for r in bare), "target_s": None, "vs_bare": 1.0},
    ]
    for r in rows:
        r["ok"] = "" if r["target_s"] is None else ("yes" if r["median_s"] <= r["target_s"]
                                                     else "NO")
    print_table(rows, ["name", "median_s", "min_s", "target_s", "ok", "vs_bare", "vs_old"])
    path = save_json("bench_cockpit", {"runs": args.runs, "rows": rows, "ours": ours,
                                       "bare": bare})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
