"""Network isolation (issue 11, section 4): two network namespaces joined by a veth pair.
"oci" runs a real sshd on its veth address and the real OCI backend on its own 127.0.0.1;
"pc" runs the real PC backend. From inside "pc" the backend port is unreachable directly and
reachable through the PC backend's SSH tunnel. All traffic starts inside the namespaces (the
host namespace routes those addresses elsewhere); the namespaces are removed afterwards."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "pc_backend"))

from sshd import make_sshd, require_sshd  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PY = sys.executable

# Runs inside a namespace: GET a URL, print {"status": ..., "body": ...} or {"error": ...}.
PROBE = """
import json, sys, httpx
url, token = sys.argv[1], sys.argv[2]
headers = {"Authorization": f"Bearer {token}"} if token else {}
try:
    r = httpx.request(sys.argv[3] if len(sys.argv) > 3 else "GET", url, headers=headers,
                      timeout=3, trust_env=False)
    print(json.dumps({"status": r.status_code, "body": r.text[:2000]}))
except httpx.HTTPError as exc:
    print(json.dumps({"error": type(exc).__name__}))
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def _need_netns() -> None:
    problem = None
    if shutil.which("ip") is None:
        problem = "iproute2 (`ip`) is not installed"
    else:
        probe = f"krxp{secrets.token_hex(3)}"
        r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
        if r.returncode != 0:
            problem = f"cannot create network namespaces here: {r.stderr.strip()}"
        else:
            subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


@pytest.fixture
def netns() -> Iterator[dict[str, str]]:
    _need_netns()
    tag = secrets.token_hex(3)
    oci, pc = f"krx-oci-{tag}", f"krx-pc-{tag}"
    net = f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(250)}"
    names = {"oci": oci, "pc": pc, "oci_ip": f"{net}.1", "pc_ip": f"{net}.2"}
    created = []
    try:
        for ns in (oci, pc):
            _ip("netns", "add", ns)
            created.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("link", "add", f"vo{tag}", "netns", oci, "type", "veth", "peer", "name",
            f"vp{tag}", "netns", pc)
        _ip("-n", oci, "addr", "add", f"{names['oci_ip']}/30", "dev", f"vo{tag}")
        _ip("-n", pc, "addr", "add", f"{names['pc_ip']}/30", "dev", f"vp{tag}")
        _ip("-n", oci, "link", "set", f"vo{tag}", "up")
        _ip("-n", pc, "link", "set", f"vp{tag}", "up")
        yield names
    finally:
        for ns in created:  # deleting a namespace removes its end of the veth pair too
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        assert not {oci, pc} & set(subprocess.run(["ip", "netns", "list"], capture_output=True,
                                                  text=True).stdout.split())


