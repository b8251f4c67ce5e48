"""`krx demo` (README command #1): the whole stack on the synthetic market, nothing external.

Runs the daily cycle for the last completed session on the demo market (labelled synthetic
everywhere) and prints it; then — unless `--no-serve` — starts three processes on loopback:

1. the OCI backend on the demo data root (`--data demo`, DRY_RUN, a 0600 demo token),
2. the PC backend in `--direct` mode in front of it (its own workspace under the data root),
3. the cockpit, talking only to the PC backend;

prints the cockpit URL, opens a browser tab unless `--no-browser`, and on Ctrl-C (or SIGTERM)
stops the three by their PIDs, cockpit first, leaving nothing behind.

When `krx demo` itself is killed outright (SIGKILL, a closed terminal on Windows) it cannot stop
anyone, so the children die with it on their own: each runs under the parent watchdog of
`krx_common.procs` (`python -m krx_common.procs --watch-parent PID MODULE ARGS`), a thread that
terminates the child once its parent is gone (psutil: Linux, macOS, Windows); on Linux the
kernel also sends the child SIGTERM at once (`prctl(PR_SET_PDEATHSIG)`).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from krx_cli.commands._common import safe_console
from krx_common.defaults import COCKPIT_PORT, PC_PORT, PC_TOKEN_NAME, TUNNEL_PORT
from krx_common.procs import cockpit_env, free_port, spawn, stop_all, wait_healthy
from pc_cockpit.server import cockpit_command


def _default_root() -> Path:
    from oci_backend.paths import demo_data_root

    return demo_data_root()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole stack on the synthetic demo market")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="demo data root (default: the demo root of `krx daily --data demo`, "
                        "<checkout>/state/demo)")
    p.add_argument("--oci-port", "--port", dest="oci_port", type=int, default=TUNNEL_PORT,
                   help=f"OCI backend port on 127.0.0.1 (default {TUNNEL_PORT}, where the "
                        "tunnel's local end would be; a free one if taken)")
    p.add_argument("--pc-port", type=int, default=PC_PORT,
                   help=f"PC backend port (default {PC_PORT}; a free one if taken)")
    p.add_argument("--cockpit-port", type=int, default=COCKPIT_PORT,
                   help=f"cockpit port (default {COCKPIT_PORT}; a free one if taken)")
    p.add_argument("--pc-env-file", type=Path, default=None,
                   help="reach OCI through the SSH tunnel of this pc.env (KRX_PC_SSH_*) "
                        "instead of --direct")
    p.add_argument("--replay", action="store_true",
                   help="make a NEW demo root a replay root: past sessions can then be replayed "
                        "through the ops route (POST /api/v1/ops/cycle {asof}), e.g. to see a "
                        "DRY_RUN paper fill whose next-session bar already exists")
    p.add_argument("--no-browser", dest="browser", action="store_false",
                   help="do not open the cockpit in a browser")
    p.add_argument("--no-serve", dest="serve", action="store_false",
                   help="run the cycle and exit instead of starting the stack")
    p.add_argument("--json", action="store_true", help="print the summary JSON instead")
    p.add_argument("--broker", choices=["fake-kis"], default=None,
                   help="run in BROKER_PAPER against the local KIS fake it starts (a demo "
                        "key in a 0600 file under the data root; nothing leaves the machine)")
    p.set_defaults(handler=run)


def demo_token(path: Path) -> Path:
    """The demo's OCI token file (0600), created once."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    return path


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    health_url: str


