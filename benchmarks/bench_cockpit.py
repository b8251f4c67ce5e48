"""Cockpit start-up and first render: `krx demo` against a bare Streamlit app, in Chromium.

Rows (median and min of N runs, each on a fresh demo root):
- `krx demo → healthy`: from starting `krx demo --no-browser` until the OCI backend, the PC
  backend and the cockpit all answer their health URLs (the demo runs today's cycle first).
- `first Overview render`: what the operator feels opening the cockpit URL in a fresh browser:
  a new browser context (its own empty cache and cookies, like a new profile) of an
  already-running headless Chromium (Debian's, never `playwright install`; the browser's own
  start is not counted) goes to the URL; the time runs until the Overview shows its title,
  the stage of the day, the signals table (the plan's lines: ticker, action, reason) and the
  risks — the first screen, not the chart, which comes after it (each visit waits for its
  chart before the next one starts). Two rows:
  - `… started cockpit`: the cockpit has been running (its first visitor came and went), as it
    is for an operator who opens it in the morning: `--warm` (default 2) new contexts per
    run, after the first;
  - `… very first after start`: the first page view the cockpit process serves after it
    said healthy.
  Each new browser session PULLs once when it opens (the PC backend asks OCI), so the stage
  is the morning's.
- `PULL → OCI's answer shown`: clicking PULL until OCI's answer is on the page.
- baseline rows: a bare one-line Streamlit app started the same way (`streamlit run`, the
  cockpit's server flags, no preload), its time to healthy and to its first render in the
  same kinds of browser context (very first, started); ratios are ours / bare. The bare page
  is the floor on this machine: Streamlit's own JavaScript (about 3 MB for a fresh context to
  fetch and compile) is in every render.
- `first PULL + chart`: a PC backend started fresh (`krx pc serve --direct` in front of the
  demo's OCI) answers what the first Overview needs: `POST /pull`, then the chart's series of
  the last year (`POST /backtest/series`, the plain-Python kernel), once with numba's cache
  as the install leaves it (warm: `compile_kernels` ran) and once with an empty
  `NUMBA_CACHE_DIR` (right after an install). The baseline is the same backend answering the
  chart the old way (the full compiled `POST /backtest`), in the same process; the ratio is
  ours / old. `--no-pull-rows` leaves these out.
Targets on 2 cores (issue 16 item 4): healthy ≤ 8 s, first Overview render ≤ 1.5 s, first
PULL + chart ≤ 2 s warm and ≤ 5 s right after an install. The load average (1 min) before
and after the runs is printed and saved: the machine may be shared.
Writes `benchmarks/results/bench_cockpit.json`.
"""

from __future__ import annotations

import argparse
import os
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


# The JavaScript the page had fetched (decoded bytes) when the first screen was on it.
JS_BYTES = """performance.getEntriesByType('resource')
    .filter(e => e.name.split('?')[0].endsWith('.js') && e.responseEnd > 0)
    .reduce((n, e) => n + e.decodedBodySize, 0)"""


