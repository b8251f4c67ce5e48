"""How the PC reaches OCI: a direct URL (`DirectLink`) or the self-healing SSH tunnel
(`TunnelKeeper`).

`sshtunnel` opens a local port forwarded to OCI's backend, but it never reconnects by itself,
and its local port keeps accepting connections after the far side died. The keeper therefore
runs a watchdog thread that checks, every `probe_interval_s`:
1. the SSH transport is alive;
2. a TCP connect *through the forward* works: a direct-tcpip channel to OCI's backend port is
   opened on the transport (within `connect_timeout_s`) and closed again;
3. OCI `/health` answers through the local port (within `health_timeout_s`), and how fast.

Only a dead transport, or a connect through the forward that fails twice in a row without an
answer from sshd, restarts the forwarder (a new SSH login), with a capped exponential backoff
between attempts. A slow OCI is not a broken tunnel: `/health` slower than `slow_s` is
`DEGRADED` with its latency, and requests still go through. When sshd answers that nothing
accepts connections on OCI's port, the tunnel is healthy and the backend is down: `OCI_DOWN`,
the SSH session is kept (no re-login churn), and the advice names the backend's unit.

States: `UP` (the last probe answered in time), `DEGRADED` (the transport is alive; OCI
answered slowly, or the last probe got no answer), `OCI_DOWN` (the SSH session is healthy but
the OCI backend does not accept connections), `RECONNECTING` (restarting the forwarder),
`DOWN` (stopped, or refused for good: a host key that does not match known_hosts is never
retried), and `DIRECT` for `DirectLink`. While OCI does not answer, `gate()` refuses
requests at once with the reason, so the API answers a fast 503 instead of hanging on a dead
forward.

The host key is checked against a known_hosts file (OpenSSH format, `[host]:port` for a port
other than 22). An unknown host is refused unless trust-on-first-use is explicitly enabled,
which records the key presented on the first connect.
"""

from __future__ import annotations

import dataclasses
import http.client
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import paramiko

from contracts.common import now_kst
from contracts.pc import TunnelState, TunnelStatus
from krx_common.defaults import OCI_BACKEND_UNIT, OCI_PORT, TUNNEL_PORT

log = logging.getLogger("krx.pc.tunnel")
# sshtunnel logs every failed attempt at ERROR; the keeper reports them as state + last_error.
_sshtunnel_log = log.getChild("sshtunnel")
_sshtunnel_log.setLevel(logging.CRITICAL)


class _QuietChannelFailures(logging.Filter):
    """paramiko logs every refused channel open ("Secsh channel 3 open FAILED: Connection
    refused") at ERROR: with the backend down that was a flood. The keeper reports it once,
    as the OCI_DOWN state, so these lines go to DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and "open FAILED" in record.getMessage():
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


_paramiko_transport_log = logging.getLogger("paramiko.transport")
if not any(isinstance(f, _QuietChannelFailures) for f in _paramiko_transport_log.filters):
    _paramiko_transport_log.addFilter(_QuietChannelFailures())

BACKOFF_START_S = 0.25
FAILS_BEFORE_RESTART = 2   # consecutive connects through the forward that sshd never answered
MIN_CONNECT_TIMEOUT_S = 3.0  # a channel open on a loaded box takes more than 1 s at times
OCI_UNIT = OCI_BACKEND_UNIT.removesuffix(".service")  # what the VM runs OCI as
SSH_CONNECT_TIMEOUT_S = 3.0
SSH_BANNER_TIMEOUT_S = 3.0
SSH_AUTH_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 3.0


class DirectLink:
    """No SSH: OCI at a direct URL (the demo, an operator on a VPN)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._since = now_kst()

    @property
    def local_url(self) -> str:
        return self.url

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def gate(self) -> str | None:
        return None

    def status(self) -> TunnelStatus:
        return TunnelStatus(state=TunnelState.DIRECT, since=self._since)


class HostKeyError(Exception):
    """OCI's SSH host key is unknown or does not match known_hosts (never retried)."""


