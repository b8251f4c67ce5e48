"""OCI's link to its broker: whether credentials are configured, which kind (paper or real),
the client, and the execution-mode guard a PUSH of settings goes through.

The credentials file (`KRX_KIS_CREDENTIALS_FILE`) and the token cache are 0600; the server
refuses to start on a wider mode, and a key of the wrong kind for the domain (KIS EGW02004)
fails at start-up through the probe, not at the first order. Nothing here logs a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from broker.protocol import (
    Broker,
    BrokerConfigError,
    BrokerError,
    BrokerKind,
    BrokerUnavailable,
)
from contracts.settings import ExecutionMode, Settings
from krx_common.logmask import mask_secret_in_logs
from krx_common.tokens import SecretFileError, read_secret_file
from oci_backend.config import ConfigError, OciConfig
from oci_backend.paths import DataPaths

log = logging.getLogger("krx.oci.broker")

# (credentials file, base URL or None = the kind's real domain, token cache file, requests per
# second or None = KIS's limit) → a client.
BrokerFactory = Callable[[Path, str | None, Path, int | None], Broker]


class ModeNotAllowed(ValueError):
    """A PUSH of settings asks for an execution mode OCI cannot run (no credentials, the
    wrong kind of credentials, BROKER_LIVE without the acknowledgement); `field` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class BrokerLink:
    """The broker of this OCI process: None when no credentials are configured."""

    broker: Broker | None = None
    safety_window_s: float = 30.0  # see `tickets.broker_exec`

    @property
    def configured(self) -> bool:
        return self.broker is not None

    @property
    def kind(self) -> BrokerKind | None:
        return self.broker.kind if self.broker is not None else None

    def mode_problem(self, mode: ExecutionMode) -> str | None:
        """Why `mode` cannot run with this broker (None when it can); the acknowledgement of
        BROKER_LIVE is a settings question, checked by `check_settings`."""
        if not mode.is_broker:
            return None
        if self.broker is None:
            return (f"execution_mode {mode.value} needs broker credentials on OCI: set "
                    "KRX_KIS_CREDENTIALS_FILE (mode 0600) and restart the OCI backend, or "
                    "choose DRY_RUN or MANUAL")
        want = BrokerKind.REAL if mode is ExecutionMode.BROKER_LIVE else BrokerKind.PAPER
        if self.broker.kind is not want:
            return (f"execution_mode {mode.value} needs {want.value} credentials, and OCI's "
                    f"are {self.broker.kind.value}: configure the matching credentials file")
        return None

    def check_settings(self, current: Settings, new: Settings) -> None:
        """The PUSH guard (`Store.push(check_settings=...)`): `ModeNotAllowed` naming
        `settings.execution_mode` or `settings.live_trading_acknowledged`."""
        problem = self.mode_problem(new.execution_mode)
        if problem is not None:
            raise ModeNotAllowed(problem, "settings.execution_mode")
        if new.execution_mode is ExecutionMode.BROKER_LIVE and not new.live_trading_acknowledged:
            raise ModeNotAllowed(
                "execution_mode BROKER_LIVE sends real orders with real money: PUSH "
                "settings.live_trading_acknowledged: true with a reason to enable it",
                "settings.live_trading_acknowledged")


def kis_factory(credentials: Path, base_url: str | None, token_cache: Path,
                rate_limit: int | None = None) -> Broker:
    """The KIS client (`broker.kis`), imported lazily: a process without credentials never
    loads it."""
    from broker.credentials import load_credentials
    from broker.kis import KisBroker, KisConfig

    creds = load_credentials(credentials)
    for secret in creds.secrets:
        mask_secret_in_logs(secret)
    return KisBroker(KisConfig(credentials=creds, base_url=base_url, token_cache=token_cache,
                               rate_limit=rate_limit))


def open_broker(cfg: OciConfig, paths: DataPaths,
                factory: BrokerFactory | None = None) -> BrokerLink:
    """The link for `cfg`: empty without `KRX_KIS_CREDENTIALS_FILE`; else the client, probed
    once (`balance()`). `ConfigError` (the server does not start) for a credentials file
    open to group/others, a key of the wrong kind for the domain, or refused credentials."""
    path = cfg.kis_credentials_file
    if path is None:
        return BrokerLink()
    try:
        read_secret_file(path, "broker credentials file (KRX_KIS_CREDENTIALS_FILE)")
    except SecretFileError as exc:
        raise ConfigError(str(exc)) from None
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        client = (factory or kis_factory)(path, cfg.kis_base_url, paths.kis_token_cache,
                                          cfg.kis_rate_limit)
        probe = getattr(client, "check", None)
        if callable(probe):
            probe()
        else:
            client.balance()
    except BrokerUnavailable as exc:
        # Serve anyway (no crash loop while the broker is down): every send fails closed and
        # the reconciliation reports the broker unreachable.
        log.error("the broker did not answer the start-up probe: %s", exc.code)
        return BrokerLink(client, cfg.broker_safety_window_s)
    except BrokerConfigError as exc:
        raise ConfigError(
            f"the broker refused OCI's configuration at start-up: {exc.code}: {exc.message} "
            "(a paper key on the real domain or the reverse: check the credentials file's "
            "kind and KRX_KIS_BASE_URL)") from None
    except BrokerError as exc:
        raise ConfigError(f"the broker probe failed at start-up: {exc.code}: {exc.message}; "
                          "check KRX_KIS_BASE_URL and the credentials") from None
    log.info("broker configured: KIS %s", client.kind.value)
    return BrokerLink(client, cfg.broker_safety_window_s)
