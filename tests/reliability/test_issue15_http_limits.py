"""Issue 15, defects 6, 7 and 8: the HTTP limits both backends share (`krx_common.http_limits`),
against REAL `krx oci serve` and `krx pc serve` processes on loopback.

6. An integer of more than 4,300 digits in any JSON body was a 500 on OCI (Python's int
   conversion limit) and a 400 on the PC: now 422 `INVALID_NUMBER` naming the field, on both.
7. The PC backend read a header of any size, had no body limit, accepted duplicate JSON keys
   and two Host or Authorization headers: it now has OCI's limits, from the same code.
8. An idle, never-finished request stayed open for ever; 1,100 of them exhausted the default
   1024 fds, so `/health` failed and the ticket processor hit EMFILE. Now a request-head
   timeout closes them, and a connection cap below the fd limit keeps `/health` answering.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from oci_server import (
    REPO_DAILY,
    OciServer,
    error_of,
    free_port,
    new_token,
    serve_command,
    server_env,
    spawn_logged,
    start_server,
    stop_server,
    terminate,
    wait_healthy,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pc_backend"))

from pc_server import PcServer, start_direct, stop_pc  # noqa: E402

from contracts.common import now_kst  # noqa: E402
from contracts.plan import OrderPlan  # noqa: E402
from contracts.settings import Settings  # noqa: E402
from contracts.sync import SyncSnapshot  # noqa: E402
from strategy.ticketing import draft_ticket  # noqa: E402

pytestmark = pytest.mark.integration

HEAD_TIMEOUT_S = 1.5
NOW = {"KRX_OCI_NOW": "2025-12-30T10:00:00+09:00"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OciServer, PcServer]]:
    """One OCI backend and one PC backend in front of it (--direct), short head timeouts."""
    tmp = tmp_path_factory.mktemp("issue15-http")
    (tmp / "data").mkdir()
    oci = start_server(tmp / "data", tmp / "oci.log", token=new_token(),
                       data_spec=f"csv:{REPO_DAILY}",
                       env={"KRX_OCI_HEAD_TIMEOUT_S": str(HEAD_TIMEOUT_S)})
    try:
        pc = start_direct(oci, tmp / "ws", tmp / "pc.log",
                          env={"KRX_PC_HEAD_TIMEOUT_S": str(HEAD_TIMEOUT_S),
                               "KRX_PC_DATA": f"csv:{REPO_DAILY}"})
    except BaseException:
        stop_server(oci)
        raise
    yield oci, pc
    stop_pc(pc)
    stop_server(oci)


def _clients(servers: tuple[OciServer, PcServer]) -> list[tuple[str, httpx.Client]]:
    oci, pc = servers
    return [("OCI", oci.client(timeout=30)), ("PC", pc.client(timeout=30))]


def _body_routes(client: httpx.Client) -> list[tuple[str, str]]:
    """(method, path) of every route with a JSON body in the server's OpenAPI."""
    spec = client.get("/openapi.json").json()
    routes = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method in ("post", "put", "patch") and "requestBody" in op:
                routes.append((method.upper(), path.replace("{", "").replace("}", "")))
    return routes


# --- defect 6 --------------------------------------------------------------------------------


def test_defect06_integer_over_4300_digits_is_422_naming_the_field_on_every_json_post(
    servers: tuple[OciServer, PcServer],
) -> None:
    huge = "9" * 5000
    bodies = [
        (f'{{"on": true, "reason": "x", "count": {huge}}}', "count"),
        (f'{{"fills": [{{"ticker": "005930", "side": "BUY", "qty": -{huge}}}]}}',
         "fills.0.qty"),
        (huge, "body"),
    ]
    health = {}
    for name, c in _clients(servers):
        with c:
            routes = _body_routes(c)
            assert len(routes) >= 5, routes
            for method, path in routes:
                for text, field in bodies:
                    r = c.request(method, path, content=text,
                                  headers={"Content-Type": "application/json",
                                           "Idempotency-Key": str(uuid.uuid4())})
                    assert r.status_code == 422, (name, method, path, r.status_code, r.text)
                    body = error_of(r)
                    assert body["error"] == "INVALID_NUMBER" and body["field"] == field, body
                    assert "5000 digits" in body["message"]
            # 4,300 digits is still a number (the contract then refuses it by its bounds).
            r = c.post(routes[0][1], content=f'{{"n": {"9" * 4300}}}',
                       headers={"Content-Type": "application/json"})
            assert r.status_code != 500 and error_of(r)["error"] != "INVALID_NUMBER", r.text
            health[name] = c.get("/health").status_code
    assert health == {"OCI": 200, "PC": 200}


# --- defect 7 --------------------------------------------------------------------------------


