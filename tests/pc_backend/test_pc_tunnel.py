"""The tunnel keeper against a REAL sshd on 127.0.0.1 in front of a REAL OCI backend: up,
sshd killed (leaves UP within 5 s), sshd back (UP within 5 s), SIGSTOP (DEGRADED/RECONNECTING,
fast refusals) then SIGCONT, a wrong or unknown host key refused with a clear message."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from oci_server import REPO_DAILY, OciServer, free_port, new_token, start_server, stop_server  # noqa: I001
from pc_server import NOW, REPO, pc_env, start_pc, stop_pc, write_token_file
from sshd import Sshd, keygen

from contracts.pc import TunnelState
from pc_backend.oci_client import OciClient, OciUnreachable
from pc_backend.tunnel import TunnelKeeper, TunnelSettings

pytestmark = pytest.mark.integration

UP = TunnelState.UP


@pytest.fixture(scope="module")
def oci(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OciServer]:
    """One OCI backend for this module: the tunnel tests only read it (and push one field)."""
    root = tmp_path_factory.mktemp("oci-tunnel")
    (root / "data").mkdir()
    server = start_server(root / "data", root / "oci.log", token=new_token(),
                          data_spec=f"csv:{REPO_DAILY}", env=NOW)
    yield server
    stop_server(server)


def _settings(sshd: Sshd, oci: OciServer, **kw: object) -> TunnelSettings:
    base = dict(ssh_host="127.0.0.1", ssh_port=sshd.port, ssh_user=sshd.user,
                ssh_key=sshd.client_key, known_hosts=sshd.known_hosts,
                remote_port=int(oci.base_url.rsplit(":", 1)[1]), local_port=0,
                probe_interval_s=0.5, probe_timeout_s=1.0, backoff_max_s=1.0)
    base.update(kw)
    return TunnelSettings(**base)  # type: ignore[arg-type]


@pytest.fixture
def keeper(sshd: Sshd, oci: OciServer) -> Iterator[TunnelKeeper]:
    k = TunnelKeeper(_settings(sshd, oci))
    k.start()
    yield k
    k.stop()


def _wait_state(k: TunnelKeeper, states: set[TunnelState], timeout: float) -> float:
    """Seconds until the keeper is in one of `states`; fails after `timeout`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if k.status().state in states:
            return time.monotonic() - t0
        time.sleep(0.05)
    pytest.fail(f"not {sorted(s.value for s in states)} within {timeout} s: {k.status()}")


def test_tunnel_up_kill_restart_recovers_without_restarting_the_client(
    sshd: Sshd, oci: OciServer, keeper: TunnelKeeper,
) -> None:
    _wait_state(keeper, {UP}, 15)
    client = OciClient(keeper.local_url, oci.token, gate=keeper.gate)
    assert client.health()[0].status == "ok"
    status = keeper.status()
    assert status.last_up_at is not None and status.local_port == keeper.local_port

    sshd.kill()
    left = _wait_state(keeper, {TunnelState.DEGRADED, TunnelState.RECONNECTING}, 5)
    assert left < 5
    t0 = time.monotonic()
    with pytest.raises(OciUnreachable, match="tunnel"):
        client.snapshot()
    assert time.monotonic() - t0 < 1.0
    _wait_state(keeper, {TunnelState.RECONNECTING}, 5)
    assert "refused" in (keeper.status().last_error or "") or keeper.status().last_error

    time.sleep(1.5)  # down a while: the backoff has grown
    sshd.start()
    back = _wait_state(keeper, {UP}, 5)
    assert back < 5
    assert client.snapshot().revision >= 0  # same client, same local port
    assert keeper.status().restarts >= 1
    client.close()


def test_tunnel_sigstop_degrades_fails_fast_and_recovers_after_sigcont(
    sshd: Sshd, oci: OciServer, keeper: TunnelKeeper,
) -> None:
    _wait_state(keeper, {UP}, 15)
    client = OciClient(keeper.local_url, oci.token, gate=keeper.gate, read_timeout=5.0)
    sshd.signal_all(signal.SIGSTOP)
    try:
        _wait_state(keeper, {TunnelState.DEGRADED, TunnelState.RECONNECTING}, 5)
        t0 = time.monotonic()
        with pytest.raises(OciUnreachable) as err:
            client.snapshot()
        assert time.monotonic() - t0 < 1.0
        assert "tunnel" in str(err.value)
    finally:
        sshd.signal_all(signal.SIGCONT)
    back = _wait_state(keeper, {UP}, 10)
    assert back < 10
    assert client.snapshot().revision >= 0
    client.close()


def test_tunnel_wrong_host_key_is_refused_with_a_clear_message(
    tmp_path: Path, sshd: Sshd, oci: OciServer,
) -> None:
    other = keygen(tmp_path / "other_host_key")
    pub = Path(f"{other}.pub").read_text(encoding="utf-8").split()
    wrong = tmp_path / "known_hosts_wrong"
    wrong.write_text(f"[127.0.0.1]:{sshd.port} {pub[0]} {pub[1]}\n", encoding="utf-8")
    k = TunnelKeeper(_settings(sshd, oci, known_hosts=wrong))
    k.start()
    try:
        _wait_state(k, {TunnelState.DOWN}, 10)
        status = k.status()
        assert "HOST KEY MISMATCH" in (status.last_error or "")
        assert status.last_up_at is None
        with pytest.raises(httpx.TransportError):  # nothing listens: no forward was opened
            httpx.get(f"{k.local_url}/health", timeout=1, trust_env=False)
        assert "HOST KEY MISMATCH" in (k.gate() or "")
    finally:
        k.stop()