def overview_render(browser, url: str, js: list[int] | None = None) -> float:  # noqa: ANN001
    """Seconds from going to `url` in a new browser context until the Overview's first screen
    is on it: the title, the stage of the day, the signals table and the risks (the script
    bytes the page had fetched by then are appended to `js`)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        t0 = time.perf_counter()
        page.goto(url)
        page.get_by_role("heading", name="개요").wait_for(timeout=60_000)
        page.get_by_text(re.compile("오늘의 단계")).first.wait_for(timeout=60_000)
        page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
        page.get_by_role("heading", name="위험").wait_for(timeout=60_000)
        seconds = time.perf_counter() - t0
        if js is not None:
            js.append(int(page.evaluate(JS_BYTES)))
        # The chart follows on a timed rerun: let it come before the next visitor, so its
        # series is not computed during the next measurement.
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=120_000)
        return seconds
    finally:
        context.close()


def bare_render(browser, url: str, js: list[int] | None = None) -> float:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        t0 = time.perf_counter()
        page.goto(url)
        page.get_by_role("heading", name="bare").wait_for(timeout=60_000)
        seconds = time.perf_counter() - t0
        if js is not None:
            js.append(int(page.evaluate(JS_BYTES)))
        return seconds
    finally:
        context.close()


def demo_run(browser, tmp: Path, warm: int, pull_rows: bool) -> dict:  # noqa: ANN001
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
        js: list[int] = []
        first = overview_render(browser, base["cockpit"], js)
        started = []
        for _ in range(warm):
            time.sleep(1.0)
            started.append(overview_render(browser, base["cockpit"], js))
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(base["cockpit"])
        page.get_by_text(re.compile("오늘의 단계")).first.wait_for(timeout=60_000)
        t2 = time.perf_counter()
        page.get_by_role("button", name="PULL (OCI에서 가져오기)").click()
        page.get_by_text(re.compile("OCI 응답: 리비전")).first.wait_for(timeout=60_000)
        pulled = time.perf_counter() - t2
        page.close()
        out: dict = {"healthy_s": healthy, "first_render_s": first,
                     "render_s": statistics.median(started) if started else first,
                     "renders_s": started, "pull_s": pulled, "js_bytes": js}
        if pull_rows:
            for chart in ("series", "backtest"):
                out[f"{chart}_warm_s"] = first_pull(tmp / "root", base["oci"], tmp,
                                                    chart=chart, numba_cache=None)
                out[f"{chart}_cold_s"] = first_pull(tmp / "root", base["oci"], tmp,
                                                    chart=chart,
                                                    numba_cache=tmp / f"numba-{chart}")
        return out
    finally:
        stop(proc)


def bare_run(browser, tmp: Path, warm: int) -> dict:  # noqa: ANN001
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
        url = f"http://127.0.0.1:{port}"
        wait_ok([f"{url}/_stcore/health"], proc)
        healthy = time.perf_counter() - t0
        js: list[int] = []
        first = bare_render(browser, url, js)
        started = []
        for _ in range(warm):
            time.sleep(1.0)
            started.append(bare_render(browser, url, js))
        return {"healthy_s": healthy, "first_render_s": first,
                "render_s": statistics.median(started) if started else first,
                "renders_s": started, "js_bytes": js}
    finally:
        stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warm", type=int, default=2,
                        help="fresh-browser renders per run on the started cockpit")
    parser.add_argument("--no-pull-rows", dest="pull_rows", action="store_false",
                        help="leave out the first PULL + chart rows (4 backend starts a run)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    ours: list[dict] = []
    bare: list[dict] = []
    load_before = os.getloadavg()[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            for i in range(args.runs):
                with tempfile.TemporaryDirectory(prefix="bench-cockpit-") as tmp:
                    bare.append(bare_run(browser, Path(tmp), args.warm))
                    ours.append(demo_run(browser, Path(tmp), args.warm, args.pull_rows))
                print(f"run {i + 1}/{args.runs} (load {os.getloadavg()[0]:.1f}): "
                      f"{ours[-1]} bare {bare[-1]}", file=sys.stderr)
        finally:
            browser.close()
    load_after = os.getloadavg()[0]

    def med(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    def every(rows: list[dict]) -> list[float]:
        return [x for r in rows for x in r["renders_s"]] or [r["render_s"] for r in rows]

    ours_started, bare_started = every(ours), every(bare)
    rows = [
        {"name": "krx demo → healthy (3 processes)", "median_s": med(ours, "healthy_s"),
         "min_s": min(r["healthy_s"] for r in ours), "target_s": TARGET_HEALTHY_S,
         "vs_bare": med(ours, "healthy_s") / med(bare, "healthy_s")},
        {"name": "first Overview render, fresh browser, started cockpit",
         "n": len(ours_started), "median_s": statistics.median(ours_started),
         "min_s": min(ours_started), "target_s": TARGET_RENDER_S,
         "vs_bare": statistics.median(ours_started) / statistics.median(bare_started)},
        {"name": "first Overview render, very first after the cockpit starts",
         "n": len(ours), "median_s": med(ours, "first_render_s"),
         "min_s": min(r["first_render_s"] for r in ours), "target_s": TARGET_RENDER_S,
         "vs_bare": med(ours, "first_render_s") / med(bare, "first_render_s")},
        {"name": "PULL click → OCI's answer shown", "median_s": med(ours, "pull_s"),
         "min_s": min(r["pull_s"] for r in ours), "target_s": None, "vs_bare": None},
    ]
    if args.pull_rows:
        rows += [
            {"name": "first PULL + chart, fresh backend, warm install",
             "median_s": med(ours, "series_warm_s"),
             "min_s": min(r["series_warm_s"] for r in ours), "target_s": TARGET_PULL_WARM_S,
             "vs_old": med(ours, "series_warm_s") / med(ours, "backtest_warm_s")},
            {"name": "first PULL + chart, right after install (empty numba cache)",
             "median_s": med(ours, "series_cold_s"),
             "min_s": min(r["series_cold_s"] for r in ours), "target_s": TARGET_PULL_COLD_S,
             "vs_old": med(ours, "series_cold_s") / med(ours, "backtest_cold_s")},
            {"name": "old: first PULL + full /backtest chart, warm",
             "median_s": med(ours, "backtest_warm_s"),
             "min_s": min(r["backtest_warm_s"] for r in ours), "target_s": None,
             "vs_old": 1.0},
            {"name": "old: first PULL + full /backtest chart, empty cache",
             "median_s": med(ours, "backtest_cold_s"),
             "min_s": min(r["backtest_cold_s"] for r in ours), "target_s": None,
             "vs_old": 1.0},
        ]
    rows += [
        {"name": "baseline: bare streamlit → healthy", "median_s": med(bare, "healthy_s"),
         "min_s": min(r["healthy_s"] for r in bare), "target_s": None, "vs_bare": 1.0},
        {"name": "baseline: bare page render, fresh browser, started server",
         "n": len(bare_started), "median_s": statistics.median(bare_started),
         "min_s": min(bare_started), "target_s": None, "vs_bare": 1.0},
        {"name": "baseline: bare page render, very first after start",
         "n": len(bare), "median_s": med(bare, "first_render_s"),
         "min_s": min(r["first_render_s"] for r in bare), "target_s": None, "vs_bare": 1.0},
    ]
    for r in rows:
        r["ok"] = "" if r["target_s"] is None else ("yes" if r["median_s"] <= r["target_s"]
                                                     else "NO")
    print_table(rows, ["name", "n", "median_s", "min_s", "target_s", "ok", "vs_bare",
                       "vs_old"])
    print(f"\nload average (1 min): {load_before:.1f} before, {load_after:.1f} after; "
          f"{os.cpu_count()} cores")
    js_ours = statistics.median(x for r in ours for x in r["js_bytes"])
    js_bare = statistics.median(x for r in bare for x in r["js_bytes"])
    print(f"JavaScript fetched by the first screen: ours {js_ours / 1e6:.2f} MB, bare page "
          f"{js_bare / 1e6:.2f} MB")
    path = save_json("bench_cockpit", {"runs": args.runs, "warm": args.warm, "rows": rows,
                                       "ours": ours, "bare": bare,
                                       "js_bytes": {"ours": js_ours, "bare": js_bare},
                                       "load_before": load_before, "load_after": load_after})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
