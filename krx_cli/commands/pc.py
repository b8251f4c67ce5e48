"""`krx pc ...`: the PC control plane (`serve`, `tunnel`, `start|stop|status`, `pull`, `push`,
`submit`). Configuration: `KRX_PC_*` variables and an env file: `--env-file FILE`, else
`$KRX_PC_ENV_FILE`, else `pc.env` in the checkout (`pc_backend.config.env_file_for`), so
`stop`, `status` and `pull` find what `scripts/start.*` started without flags. `serve` (what
`start` and `krx demo` spawn) reads only the `--env-file` it is given."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from krx_common.defaults import COCKPIT_PORT, PC_PORT, PC_TOKEN_NAME
from pc_cockpit.server import cockpit_command

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _common(p: argparse.ArgumentParser, *, search: bool = True) -> None:
    p.add_argument("--env-file", type=Path, default=None,
                   help="pc.env with KRX_PC_* settings (see deploy/pc.env.example)"
                   + ("; default $KRX_PC_ENV_FILE, else pc.env in the checkout" if search
                      else "; serve reads no other"))
    p.set_defaults(search_env_file=search)
    p.add_argument("--workspace", type=Path, default=None,
                   help="workspace directory (default $KRX_PC_WORKSPACE or "
                        "~/.krx-alertor/workspace)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pc", help="PC control plane: backend, tunnel, launcher, pull/push")
    verbs = p.add_subparsers(dest="pc_command", metavar="VERB")
    verbs.required = True

    serve = verbs.add_parser("serve", help=f"run the PC backend (FastAPI, 127.0.0.1:{PC_PORT})")
    _common(serve, search=False)
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help=f"port (default {PC_PORT})")
    serve.add_argument("--direct", default=None, metavar="URL",
                       help="reach OCI at URL without SSH (demo, VPN)")
    serve.add_argument("--allow-remote", action="store_true", default=None,
                       help="allow a non-loopback --host (not recommended)")
    serve.add_argument("--trust-on-first-use", action="store_true", default=None,
                       help="accept and record OCI's host key if known_hosts has none")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(handler=run_serve)

    tunnel = verbs.add_parser("tunnel", help="keep the SSH tunnel to OCI up (foreground; "
                              "what connect_oci.bat runs)")
    _common(tunnel)
    tunnel.add_argument("--trust-on-first-use", action="store_true", default=None,
                        help="accept and record OCI's host key if known_hosts has none")
    tunnel.set_defaults(handler=run_tunnel)

    start = verbs.add_parser("start", help="start the PC backend (+ tunnel) and the cockpit, "
                             "wait until healthy, write PID files")
    _common(start)
    start.add_argument("--direct", default=None, metavar="URL", help="reach OCI at URL (no SSH)")
    start.add_argument("--no-browser", dest="browser", action="store_false",
                       help="do not open a browser")
    start.add_argument("--no-cockpit", dest="cockpit", action="store_false",
                       help="start the backend only")
    start.add_argument("--cockpit-port", type=int, default=None,
                       help=f"cockpit port (default $KRX_PC_COCKPIT_PORT or {COCKPIT_PORT})")
    start.add_argument("--trust-on-first-use", action="store_true",
                       help="accept and record OCI's host key if known_hosts has none "
                            "(first start only)")
    start.add_argument("--timeout", type=float, default=90.0,
                       help="seconds to wait for each health check (default 90)")
    start.set_defaults(handler=run_start)

    stop = verbs.add_parser("stop", help="stop exactly the processes `krx pc start` started")
    _common(stop)
    stop.add_argument("--timeout", type=float, default=10.0,
                      help="seconds before a graceful stop becomes a forced one (default 10)")
    stop.set_defaults(handler=run_stop)

    status = verbs.add_parser("status", help="processes, tunnel, OCI, last pull, edits")
    _common(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=run_status)

    pull = verbs.add_parser("pull", help="PULL OCI's snapshot into the workspace")
    _common(pull)
    pull.set_defaults(handler=run_pull)

    push = verbs.add_parser("push", help="show the diff, then PUSH the local edits")
    _common(push)
    push.add_argument("--reason", required=True, help="why (goes to the audit log)")
    push.add_argument("--actor", default="operator")
    push.add_argument("--yes", action="store_true", help="do not ask before pushing")
    push.set_defaults(handler=run_push)

    submit = verbs.add_parser("submit", help="draft the ticket of the pulled plan, show it, "
                              "and submit it after confirmation")
    _common(submit)
    submit.add_argument("--yes", action="store_true", help="confirm without asking")
    submit.set_defaults(handler=run_submit)


def load(args: argparse.Namespace, **extra: Any) -> Any:
    """PcConfig from env, --env-file and flags; prints the problem and returns None if unusable."""
    from pydantic import ValidationError

    from pc_backend.config import ConfigError, env_file_for, load_config

    try:
        if getattr(args, "search_env_file", False):
            args.env_file = env_file_for(args.env_file)
        return load_config(getattr(args, "env_file", None),
                           workspace=getattr(args, "workspace", None), **extra)
    except ValidationError as exc:  # before ValueError, which it is
        err = exc.errors()[0]
        print(f"krx pc: KRX_PC_{str(err['loc'][0]).upper()}: {err['msg']}", file=sys.stderr)
    except (ConfigError, ValueError) as exc:  # ValueError: a variable in KRX_PC_ENV_FILE
        print(f"krx pc: {exc}", file=sys.stderr)
    return None


def run_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted; exit 2 with a clear message when the set-up is unusable."""
    import logging

    import uvicorn

    from pc_backend.app import create_app
    from pc_backend.config import ConfigError
    from pc_backend.workspace import WorkspaceError

    config = load(args, host=args.host, port=args.port, oci_url=args.direct,
                  allow_remote=args.allow_remote,
                  ssh_trust_on_first_use=args.trust_on_first_use)
    if config is None:
        return EXIT_USAGE
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(config)
    except (ConfigError, WorkspaceError) as exc:
        print(f"krx pc serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from krx_common.http_limits import ServeLimits, raise_fd_limit, serve_protocol

    raise_fd_limit()
    # The head cap, head timeout and connection cap, as on OCI (krx_common.http_limits).
    protocol = serve_protocol(ServeLimits(
        env_prefix="KRX_PC", max_header_bytes=config.max_header_bytes,
        head_timeout_s=config.head_timeout_s, max_connections=config.max_connections))
    server = uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port,
                                           log_level=args.log_level, workers=1,
                                           server_header=False, http=protocol))
    app.state.uvicorn_server = server  # POST /api/v1/shutdown (krx pc stop, also on Windows)
    server.run()
    return EXIT_OK


