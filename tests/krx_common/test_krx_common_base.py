"""The shared base: the token rule, the schedule derived from the defaults, the field diff, and
process supervision (health wait, stop by PID, PID files, free port) and the OCI client's error
passthrough against real processes and a real HTTP server on loopback."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from contracts.sync import EmergencyStop
from krx_common.defaults import DAILY_RUN_AT, KST, TZ_NAME
from krx_common.docpath import VOLATILE, FieldDiff, content, diff_fields
from krx_common.oci_http import (
    OciHttpError,
    OciProtocolError,
    bearer_client,
    parse_model,
    raise_for_error,
)
from krx_common.procs import (
    PidRecord,
    free_port,
    pid_path,
    process_of,
    spawn,
    stop_all,
    wait_healthy,
    wait_http,
)
from krx_common.tokens import MIN_TOKEN_BITS, MIN_TOKEN_LENGTH, token_bits, token_problem
from oci_backend.config import ConfigError, OciConfig
from oci_backend.units import CRON_SCHEDULE, ON_CALENDAR
from pc_backend.config import ConfigError as PcConfigError
from pc_backend.config import PcConfig


def test_token_rule_refuses_short_example_and_non_ascii_tokens() -> None:
    assert token_problem("Kq2LmZ8vR4wX7bN1cD6hJ0pT"[:MIN_TOKEN_LENGTH]) is None
    assert "at least 24" in (token_problem("x" * 23) or "")
    assert "example or placeholder" in (token_problem("CHANGEME-" * 4) or "")
    assert "printable ASCII" in (token_problem("a" * 20 + " b" * 4) or "")


def test_token_rule_refuses_low_entropy_tokens() -> None:
    """Defect 11 (issue 15): a 30 x "a" token was accepted. One repeated character, a repeated
    word or too few distinct characters are refused, with the way to generate a real one;
    generated tokens (hex or urlsafe, 24 characters and up) all pass."""
    for weak in ("a" * 30, "x" * MIN_TOKEN_LENGTH, "ab" * 20, "passwordpasswordpassword",
                 "0123456789" * 3, "aaaaaaaaaaaaaaaaaaaaaaab"):
        problem = token_problem(weak) or ""
        assert "too easy to guess" in problem and "secrets.token_urlsafe" in problem, weak
        assert token_bits(weak) < MIN_TOKEN_BITS
    for _ in range(2000):
        for strong in (secrets.token_hex(12), secrets.token_urlsafe(18),
                       secrets.token_urlsafe(32), "t0k-" + secrets.token_urlsafe(32)):
            # (a random token may contain an example word such as "dummy": that rule is older)
            assert token_bits(strong) >= MIN_TOKEN_BITS, strong
            assert "too easy to guess" not in (token_problem(strong) or ""), strong
    assert token_problem("unit-test-token-0123456789abcdef") is None
    with pytest.raises(ConfigError, match="too easy to guess"):
        OciConfig(token="a" * 30).resolve_token()
    with pytest.raises(PcConfigError, match="too easy to guess"):
        PcConfig(oci_token="a" * 30).resolve_oci_token()


def test_schedule_is_derived_from_the_one_default() -> None:
    assert (DAILY_RUN_AT.hour, DAILY_RUN_AT.minute) == (9, 5)
    assert ON_CALENDAR == f"Mon..Fri *-*-* 09:05:00 {TZ_NAME}"
    assert CRON_SCHEDULE == "5 0 * * 1-5"  # 00:05 UTC is 09:05 KST
    assert str(KST) == "Asia/Seoul"


def test_diff_fields_keys_lists_by_ticker_and_content_drops_the_stamps() -> None:
    before = {"revision": 1, "cash": 5, "holdings": [{"ticker": "005930", "qty": 1}]}
    after = {"revision": 2, "cash": 5, "holdings": [{"ticker": "005930", "qty": 2},
                                                   {"ticker": "069500", "qty": 3}]}
    assert diff_fields(content(before), content(after)) == [
        FieldDiff("holdings[005930].qty", 1, 2),
        FieldDiff("holdings[069500]", None, {"ticker": "069500", "qty": 3}),
    ]
    assert VOLATILE == {"revision", "asof", "updated_at"}


def _http_server_cmd(port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def test_spawn_waits_for_health_and_stops_by_pid(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "logs" / "web.log"
    proc = spawn(_http_server_cmd(port), log_path=log)
    try:
        assert wait_http(f"http://127.0.0.1:{port}/", proc, timeout=30)
        assert psutil.Process(proc.pid).is_running()
    finally:
        stop_all([proc], timeout=10)
    assert proc.returncode is not None
    assert log.exists()


def test_wait_healthy_names_the_process_that_died(tmp_path: Path) -> None:
    port = free_port()
    alive = spawn(_http_server_cmd(port), log_path=tmp_path / "a.log")
    dead = spawn([sys.executable, "-c", "raise SystemExit(3)"], log_path=tmp_path / "b.log")
    try:
        dead.wait(timeout=30)
        checks = [(alive, f"http://127.0.0.1:{port}/"), (dead, "http://127.0.0.1:9/")]
        assert wait_healthy(checks, timeout=30) == 1
        assert wait_healthy(checks[:1], timeout=30) is None
    finally:
        stop_all([alive, dead])


def test_free_port_keeps_a_free_preferred_port_and_replaces_a_taken_one() -> None:
    port = free_port()
    assert free_port(port) == port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        taken.listen()
        assert free_port(busy) != busy


def test_pid_record_matches_only_the_process_that_started(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        me = psutil.Process(proc.pid)
        rec = PidRecord(name="x", pid=proc.pid, create_time=me.create_time(), cmdline=["x"],
                        url="u", log="l", started_at="t")
        path = pid_path(tmp_path, "x")
        rec.write(path)
        assert PidRecord.read(path) == rec
        found = process_of(rec)
        assert found is not None and found.pid == proc.pid
        # The same pid with another start time is a reused pid: never ours.
        rec.create_time -= 3600
        assert process_of(rec) is None
    finally:
        stop_all([proc])
    path.write_text("{not json", encoding="utf-8")
    assert PidRecord.read(path) is None


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        routes = {
            "/json-error": (409, "application/json",
                            json.dumps({"error": "STALE_REVISION", "message": "stale",
                                        "field": "If-Match", "revision": 7})),
            "/html-error": (502, "text/html", "<html>bad gateway</html>"),
            "/stop": (200, "application/json", json.dumps({"on": False})),
            "/not-a-stop": (200, "application/json", json.dumps({"on": "maybe"})),
            "/auth": (200, "application/json",
                      json.dumps({"authorization": self.headers.get("Authorization")})),
        }
        status, ctype, body = routes[self.path]
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_oci_http_passes_error_bodies_through_and_parses_answers(server: str) -> None:
    with bearer_client(server, "tok-" + "x" * 30) as client:
        assert client.get("/auth").json() == {"authorization": "Bearer tok-" + "x" * 30}
        with pytest.raises(OciHttpError) as err:
            raise_for_error(client.get("/json-error"))
        assert err.value.status_code == 409 and err.value.code == "STALE_REVISION"
        assert err.value.body["revision"] == 7  # OCI's body, unchanged
        with pytest.raises(OciHttpError) as err:
            raise_for_error(client.get("/html-error"))
        assert err.value.code == "HTTP_502" and "bad gateway" in err.value.body["message"]
        assert parse_model(EmergencyStop, raise_for_error(client.get("/stop"))).on is False
        with pytest.raises(OciProtocolError, match="not a EmergencyStop"):
            parse_model(EmergencyStop, client.get("/not-a-stop"))


def test_procs_rotate_log_keeps_the_previous_run_and_tail_shows_only_this_run(
    tmp_path, monkeypatch,
) -> None:
    from krx_common import procs

    log = tmp_path / "backend.log"
    log.write_text("old 1\nold 2\n", encoding="utf-8")
    assert procs.rotate_log(log) == 0
    assert (tmp_path / "backend.log.1").read_text(encoding="utf-8") == "old 1\nold 2\n"
    assert not log.exists()
    # a log that cannot be moved (Windows: held open): this run starts at its old end
    log.write_text("old 3\n", encoding="utf-8")

    def held(*_: object) -> None:
        raise PermissionError("in use")

    monkeypatch.setattr(procs.os, "replace", held)
    since = procs.rotate_log(log)
    assert since == len(b"old 3\n")
    with open(log, "a", encoding="utf-8") as fh:
        fh.write("new 1\nnew 2\n")
    assert procs.log_tail(log, since=since) == "new 1\nnew 2"