@dataclass(frozen=True)
class TunnelSettings:
    ssh_host: str
    ssh_port: int
    ssh_user: str
    ssh_key: Path
    known_hosts: Path
    trust_on_first_use: bool = False
    remote_host: str = "127.0.0.1"
    remote_port: int = OCI_PORT
    local_port: int = TUNNEL_PORT
    probe_interval_s: float = 1.0
    probe_timeout_s: float = 1.0  # /health slower than this is DEGRADED (slow), not broken
    backoff_max_s: float = 2.0
    keepalive_s: float = 5.0
    health_timeout_s: float = 10.0  # /health with no answer within this: DEGRADED, gated

    @property
    def slow_s(self) -> float:
        return self.probe_timeout_s

    @property
    def connect_timeout_s(self) -> float:
        return max(self.probe_timeout_s, MIN_CONNECT_TIMEOUT_S)

    @property
    def known_hosts_name(self) -> str:
        return self.ssh_host if self.ssh_port == 22 else f"[{self.ssh_host}]:{self.ssh_port}"


def free_local_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fingerprint(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


def _connect_socket(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=SSH_CONNECT_TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small requests: no Nagle wait
    sock.settimeout(0.1)  # as sshtunnel does: paramiko's reader thread polls
    return sock


class _QuickAckSocket:
    """The SSH socket, re-arming Linux TCP_QUICKACK after every read.

    sshd does not disable Nagle on a forwarding-only session, so when OCI writes a response in
    two pieces, sshd holds the second until the first is ACKed — and a delayed ACK costs
    ~40 ms. ACKing at once removes that stall (Linux only; elsewhere a plain socket is used).
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def recv(self, n: int) -> bytes:
        data = self._sock.recv(n)
        try:
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)  # type: ignore[attr-defined]
        except OSError:
            pass
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _new_transport(host: str, port: int) -> paramiko.Transport:
    sock: Any = _connect_socket(host, port)
    if hasattr(socket, "TCP_QUICKACK"):
        sock = _QuickAckSocket(sock)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = SSH_BANNER_TIMEOUT_S
    transport.handshake_timeout = SSH_AUTH_TIMEOUT_S
    transport.auth_timeout = SSH_AUTH_TIMEOUT_S
    return transport


def known_host_key(s: TunnelSettings) -> paramiko.PKey | None:
    """The key known_hosts records for OCI (ed25519 preferred), None when there is none."""
    if not s.known_hosts.is_file():
        return None
    try:
        keys = paramiko.HostKeys(str(s.known_hosts))
    except (OSError, paramiko.SSHException) as exc:
        raise HostKeyError(f"cannot read known_hosts {s.known_hosts}: {exc}") from None
    entry = keys.lookup(s.known_hosts_name)
    if not entry:
        return None
    for kind in ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "ssh-rsa"):
        if kind in entry:
            return entry[kind]
    return next(iter(entry.values()))


def learn_host_key(s: TunnelSettings) -> paramiko.PKey:
    """Trust on first use: fetch the key the server presents and append it to known_hosts."""
    transport = _new_transport(s.ssh_host, s.ssh_port)
    try:
        transport.start_client(timeout=SSH_AUTH_TIMEOUT_S)
        key = transport.get_remote_server_key()
    finally:
        transport.close()
    s.known_hosts.parent.mkdir(parents=True, exist_ok=True)
    with open(s.known_hosts, "a", encoding="utf-8") as fh:
        fh.write(f"{s.known_hosts_name} {key.get_name()} {key.get_base64()}\n")
    log.warning("trust on first use: recorded the host key of %s (%s) in %s",
                s.known_hosts_name, _fingerprint(key), s.known_hosts)
    return key


def _load_forwarder_class() -> Any:
    import sshtunnel

    class Forwarder(sshtunnel.SSHTunnelForwarder):  # type: ignore[misc]
        """sshtunnel with bounded connect/banner/auth timeouts and the real connect error
        kept (`connect_error`) instead of only logged."""

        connect_error: BaseException | None = None

        def _get_transport(self) -> paramiko.Transport:
            transport = _new_transport(self.ssh_host, self.ssh_port)
            transport.set_keepalive(self.set_keepalive)
            transport.daemon = True
            return transport

        def _make_ssh_forward_handler_class(self, remote_address: Any) -> Any:
            base = super()._make_ssh_forward_handler_class(remote_address)

            class Handler(base):  # type: ignore[misc,valid-type]
                def setup(self) -> None:
                    # A response split over two writes must not wait for a delayed ACK.
                    self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    super().setup()

            return Handler

        def _connect_to_gateway(self) -> None:
            self.connect_error = None
            try:
                super()._connect_to_gateway()
            except BaseException as exc:
                self.connect_error = exc
                raise
            if not self.is_active and self.connect_error is None:
                self.connect_error = paramiko.AuthenticationException(
                    f"the key was refused for user {self.ssh_username!r}")

    return Forwarder


class TunnelKeeper:
    """Keeps one SSH forward 127.0.0.1:<local_port> → OCI <remote_host>:<remote_port> up."""

    def __init__(self, settings: TunnelSettings) -> None:
        self.settings = settings
        if settings.local_port == 0:
            self.settings = dataclasses.replace(settings, local_port=free_local_port())
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._forwarder: Any = None
        self._state = TunnelState.DOWN
        self._since = now_kst()
        self._last_error: str | None = None
        self._last_up: datetime | None = None
        self._restarts = 0
        self._changes: list[tuple[float, TunnelState]] = []
        self._answering = False  # the last /health probe got an answer: requests may go
        self._latency_ms: float | None = None

    @classmethod
    def from_config(cls, cfg: Any) -> TunnelKeeper:
        """From a `PcConfig` (checked by `check_mode`: host, user and key are set)."""
        return cls(TunnelSettings(
            ssh_host=cfg.ssh_host, ssh_port=cfg.ssh_port, ssh_user=cfg.ssh_user,
            ssh_key=Path(cfg.ssh_key).expanduser(), known_hosts=cfg.known_hosts_path(),
            trust_on_first_use=cfg.ssh_trust_on_first_use, remote_host=cfg.remote_host,
            remote_port=cfg.remote_port, local_port=cfg.tunnel_port,
            probe_interval_s=cfg.probe_interval_s, probe_timeout_s=cfg.probe_timeout_s,
            backoff_max_s=cfg.backoff_max_s, keepalive_s=cfg.keepalive_s))

    # -- public ----------------------------------------------------------------------------------
    @property
    def local_port(self) -> int:
        return self.settings.local_port

    @property
    def local_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.local_port}"

    def start(self) -> None:
        """Start the watchdog thread (returns at once; `wait_up` to block until UP)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._set(TunnelState.RECONNECTING, None)
        self._thread = threading.Thread(target=self._run, name="tunnel-keeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_S + self.settings.probe_timeout_s + 5)
        self._close_forwarder()
        self._set(TunnelState.DOWN, None)

    def wait_up(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._state is TunnelState.UP:
                return True
            if self._state is TunnelState.DOWN and self._stop.is_set():
                return False
            time.sleep(0.05)
        return self._state is TunnelState.UP

    def gate(self) -> str | None:
        with self._lock:
            if self._answering and self._state in (TunnelState.UP, TunnelState.DEGRADED):
                return None
            why = f" ({self._last_error})" if self._last_error else ""
            if self._state is TunnelState.OCI_DOWN:
                return (f"OCI backend not answering behind a healthy tunnel{why}; requests are "
                        "refused until it answers again")
            return (f"the SSH tunnel to OCI is {self._state.value}{why}; requests are refused "
                    "until it is UP again (krx pc status; see docs/pc-install.md)")

    def status(self) -> TunnelStatus:
        with self._lock:
            return TunnelStatus(state=self._state, last_error=self._last_error,
                                last_up_at=self._last_up, local_port=self.settings.local_port,
                                since=self._since, restarts=self._restarts,
                                latency_ms=self._latency_ms)

    def history(self) -> list[tuple[float, TunnelState]]:
        """(monotonic time, state) of every state change (for tests and the benchmark)."""
        with self._lock:
            return list(self._changes)

    # -- internals -------------------------------------------------------------------------------
    def _set(self, state: TunnelState, error: str | None, *, up: bool = False,
             answering: bool = False, latency_ms: float | None = None) -> None:
        with self._lock:
            if state is not self._state:
                log.log(logging.WARNING if state is not TunnelState.UP else logging.INFO,
                        "tunnel %s → %s%s", self._state.value, state.value,
                        f": {error}" if error else "")
                self._state = state
                self._since = now_kst()
                self._changes.append((time.monotonic(), state))
            self._answering = answering
            if latency_ms is not None:
                self._latency_ms = latency_ms
            if error is not None:
                self._last_error = error
            if up:
                self._last_up = now_kst()
                self._last_error = None

    def _restart(self, why: str) -> None:
        self._set(TunnelState.RECONNECTING, why)
        self._close_forwarder()
        with self._lock:
            self._restarts += 1

    def _run(self) -> None:
        backoff = BACKOFF_START_S
        connect_fails = 0
        s = self.settings
        while not self._stop.is_set():
            if self._forwarder is None:
                self._set(TunnelState.RECONNECTING, None)
                try:
                    self._open_forwarder()
                except HostKeyError as exc:
                    self._set(TunnelState.DOWN, str(exc))
                    log.error("%s", exc)
                    return  # fail closed: a wrong host key is never retried
                except Exception as exc:  # noqa: BLE001 (any failure: retry with backoff)
                    self._set(TunnelState.RECONNECTING, _describe(exc, s))
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, s.backoff_max_s)
                    continue
                if self._stop.is_set():  # stopped while connecting: do not leave it open
                    self._close_forwarder()
                    return
                connect_fails = 0
            if not self._transport_alive():
                self._restart("SSH session lost")
                continue  # reconnect at once; the backoff applies to failed attempts
            verdict, error = self._connect_through()
            if verdict == "dead":
                self._restart(f"SSH session lost ({error})")
                continue
            if verdict == "no_answer":
                connect_fails += 1
                if connect_fails >= FAILS_BEFORE_RESTART:
                    self._restart(error)
                    continue
                self._set(TunnelState.DEGRADED, error)
                self._stop.wait(s.probe_interval_s)
                continue
            connect_fails = 0
            backoff = BACKOFF_START_S
            if verdict == "refused":
                self._set(TunnelState.OCI_DOWN, error)
            else:
                self._probe_health()
            self._stop.wait(s.probe_interval_s)

    def _connect_through(self) -> tuple[str, str]:
        """Open (and close) a TCP connection to OCI's backend port through the SSH session:
        ("ok", ""), ("refused", why) when sshd answered that the connect failed (the backend
        is down behind a healthy tunnel), ("no_answer", why) when sshd did not answer in
        time, ("dead", why) when the transport is gone."""
        s = self.settings
        fw = self._forwarder
        transport = getattr(fw, "_transport", None)
        if transport is None or not transport.is_active():
            return "dead", "the SSH transport is closed"
        try:
            channel = transport.open_channel(
                "direct-tcpip", (s.remote_host, s.remote_port), ("127.0.0.1", 0),
                timeout=s.connect_timeout_s)
        except paramiko.ChannelException as exc:
            return "refused", (
                f"OCI backend not answering behind a healthy tunnel: sshd on {s.ssh_host} is "
                f"up, but nothing accepts connections on {s.remote_host}:{s.remote_port} "
                f"({exc.text or exc}). On the VM: systemctl status {OCI_UNIT} "
                f"(journalctl -u {OCI_UNIT} for its log)")
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if not transport.is_active():
                return "dead", f"{type(exc).__name__}: {exc}"
            return "no_answer", (
                f"a connect through the tunnel got no answer from sshd within "
                f"{s.connect_timeout_s:g} s ({exc})")
        channel.close()
        return "ok", ""

    def _probe_health(self) -> None:
        """GET OCI `/health` through the local port; set UP, DEGRADED (slow or no answer)."""
        s = self.settings
        conn = http.client.HTTPConnection("127.0.0.1", s.local_port, timeout=s.health_timeout_s)
        t0 = time.monotonic()
        try:
            conn.request("GET", "/health", headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, TimeoutError | socket.timeout):
                why = (f"OCI /health did not answer within {s.health_timeout_s:g} s through "
                       "the tunnel (the tunnel itself is healthy)")
            else:
                why = f"OCI /health through the tunnel failed: {type(exc).__name__}: {exc}"
            self._set(TunnelState.DEGRADED, why)
            return
        finally:
            conn.close()
        ms = round((time.monotonic() - t0) * 1000, 1)
        if response.status != 200:
            self._set(TunnelState.DEGRADED, f"OCI /health answered {response.status}",
                      answering=True, latency_ms=ms)
        elif ms > s.slow_s * 1000:
            self._set(TunnelState.DEGRADED,
                      f"OCI is slow: /health answered in {ms:.0f} ms through the tunnel "
                      f"(over {s.slow_s * 1000:.0f} ms); the tunnel is healthy",
                      answering=True, latency_ms=ms)
        else:
            self._set(TunnelState.UP, None, up=True, answering=True, latency_ms=ms)

    def _open_forwarder(self) -> None:
        s = self.settings
        host_key = known_host_key(s)
        if host_key is None:
            if not s.trust_on_first_use:
                raise HostKeyError(
                    f"the SSH host key of {s.known_hosts_name} is not in {s.known_hosts}: add "
                    f"it (ssh-keyscan -p {s.ssh_port} {s.ssh_host} >> {s.known_hosts}, after "
                    "checking its fingerprint on the OCI console), or connect once with "
                    "--trust-on-first-use")
            host_key = learn_host_key(s)
        _check_local_port(s.local_port)
        try:
            pkey = paramiko.PKey.from_path(str(s.ssh_key))
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise HostKeyError(f"cannot load the SSH key {s.ssh_key}: {exc}") from None
        forwarder = _load_forwarder_class()(
            (s.ssh_host, s.ssh_port), ssh_username=s.ssh_user, ssh_pkey=pkey,
            ssh_host_key=host_key, allow_agent=False, host_pkey_directories=[],
            ssh_config_file=None, remote_bind_address=(s.remote_host, s.remote_port),
            local_bind_address=("127.0.0.1", s.local_port), set_keepalive=s.keepalive_s,
            mute_exceptions=False, logger=_sshtunnel_log,
        )
        try:
            forwarder.start()
        except Exception as exc:
            cause = forwarder.connect_error
            _stop_quietly(forwarder)
            if cause is not None and "Bad host key" in str(cause):
                raise HostKeyError(
                    f"HOST KEY MISMATCH for {s.known_hosts_name}: the server's key is not the "
                    f"one in {s.known_hosts} ({_fingerprint(host_key)} expected). "
                    "Someone may be intercepting the connection, or OCI was re-installed: check "
                    "the fingerprint on the OCI console before fixing known_hosts") from None
            raise (cause or exc) from None
        self._forwarder = forwarder

    def _transport_alive(self) -> bool:
        fw = self._forwarder
        return bool(fw is not None and fw.is_active)

    def _close_forwarder(self) -> None:
        fw, self._forwarder = self._forwarder, None
        if fw is not None:
            _stop_quietly(fw)


class LocalPortBusy(OSError):
    """The tunnel's local port is taken by another program."""


def _check_local_port(port: int) -> None:
    """Raise `LocalPortBusy` when 127.0.0.1:`port` cannot be bound (sshtunnel would only say
    'An error occurred while opening tunnels')."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if os.name != "nt":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the forwarder does
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise LocalPortBusy(
                f"the tunnel's local port 127.0.0.1:{port} is in use by another program "
                f"({exc.strerror}); stop it or set KRX_PC_TUNNEL_PORT to a free port") from None


def _stop_quietly(forwarder: Any) -> None:
    """Stop a forwarder without letting a stuck transport block the watchdog."""
    def stop() -> None:
        try:
            forwarder.stop(force=True)
        except Exception:  # noqa: BLE001
            log.debug("forwarder stop failed", exc_info=True)

    t = threading.Thread(target=stop, name="tunnel-stop", daemon=True)
    t.start()
    t.join(STOP_TIMEOUT_S)


def _describe(exc: BaseException, s: TunnelSettings) -> str:
    where = f"{s.ssh_user}@{s.ssh_host}:{s.ssh_port}"
    if isinstance(exc, paramiko.AuthenticationException):
        return f"SSH login to {where} refused: {exc} (is the key in authorized_keys?)"
    if isinstance(exc, ConnectionRefusedError):
        return f"SSH connection to {where} refused (is sshd running? is the port right?)"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"SSH connection to {where} timed out"
    if isinstance(exc, LocalPortBusy):
        return str(exc)
    text = str(exc) or type(exc).__name__
    return f"SSH to {where}: {text}"