def run_tunnel(args: argparse.Namespace) -> int:
    """Keep the tunnel up and print its state changes until Ctrl-C."""
    import logging
    import time

    from pc_backend.config import ConfigError
    from pc_backend.tunnel import TunnelKeeper

    config = load(args, ssh_trust_on_first_use=args.trust_on_first_use)
    if config is None:
        return EXIT_USAGE
    if config.direct():
        print("krx pc tunnel: KRX_PC_OCI_URL is set (direct mode): no tunnel to keep",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        config.check_mode()
    except ConfigError as exc:
        print(f"krx pc tunnel: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(message)s")
    keeper = TunnelKeeper.from_config(config)
    keeper.start()
    print(f"tunnel: 127.0.0.1:{keeper.local_port} -> {config.ssh_user}@{config.ssh_host}:"
          f"{config.ssh_port} -> 127.0.0.1:{config.remote_port} (Ctrl-C stops it)", flush=True)
    last = None
    try:
        while True:
            st = keeper.status()
            if st.state != last:
                why = f" — {st.last_error}" if st.last_error else ""
                print(f"{st.since:%H:%M:%S} {st.state.value}{why}", flush=True)
                last = st.state
                if st.state.value == "DOWN":
                    return EXIT_FAIL
            time.sleep(0.2)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        keeper.stop()


def _launcher(args: argparse.Namespace, config: Any) -> Any:
    from pc_backend.launcher import Launcher

    return Launcher(config, env_file=args.env_file, cockpit_command=cockpit_command)


def run_start(args: argparse.Namespace) -> int:
    from pc_backend.launcher import LaunchError

    config = load(args, oci_url=args.direct, cockpit_port=args.cockpit_port)
    if config is None:
        return EXIT_USAGE
    try:
        running = _launcher(args, config).start(
            direct=args.direct, cockpit=args.cockpit, browser=args.browser,
            timeout=args.timeout, trust_on_first_use=args.trust_on_first_use)
    except LaunchError as exc:
        print(f"krx pc start: {exc}", file=sys.stderr)
        return EXIT_FAIL
    print(f"running: {', '.join(sorted(running))}; stop with: {_verb_line('stop', args)}")
    return EXIT_OK


def _verb_line(verb: str, args: argparse.Namespace) -> str:
    """`krx pc VERB` with the flags it needs to find what this run used (none by default)."""
    from pc_backend.config import env_file_for

    line = f"krx pc {verb}"
    default = env_file_for(None)
    if args.env_file is not None and (default is None
                                      or default.resolve() != args.env_file.resolve()):
        line += f" --env-file {args.env_file}"
    if args.workspace is not None:
        line += f" --workspace {args.workspace}"
    return line


def run_stop(args: argparse.Namespace) -> int:
    config = load(args)
    if config is None:
        return EXIT_USAGE
    stopped = _launcher(args, config).stop(timeout=args.timeout)
    print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
    return EXIT_OK


def run_status(args: argparse.Namespace) -> int:
    import json

    config = load(args)
    if config is None:
        return EXIT_USAGE
    info = _launcher(args, config).status()
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False, default=str))
        return EXIT_OK if info.get("backend", {}).get("running") else EXIT_FAIL
    if not info:
        print("not started (no PID files); start with: krx pc start")
        return EXIT_FAIL
    for name, item in info.items():
        state = "running" if item["running"] else "STALE PID file (not running)"
        print(f"{name}: {state} pid {item.get('pid')} {item.get('url', '')}")
        pc = item.get("pc")
        if isinstance(pc, dict):
            t, o = pc["tunnel"], pc["oci"]
            print(f"  tunnel: {t['state']}" + (f" — {t['last_error']}" if t.get("last_error")
                                               else ""))
            print(f"  OCI: {'reachable' if o['reachable'] else 'UNREACHABLE'}"
                  + (f" {o['latency_ms']} ms" if o.get("latency_ms") is not None else "")
                  + (f" — {o['error']}" if o.get("error") else ""))
            print(f"  last pull: {pc.get('last_pull_at') or 'never'} "
                  f"(revision {pc.get('pulled_revision')}); unpushed edits: "
                  f"{pc['unpushed_edits']}; conflicts: {pc['conflicts']}")
        elif pc is not None:
            print(f"  status: {pc}")
    return EXIT_OK if info.get("backend", {}).get("running") else EXIT_FAIL