def _popen(ns: str, cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    with open(log, "wb") as fh:
        return subprocess.Popen(["ip", "netns", "exec", ns, *cmd], cwd=REPO, env=env,
                                stdout=fh, stderr=subprocess.STDOUT)


def _probe(ns: str, url: str, token: str = "", method: str = "GET") -> dict:
    out = subprocess.run(["ip", "netns", "exec", ns, PY, "-c", PROBE, url, token, method],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _wait(ns: str, url: str, ok, timeout: float = 60, token: str = "") -> dict:
    deadline = time.monotonic() + timeout
    while True:
        res = _probe(ns, url, token)
        if ok(res):
            return res
        if time.monotonic() > deadline:
            pytest.fail(f"{url} in {ns}: {res}")
        time.sleep(0.3)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_isolation_backend_reachable_from_pc_only_through_the_tunnel(netns, tmp_path):
    require_sshd()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("KRX_")}
    oci_port, ssh_port, tunnel_port, pc_port = 18000, 2222, 18001, 18080
    token = "t0k-" + secrets.token_urlsafe(32)
    procs: list[subprocess.Popen] = []
    try:
        # "oci": the backend on its own loopback, sshd on the veth address.
        data = tmp_path / "oci-data"
        data.mkdir()
        procs.append(_popen(netns["oci"], [
            PY, "-m", "krx_cli.main", "oci", "serve", "--host", "127.0.0.1", "--port",
            str(oci_port), "--data-dir", str(data), "--data", f"csv:{REPO / 'data/krx/daily'}"],
            tmp_path / "oci.log", base_env | {"KRX_OCI_TOKEN": token,
                                              "KRX_OCI_TICKET_PROCESSOR": "false"}))
        _wait(netns["oci"], f"http://127.0.0.1:{oci_port}/health",
              lambda r: r.get("status") == 200)
        sshd = make_sshd(tmp_path / "sshd")
        config = sshd.config.read_text(encoding="utf-8")
        config = config.replace(f"Port {sshd.port}", f"Port {ssh_port}").replace(
            "ListenAddress 127.0.0.1", f"ListenAddress {netns['oci_ip']}")
        sshd.config.write_text(config, encoding="utf-8")
        pub = Path(f"{sshd.host_key}.pub").read_text(encoding="utf-8").split()
        sshd.known_hosts.write_text(f"[{netns['oci_ip']}]:{ssh_port} {pub[0]} {pub[1]}\n",
                                    encoding="utf-8")
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        procs.append(_popen(netns["oci"], ["/usr/sbin/sshd", "-D", "-e", "-f", str(sshd.config)],
                            tmp_path / "sshd.log", base_env))

        # From "pc", the backend port is not reachable directly: not on the veth address
        # (the backend binds oci's 127.0.0.1) and not on pc's own loopback.
        for url in (f"http://{netns['oci_ip']}:{oci_port}/health",
                    f"http://127.0.0.1:{oci_port}/health"):
            assert "error" in _probe(netns["pc"], url), url
        # (Nothing is sent from the host namespace: it routes these addresses elsewhere.)

        # "pc": the PC backend with its tunnel to sshd on oci's veth address.
        token_file = tmp_path / "oci_token"
        token_file.write_text(token + "\n", encoding="utf-8")
        token_file.chmod(0o600)
        workspace = tmp_path / "ws"
        procs.append(_popen(netns["pc"], [
            PY, "-m", "krx_cli.main", "pc", "serve", "--port", str(pc_port), "--workspace",
            str(workspace)], tmp_path / "pc.log", base_env | {
                "KRX_PC_SSH_HOST": netns["oci_ip"], "KRX_PC_SSH_PORT": str(ssh_port),
                "KRX_PC_SSH_USER": sshd.user, "KRX_PC_SSH_KEY": str(sshd.client_key),
                "KRX_PC_SSH_KNOWN_HOSTS": str(sshd.known_hosts),
                "KRX_PC_OCI_TOKEN_FILE": str(token_file), "KRX_PC_REMOTE_PORT": str(oci_port),
                "KRX_PC_TUNNEL_PORT": str(tunnel_port), "KRX_PC_PROBE_INTERVAL_S": "0.5"}))
        _wait(netns["pc"], f"http://127.0.0.1:{pc_port}/health",
              lambda r: r.get("status") == 200)
        pc_token = (workspace / "pc_token").read_text(encoding="utf-8").strip()
        status = _wait(netns["pc"], f"http://127.0.0.1:{pc_port}/api/v1/status",
                       lambda r: r.get("status") == 200
                       and json.loads(r["body"])["tunnel"]["state"] == "UP", token=pc_token)
        assert json.loads(status["body"])["oci"]["reachable"] is True
        # Through the tunnel's local end inside "pc", the backend answers (with its token).
        through = _probe(netns["pc"], f"http://127.0.0.1:{tunnel_port}/api/v1/sync/snapshot",
                         token)
        assert through["status"] == 200 and '"revision":1' in through["body"]
        pulled = _probe(netns["pc"], f"http://127.0.0.1:{pc_port}/api/v1/pull", pc_token, "POST")
        assert pulled["status"] == 200, pulled
    finally:
        for proc in reversed(procs):
            _stop(proc)