@dataclass
class Stack:
    """The demo's processes, started in order and stopped in reverse, by PID."""

    children: list[Child] = field(default_factory=list)
    log_dir: Path | None = None

    def start(self, name: str, cmd: list[str], env: dict[str, str], health_url: str) -> Child:
        # Own session: the terminal's Ctrl-C reaches only us; we stop the children. The parent
        # watchdog (and on Linux the kernel's parent-death signal) ends a child if we are
        # killed outright and cannot stop it ourselves.
        proc = spawn(cmd, env, watch_parent=True,
                     log_path=None if self.log_dir is None else self.log_dir / f"{name}.log")
        child = Child(name, proc, health_url)
        self.children.append(child)
        return child

    def wait_healthy(self, timeout: float) -> Child | None:
        """None once every child answers its health URL; else the child that died or hung."""
        failed = wait_healthy([(c.proc, c.health_url) for c in self.children], timeout)
        return None if failed is None else self.children[failed]

    def dead(self) -> Child | None:
        return next((c for c in self.children if c.proc.poll() is not None), None)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM each child (cockpit first), wait, SIGKILL what is left — by PID only."""
        stop_all([c.proc for c in reversed(self.children)], timeout)


def _env(drop: tuple[str, ...], extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


def start_stack(root: Path, *, oci_port: int, pc_port: int, cockpit_port: int,
                pc_env_file: Path | None = None, stack: Stack | None = None,
                oci_env: dict[str, str] | None = None) -> tuple[Stack, str]:
    """Start OCI, the PC backend and the cockpit (not yet healthy); the stack and its URL."""

    token_file = demo_token(root / "state" / "demo_token")
    workspace = root / "pc_workspace"
    stack = stack or Stack(log_dir=root / "logs")
    try:
        return _start_all(stack, root, token_file, workspace, oci_port=oci_port,
                          pc_port=pc_port, cockpit_port=cockpit_port, pc_env_file=pc_env_file,
                          oci_env=oci_env or {})
    except BaseException:
        stack.stop()  # nothing left behind when a later start fails
        raise


def _start_all(stack: Stack, root: Path, token_file: Path, workspace: Path, *, oci_port: int,
               pc_port: int, cockpit_port: int, pc_env_file: Path | None,
               oci_env: dict[str, str]) -> tuple[Stack, str]:
    py = [sys.executable, "-m", "krx_cli.main"]
    oci_url = f"http://127.0.0.1:{oci_port}"
    stack.start("oci", [*py, "oci", "serve", "--host", "127.0.0.1", "--port", str(oci_port),
                        "--data-dir", str(root), "--data", "demo"],
                _env(("KRX_OCI_", "KRX_KIS_"), {"KRX_OCI_TOKEN_FILE": str(token_file),
                                                "KRX_OCI_ACCESS_LOG": "changes", **oci_env}),
                f"{oci_url}/health")
    pc_cmd = [*py, "pc", "serve", "--port", str(pc_port), "--workspace", str(workspace)]
    pc_extra = {"KRX_PC_OCI_TOKEN_FILE": str(token_file), "KRX_PC_DATA": "demo"}
    if pc_env_file is None:
        pc_cmd += ["--direct", oci_url]
    else:
        pc_cmd += ["--env-file", str(pc_env_file)]
    pc_url = f"http://127.0.0.1:{pc_port}"
    stack.start("pc", pc_cmd, _env(("KRX_PC_",), pc_extra), f"{pc_url}/health")
    cockpit_url = f"http://127.0.0.1:{cockpit_port}"
    stack.start("cockpit", cockpit_command(cockpit_port),
                cockpit_env(pc_url, workspace / PC_TOKEN_NAME), f"{cockpit_url}/_stcore/health")
    return stack, cockpit_url


def _make_replay_root(root: Path) -> None:
    from contracts.settings import Settings
    from oci_backend.paths import data_paths
    from oci_backend.replay_root import create_replay_root

    paths = data_paths(root)
    if not paths.is_replay:
        # Refuses (ValueError) a root that already holds live state: pick a new --data-dir.
        create_replay_root(paths, label="krx demo --replay", data_spec="demo",
                           settings=Settings())


def start_fake_broker(root: Path, stack: Stack) -> dict[str, str]:
    """`--broker fake-kis`: the KIS fake on a free loopback port (paper domain, the demo
    market, its session the last completed one), a demo key registered there and written to
    a 0600 credentials file, and the data root switched to BROKER_PAPER; the OCI environment
    that points at them."""
    import httpx

    from contracts.common import now_kst
    from contracts.settings import ExecutionMode
    from oci_backend.paths import data_paths
    from oci_backend.store import Store
    from strategy.calendar import last_completed_session

    session = last_completed_session(now_kst())
    store = Store(data_paths(root))
    store.initialize(actor="demo")
    port = free_port(0)
    url = f"http://127.0.0.1:{port}"
    stack.start("fake-kis", [sys.executable, "-m", "krx_cli.main", "fake-kis", "--port",
                             str(port), "--data", "demo", "--domain", "paper",
                             "--session-date", session.isoformat(),
                             "--cash", str(store.portfolio().cash)],
                _env(("KRX_KIS_",), {}), f"{url}/__fake__/health")
    if stack.wait_healthy(timeout=60.0) is not None:
        raise RuntimeError("the KIS fake did not come up; see " + str(root / "logs"))
    creds = root / "state" / "kis_demo_credentials.json"
    key = {"app_key": "PSDEMO" + secrets.token_hex(12), "app_secret": secrets.token_urlsafe(40),
           "cano": "50000000", "acnt_prdt_cd": "01", "kind": "paper"}
    fd = os.open(creds, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(key, f)
    os.chmod(creds, 0o600)
    httpx.post(f"{url}/__fake__/apps", json={"app_key": key["app_key"],
                                             "app_secret": key["app_secret"],
                                             "kind": "paper"}, timeout=10).raise_for_status()
    settings = store.settings()
    if settings.execution_mode is not ExecutionMode.BROKER_PAPER:
        paper = settings.model_copy(update={"execution_mode": ExecutionMode.BROKER_PAPER})
        store.push(store.revision(), portfolio=None, settings=paper,
                   reason="krx demo --broker fake-kis", actor="demo")
    return {"KRX_KIS_CREDENTIALS_FILE": str(creds), "KRX_KIS_BASE_URL": url}


def _run_cycle(root: Path, as_json: bool, *, broker: bool = False) -> int:
    # Imported here: `krx` imports every verb to build its parser, and these load pandas.
    from contracts.common import now_kst
    from oci_backend.paths import data_paths
    from oci_backend.pipeline import run_cycle
    from oci_backend.render import render_cycle
    from oci_backend.store import Store
    from strategy.calendar import last_completed_session

    store = Store(data_paths(root))
    # The demo always shows the last completed session, weekends and holidays included; with
    # the fake broker the session before it, so its orders go out in a session with bars.
    asof = last_completed_session(now_kst())
    if broker:
        from strategy.calendar import previous_session

        asof = previous_session(asof)
    result = run_cycle(store, data_spec="demo", asof=asof, actor="demo", wait_lock=True)
    if as_json:
        print(result.summary.model_dump_json(indent=2))
    else:
        # The thresholds and SMA lengths come from the settings: without them the first
        # cycle on a new root printed "ADX 12.6 < - (chop)" and "SMA long / SMA short".
        print(render_cycle(result.summary, result.plan, portfolio=store.portfolio(),
                           settings=store.settings()))
    return result.exit_code


def _on_signal(handler: Callable[[], None]) -> None:
    def raise_interrupt(signum: int, frame: FrameType | None) -> None:
        handler()

    signal.signal(signal.SIGTERM, raise_interrupt)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, raise_interrupt)


def run(args: argparse.Namespace) -> int:
    safe_console()
    root = (args.data_dir or _default_root()).resolve()
    root.mkdir(parents=True, exist_ok=True)
    if args.replay:
        try:
            _make_replay_root(root)
        except ValueError as exc:
            print(f"krx demo: --replay: {exc}", file=sys.stderr)
            return 2
    if not args.serve:
        return _run_cycle(root, args.json)

    stack, oci_env = Stack(log_dir=root / "logs"), {}
    (root / "logs").mkdir(parents=True, exist_ok=True)
    if args.broker == "fake-kis":
        try:
            oci_env = start_fake_broker(root, stack)
        except Exception as exc:
            stack.stop()
            print(f"krx demo: --broker fake-kis: {exc}", file=sys.stderr)
            return 1
    # The cycle runs before the servers start (it holds the cycle lock, not the servers).
    _run_cycle(root, args.json, broker=bool(args.broker))
    oci_port = free_port(args.oci_port)
    pc_port = free_port(args.pc_port if args.pc_port != oci_port else 0)
    cockpit_port = free_port(args.cockpit_port)
    stack, url = start_stack(root, oci_port=oci_port, pc_port=pc_port,
                             cockpit_port=cockpit_port, pc_env_file=args.pc_env_file,
                             stack=stack, oci_env=oci_env)

    def interrupt() -> None:
        raise KeyboardInterrupt

    _on_signal(interrupt)
    try:
        failed = stack.wait_healthy(timeout=120.0)
        if failed is not None:
            print(f"krx demo: the {failed.name} process did not come up; see "
                  f"{root / 'logs' / (failed.name + '.log')}", file=sys.stderr)
            return 1
        mode = "BROKER_PAPER against the local KIS fake" if args.broker else "DRY_RUN"
        print(f"\nKRX Alertor demo (SYNTHETIC market, {mode}) — cockpit: {url}\n"
              f"  OCI backend  http://127.0.0.1:{oci_port} (token: {root / 'state/demo_token'})\n"
              f"  PC backend   http://127.0.0.1:{pc_port} (workspace: {root / 'pc_workspace'})\n"
              f"  logs         {root / 'logs'}\n"
              "Ctrl-C stops all three.", flush=True)
        if args.browser:
            webbrowser.open(url)
        while True:
            dead = stack.dead()
            if dead is not None:
                print(f"krx demo: the {dead.name} process exited ({dead.proc.returncode}); "
                      f"stopping the others; see {root / 'logs' / (dead.name + '.log')}",
                      file=sys.stderr)
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nkrx demo: stopping…", file=sys.stderr, flush=True)
        return 0
    finally:
        stack.stop()