def test_tunnel_unknown_host_needs_explicit_trust_on_first_use(
    tmp_path: Path, sshd: Sshd, oci: OciServer,
) -> None:
    empty = tmp_path / "known_hosts_empty"
    k = TunnelKeeper(_settings(sshd, oci, known_hosts=empty))
    k.start()
    try:
        _wait_state(k, {TunnelState.DOWN}, 10)
        assert "not in" in (k.status().last_error or "")
        assert not empty.exists()
    finally:
        k.stop()
    k = TunnelKeeper(_settings(sshd, oci, known_hosts=empty, trust_on_first_use=True))
    k.start()
    try:
        _wait_state(k, {UP}, 15)
        recorded = empty.read_text(encoding="utf-8").split()
        host_pub = Path(f"{sshd.host_key}.pub").read_text(encoding="utf-8").split()
        assert recorded == [f"[127.0.0.1]:{sshd.port}", host_pub[0], host_pub[1]]
    finally:
        k.stop()


def test_pc_backend_through_the_tunnel_pull_push_and_survives_sshd_restart(
    tmp_path: Path, sshd: Sshd, oci: OciServer,
) -> None:
    token_file = write_token_file(tmp_path / "oci_token", oci.token)
    env = {**sshd.env(), "KRX_PC_OCI_TOKEN_FILE": str(token_file),
           "KRX_PC_REMOTE_PORT": oci.base_url.rsplit(":", 1)[1],
           "KRX_PC_TUNNEL_PORT": str(free_port()), "KRX_PC_PROBE_INTERVAL_S": "0.5"}
    pc = start_pc(tmp_path / "ws", tmp_path / "pc.log", args=[], env=env)
    try:
        with pc.client() as c:
            deadline = time.monotonic() + 15
            while c.get("/api/v1/status").json()["tunnel"]["state"] != "UP":
                assert time.monotonic() < deadline, c.get("/api/v1/status").text
                time.sleep(0.1)
            status = c.get("/api/v1/status").json()
            assert status["oci"]["reachable"] and status["oci"]["latency_ms"] > 0
            assert status["oci_url"] == f"http://127.0.0.1:{env['KRX_PC_TUNNEL_PORT']}"
            assert c.post("/api/v1/pull").status_code == 200
            s = c.get("/api/v1/workspace/settings").json()
            s["guardrails"]["max_orders"] = 7
            assert c.put("/api/v1/workspace/settings", json=s).status_code == 200
            assert [d["path"] for d in c.get("/api/v1/diff").json()["changes"]] == [
                "guardrails.max_orders"]
            r = c.post("/api/v1/push", json={"reason": "through the tunnel"})
            assert r.status_code == 200 and r.json()["visible"], r.text
            with oci.client() as o:
                assert o.get("/api/v1/sync/snapshot").json()["settings"]["guardrails"][
                    "max_orders"] == 7

            sshd.kill()
            deadline = time.monotonic() + 5
            while c.get("/api/v1/status").json()["tunnel"]["state"] == "UP":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            t0 = time.monotonic()
            r = c.post("/api/v1/pull")
            assert r.status_code == 503 and time.monotonic() - t0 < 2.0
            assert r.json()["error"] == "OCI_UNREACHABLE" and "tunnel" in r.json()["message"]
            sshd.start()
            deadline = time.monotonic() + 5
            while c.get("/api/v1/status").json()["tunnel"]["state"] != "UP":
                assert time.monotonic() < deadline, c.get("/api/v1/status").text
                time.sleep(0.1)
            assert c.post("/api/v1/pull").status_code == 200
            assert pc.proc.poll() is None  # the same PC backend process throughout
    finally:
        stop_pc(pc)


def test_pc_tunnel_cli_reports_states_and_stops_on_a_wrong_host_key(
    tmp_path: Path, sshd: Sshd, oci: OciServer,
) -> None:
    """`krx pc tunnel` (what connect_oci runs): UP through the real sshd, forwarding to OCI."""
    port = free_port()
    env = {**sshd.env(), "KRX_PC_REMOTE_PORT": oci.base_url.rsplit(":", 1)[1],
           "KRX_PC_TUNNEL_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "krx_cli.main", "pc", "tunnel"], cwd=REPO,
                            env=pc_env(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            lines.append(line)
            if line.rstrip().endswith(" UP"):
                break
        assert lines[-1].rstrip().endswith(" UP"), lines
        assert httpx.get(f"http://127.0.0.1:{port}/health", trust_env=False).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    other = keygen(tmp_path / "other")
    pub = Path(f"{other}.pub").read_text(encoding="utf-8").split()
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"[127.0.0.1]:{sshd.port} {pub[0]} {pub[1]}\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "krx_cli.main", "pc", "tunnel"], cwd=REPO,
                       env=pc_env({**env, "KRX_PC_SSH_KNOWN_HOSTS": str(wrong)}),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "HOST KEY MISMATCH" in r.stdout


def test_tunnel_local_port_taken_by_a_stranger_is_named(sshd: Sshd, oci: OciServer) -> None:
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        port = stranger.getsockname()[1]
        k = TunnelKeeper(_settings(sshd, oci, local_port=port))
        k.start()
        try:
            deadline = time.monotonic() + 10
            while "in use" not in (k.status().last_error or ""):
                assert time.monotonic() < deadline, k.status()
                time.sleep(0.05)
            assert k.status().state is TunnelState.RECONNECTING
            assert "KRX_PC_TUNNEL_PORT" in (k.status().last_error or "")
        finally:
            k.stop()