def test_defect07_pc_backend_has_ocis_header_cap_body_limit_and_strict_json(
    servers: tuple[OciServer, PcServer],
) -> None:
    oci, pc = servers
    host, port = pc.base_url.removeprefix("http://").split(":")
    with pc.client(timeout=10) as c:
        # header cap: 431 before the guard, quickly
        t0 = time.monotonic()
        r = c.get("/api/v1/status", headers={"X-Pad": "a" * 65_536})
        assert r.status_code == 431 and error_of(r)["error"] == "HEADERS_TOO_LARGE"
        assert "KRX_PC_MAX_HEADER_BYTES" in error_of(r)["message"]
        assert time.monotonic() - t0 < 2.0
        # body limit: 413 before the body is read (declared length) or at the limit (chunked)
        r = c.put("/api/v1/workspace/settings", content=b"{" + b" " * 400_000 + b"}",
                  headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and error_of(r)["error"] == "BODY_TOO_LARGE", r.text
        assert "KRX_PC_MAX_BODY_BYTES" in error_of(r)["message"]

        def chunks() -> Iterator[bytes]:
            for _ in range(40):
                yield b" " * 16_384

        r = c.put("/api/v1/workspace/settings", content=chunks(),
                  headers={"Content-Type": "application/json"})
        assert r.status_code == 413, r.text
        # strict JSON: duplicate keys, NaN, UTF-16
        r = c.post("/api/v1/push", content=b'{"reason": "a", "reason": "b"}',
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and error_of(r)["error"] == "DUPLICATE_KEY"
        assert error_of(r)["field"] == "reason"
        r = c.post("/api/v1/emergency-stop", content=b'{"on": NaN, "reason": "x"}',
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and error_of(r)["error"] == "INVALID_NUMBER"
        r = c.post("/api/v1/push", content='{"reason": "x"}'.encode("utf-16"),
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and error_of(r)["error"] == "INVALID_ENCODING"
        r = c.post("/api/v1/push", content=b'{"reason": "x"}',
                   headers={"Content-Type": "text/plain"})
        assert r.status_code == 415
        # two Authorization headers (both right) and two Host headers: refused
        good = f"Bearer {pc.token}"
        r = httpx.get(f"{pc.base_url}/api/v1/status", trust_env=False,
                      headers=[("Authorization", good), ("Authorization", good)])
        assert r.status_code == 401 and "exactly one" in error_of(r)["message"]
        assert c.get("/api/v1/status").status_code == 200
    for base_url, token in ((pc.base_url, pc.token), (oci.base_url, oci.token)):
        h, p = base_url.removeprefix("http://").split(":")
        with socket.create_connection((h, int(p)), timeout=5) as s:
            s.sendall(f"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n"
                      f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode())
            answer = _read_all(s)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
        assert b'"field": "Host"' in answer
    # an endless header is cut off and /health stays responsive (PC, as OCI)
    sent = {"bytes": 0}
    closed = threading.Event()

    def flood() -> None:
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ")
            try:
                for _ in range(1600):  # up to 100 MB
                    s.sendall(b"a" * 65_536)
                    sent["bytes"] += 65_536
            except OSError:
                closed.set()

    worker = threading.Thread(target=flood, daemon=True)
    worker.start()
    with httpx.Client(base_url=pc.base_url, trust_env=False, timeout=10) as c:
        latencies = []
        for _ in range(5):
            t0 = time.monotonic()
            assert c.get("/health").status_code == 200
            latencies.append(time.monotonic() - t0)
    worker.join(timeout=30)
    assert closed.is_set(), "the PC backend kept reading an endless header"
    assert sent["bytes"] < 20 * 1024 * 1024
    assert max(latencies) < 1.0, latencies


def test_defect07_the_limits_are_one_module_that_imports_neither_backend() -> None:
    code = ("import sys, krx_common.http_limits; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('oci_backend', 'pc_backend')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2]).stdout
    assert out.strip() == "[]"
    import oci_backend

    assert not (Path(oci_backend.__file__).parent / "middleware.py").exists()
    assert not (Path(oci_backend.__file__).parent / "http_limits.py").exists()


# --- defect 8 --------------------------------------------------------------------------------


def _read_all(s: socket.socket) -> bytes:
    data = b""
    while True:
        chunk = s.recv(65_536)
        if not chunk:
            return data
        data += chunk


def test_defect08_idle_never_finished_requests_are_closed_on_both_servers(
    servers: tuple[OciServer, PcServer],
) -> None:
    for server in servers:
        host, port = server.base_url.removeprefix("http://").split(":")
        stalled_body = (f"POST /api/v1/emergency-stop HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        f"Authorization: Bearer {server.token}\r\n"
                        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                        '{"re').encode()
        # nothing; half a head; a whole request then half of the next one (keep-alive);
        # a head whose body stalls
        for sent in (b"", b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                     b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTP/1.1\r\n",
                     stalled_body):
            t0 = time.monotonic()
            with socket.create_connection((host, int(port)), timeout=HEAD_TIMEOUT_S + 5) as s:
                s.sendall(sent)
                try:
                    answer = _read_all(s)
                except TimeoutError:
                    pytest.fail(f"{server.base_url}: {sent[:20]!r}… still open after "
                                f"{time.monotonic() - t0:.1f} s")
            took = time.monotonic() - t0
            assert HEAD_TIMEOUT_S - 0.2 < took < HEAD_TIMEOUT_S + 2.5, took
            if sent.startswith(b"GET"):
                assert b"HTTP/1.1 408 Request Timeout" in answer, answer[:300]
                assert b"HEAD_TIMEOUT_S" in answer
        with httpx.Client(base_url=server.base_url, trust_env=False) as c:
            assert c.get("/health").status_code == 200


def _start_oci_with_nofile(tmp: Path, nofile: int, env: dict[str, str]) -> OciServer:
    """`krx oci serve` with RLIMIT_NOFILE soft = hard = `nofile` (it cannot raise it)."""
    (tmp / "data").mkdir()
    token = new_token()
    port = free_port()
    cmd = serve_command(port, tmp / "data", f"csv:{REPO_DAILY}")
    wrapper = ("import os, resource, sys; "
               f"resource.setrlimit(resource.RLIMIT_NOFILE, ({nofile}, {nofile})); "
               "os.execv(sys.argv[1], sys.argv[1:])")
    proc = spawn_logged([sys.executable, "-c", wrapper, *cmd], server_env(token, env),
                        tmp / "oci.log")
    server = OciServer(f"http://127.0.0.1:{port}", token, tmp / "data", tmp / "oci.log", proc)
    wait_healthy(proc, server.base_url, server.output, timeout=60, what="server")
    return server


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_defect08_1100_idle_connections_keep_health_answering_and_tickets_processed(
    tmp_path: Path,
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2048
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"the hard fd limit {hard} is below {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    server = _start_oci_with_nofile(tmp_path, 1024, {
        **NOW, "KRX_OCI_TICKET_PROCESSOR": "true", "KRX_OCI_TICKET_INTERVAL_S": "0.3",
        "KRX_OCI_HEAD_TIMEOUT_S": "60"})  # the idle connections outlive the test's checks
    idle: list[socket.socket] = []
    try:
        with server.client(timeout=60) as c:
            assert c.post("/api/v1/ops/cycle").status_code == 200
            plan = OrderPlan.model_validate_json(c.get("/api/v1/plans/current").content)
            assert plan.decision.value == "READY", plan.reasons
            snap = SyncSnapshot.model_validate_json(c.get("/api/v1/sync/snapshot").content)
            ticket = draft_ticket(plan, Settings.model_validate(snap.settings.model_dump()),
                                  cash=snap.portfolio.cash, created_at=now_kst())
            ticket = ticket.model_copy(update={"confirmed": True})
        host, port = server.base_url.removeprefix("http://").split(":")
        for _ in range(1100):
            s = socket.create_connection((host, int(port)), timeout=5)
            idle.append(s)
        time.sleep(0.5)
        fds = _open_fds(server.proc.pid)
        assert fds < 1024 - 50, fds
        latencies = []
        with httpx.Client(base_url=server.base_url, headers=server.auth, trust_env=False,
                          timeout=10) as c:
            for _ in range(5):
                t0 = time.monotonic()
                assert c.get("/health").status_code == 200
                latencies.append(time.monotonic() - t0)
            r = c.post("/api/v1/tickets", json=ticket.model_dump(mode="json"),
                       headers={"Idempotency-Key": str(uuid.uuid4())})
            assert r.status_code == 201, r.text
            deadline = time.monotonic() + 60
            state = None
            while time.monotonic() < deadline:
                state = c.get(f"/api/v1/tickets/{ticket.ticket_id}").json()["state"]
                if state not in ("SUBMITTED", "PROCESSING"):
                    break
                time.sleep(0.2)
        assert state == "AWAITING_NEXT_OPEN"  # processed: the data has no 2025-12-30 open
        assert max(latencies) < 2.0, latencies
        output = server.output()
        assert "Too many open files" not in output and "EMFILE" not in output, output[-3000:]
        print(f"1,100 idle connections: server fds {fds} (soft limit 1024), "
              f"/health p100 {max(latencies) * 1000:.0f} ms")
    finally:
        for s in idle:
            s.close()
        terminate(server.proc)