# -- API verbs: talk to the running PC backend -----------------------------------------------
class _Api:
    def __init__(self, config: Any) -> None:
        import httpx

        token = (config.workspace / PC_TOKEN_NAME).read_text(encoding="utf-8").strip()
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{config.port}", timeout=120.0,
                                   headers={"Authorization": f"Bearer {token}"}, trust_env=False)

    def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        r = self.client.request(method, f"/api/v1{path}", **kw)
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, {"message": r.text}


def _api(args: argparse.Namespace, verb: str) -> Any:
    import httpx

    config = load(args)
    if config is None:
        return None
    try:
        api = _Api(config)
        api.client.get("/health", timeout=3.0)
    except FileNotFoundError:
        print(f"krx pc {verb}: no PC token in {config.workspace}: start the backend first "
              "(krx pc start)", file=sys.stderr)
        return None
    except httpx.TransportError:
        print(f"krx pc {verb}: the PC backend does not answer on 127.0.0.1:{config.port}; "
              "start it with: krx pc start", file=sys.stderr)
        return None
    return api


def _fail(verb: str, status: int, body: Any) -> int:
    msg = body.get("message", body) if isinstance(body, dict) else body
    print(f"krx pc {verb}: {status} {msg}", file=sys.stderr)
    for c in (body.get("conflicts") or []) if isinstance(body, dict) else []:
        print(f"  CONFLICT {c['artifact']} {c['path']}: base {c['base']!r}, "
              f"mine {c['mine']!r}, OCI {c['theirs']!r}", file=sys.stderr)
    return EXIT_FAIL


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        print(f"{question} — not a terminal: pass --yes to confirm", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def run_pull(args: argparse.Namespace) -> int:
    api = _api(args, "pull")
    if api is None:
        return EXIT_FAIL
    status, body = api.call("POST", "/pull")
    if status != 200:
        return _fail("pull", status, body)
    print(f"pulled revision {body['revision']} at {body['pulled_at']}"
          + (" (local edits rebased)" if body["rebased"] else ""))
    for c in body["conflicts"]:
        print(f"  CONFLICT {c['artifact']} {c['path']}: base {c['base']!r}, mine "
              f"{c['mine']!r}, OCI {c['theirs']!r}")
    return EXIT_OK if not body["conflicts"] else EXIT_FAIL


def run_push(args: argparse.Namespace) -> int:
    api = _api(args, "push")
    if api is None:
        return EXIT_FAIL
    status, diff = api.call("GET", "/diff")
    if status != 200:
        return _fail("push", status, diff)
    if not diff["changes"]:
        print("nothing to push: no local edits")
        return EXIT_OK
    print(f"local edits on revision {diff['base_revision']}:")
    for ch in diff["changes"]:
        print(f"  {ch['artifact']} {ch['path']}: {ch['base']!r} -> {ch['mine']!r}")
    if not _confirm("push these changes?", args.yes):
        return EXIT_FAIL
    status, body = api.call("POST", "/push", json={"reason": args.reason, "actor": args.actor})
    if status != 200:
        return _fail("push", status, body)
    print(f"pushed: revision {body['revision']} ({', '.join(body['changed'])}); "
          + ("re-plan visible" if body["visible"] else "re-plan not visible yet"))
    return EXIT_OK


def run_submit(args: argparse.Namespace) -> int:
    api = _api(args, "submit")
    if api is None:
        return EXIT_FAIL
    status, draft = api.call("GET", "/tickets/draft")
    if status == 404:
        status, draft = api.call("POST", "/tickets/draft", json={})
    if status != 200:
        return _fail("submit", status, draft)
    print(draft["ticket"]["copy_text"])
    if draft.get("record"):
        print(f"(already submitted: {draft['record']['state']})")
    if not _confirm(f"submit ticket {draft['ticket']['ticket_id']}?", args.yes):
        return EXIT_FAIL
    status, rec = api.call("POST", "/tickets/submit", json={"confirm": True})
    if status not in (200, 201):
        return _fail("submit", status, rec)
    print(f"{'submitted' if status == 201 else 'already submitted'}: "
          f"{rec['ticket']['ticket_id']} {rec['state']}")
    return EXIT_OK
