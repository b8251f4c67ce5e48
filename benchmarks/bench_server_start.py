"""Start-up cost of the OCI backend as the tests pay it: `krx oci serve` spawned on a free
loopback port until `/health` answers 200 (wall and the server's CPU seconds), whether the
started server has pandas/numba loaded, and the import of `oci_backend.app` in a fresh process.

Baselines measured in the same run, interleaved with the server starts: a bare `python -c pass`
and `python -c "import pandas"` (what a lazy pandas import saves per server). The test suite
starts hundreds of these servers, so each second here is minutes of `scripts/test.sh`.

    .venv/bin/python benchmarks/bench_server_start.py [--repeat 7] [--baseline-repo DIR]

`--baseline-repo DIR` (another checkout, e.g. `git archive <commit> | tar -x -C DIR`) starts its
servers too, interleaved with this checkout's, and quotes this checkout's start as a ratio of it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, REPO_DAILY, print_table, save_json  # noqa: E402

sys.path.insert(0, str(REPO))
from krx_common.procs import free_port, stop_all  # noqa: E402

COLUMNS = ["name", "n", "median_s", "min_s", "cpu_s", "note"]
_IMPORT_APP = (
    "import json, sys, time; t = time.perf_counter(); import oci_backend.app; "
    "print(json.dumps({'s': time.perf_counter() - t, 'pandas': 'pandas' in sys.modules, "
    "'numba': 'numba' in sys.modules}))"
)


def _env(token: str, repo: Path = REPO) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KRX_OCI_") and k not in ("KRX_DATA_DIR", "KRX_ID", "KRX_PW")}
    env.update(KRX_OCI_TOKEN=token, KRX_OCI_TICKET_PROCESSOR="false",
               KRX_OCI_MORNING_WATCH="false", PYTHONPATH=str(repo))
    return env


def _loaded(pid: int, lib: str) -> bool:
    """Is `lib` (a package directory name) mapped into process `pid`?"""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text(encoding="utf-8")
    except OSError:
        return False
    return f"/{lib}/" in maps


def server_start(root: Path, repo: Path = REPO) -> dict[str, Any]:
    """One `krx oci serve` from spawn to the first 200 on /health, stopped by PID after."""
    port = free_port()
    cmd = [sys.executable, "-m", "krx_cli.main", "oci", "serve", "--host", "127.0.0.1",
           "--port", str(port), "--data-dir", str(root), "--data", f"csv:{REPO_DAILY}"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=repo, env=_env(secrets.token_hex(32), repo),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0, trust_env=False)
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.01)
        wall = time.perf_counter() - t0
        cpu = psutil.Process(proc.pid).cpu_times()
        return {"wall_s": wall, "cpu_s": cpu.user + cpu.system,
                "pandas": _loaded(proc.pid, "pandas"), "numba": _loaded(proc.pid, "numba")}
    finally:
        stop_all([proc], timeout=20)


def child_wall(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--name", default="bench_server_start")
    ap.add_argument("--baseline-repo", type=Path, default=None,
                    help="another checkout whose server starts are measured alongside")
    args = ap.parse_args()
    starts: list[dict[str, Any]] = []
    base_starts: list[dict[str, Any]] = []
    bare: list[float] = []
    pandas_only: list[float] = []
    imports: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="krx-start-") as tmp:
        for i in range(args.repeat):  # interleaved: the machine's load hits every row alike
            root = Path(tmp) / f"data{i}"
            root.mkdir()
            starts.append(server_start(root))
            if args.baseline_repo is not None:
                (Path(tmp) / f"base{i}").mkdir()
                base_starts.append(server_start(Path(tmp) / f"base{i}",
                                                args.baseline_repo.resolve()))
            bare.append(child_wall("pass"))
            pandas_only.append(child_wall("import pandas"))
            done = subprocess.run([sys.executable, "-c", _IMPORT_APP], cwd=REPO, check=True,
                                  capture_output=True, text=True,
                                  env={**os.environ, "PYTHONPATH": str(REPO)})
            imports.append(json.loads(done.stdout.strip().splitlines()[-1]))
    wall = [s["wall_s"] for s in starts]
    base = statistics.median(bare)
    rows = [
        {"name": "krx oci serve -> /health 200", "n": len(wall),
         "median_s": statistics.median(wall), "min_s": min(wall),
         "cpu_s": statistics.median(s["cpu_s"] for s in starts),
         "note": f"{statistics.median(wall) / base:.1f}x a bare python; pandas loaded: "
                 f"{any(s['pandas'] for s in starts)}, numba: {any(s['numba'] for s in starts)}"},
        {"name": "import oci_backend.app", "n": len(imports),
         "median_s": statistics.median(i["s"] for i in imports),
         "min_s": min(i["s"] for i in imports), "cpu_s": None,
         "note": f"pandas imported: {any(i['pandas'] for i in imports)}"},
        {"name": "python -c 'import pandas' (baseline)", "n": len(pandas_only),
         "median_s": statistics.median(pandas_only), "min_s": min(pandas_only), "cpu_s": None,
         "note": f"{statistics.median(pandas_only) - base:.2f} s over a bare python"},
        {"name": "python -c pass (baseline)", "n": len(bare), "median_s": base,
         "min_s": min(bare), "cpu_s": None, "note": ""},
    ]
    if base_starts:
        b_wall = [s["wall_s"] for s in base_starts]
        b_cpu = statistics.median(s["cpu_s"] for s in base_starts)
        rows.insert(1, {
            "name": f"baseline {args.baseline_repo.name}: serve -> /health", "n": len(b_wall),
            "median_s": statistics.median(b_wall), "min_s": min(b_wall), "cpu_s": b_cpu,
            "note": f"this checkout: {statistics.median(wall) / statistics.median(b_wall):.2f}x "
                    f"the wall, {rows[0]['cpu_s'] / b_cpu:.2f}x the CPU; pandas loaded: "
                    f"{any(s['pandas'] for s in base_starts)}"})
    print_table(rows, COLUMNS)
    load = os.getloadavg()
    path = save_json(args.name, {"load_avg": load, "rows": rows, "starts": starts,
                                 "baseline_starts": base_starts})
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
