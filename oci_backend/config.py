"""OCI backend configuration: pydantic-settings, environment prefix `KRX_OCI_`.

Every field can be set as `KRX_OCI_<FIELD>` (e.g. `KRX_OCI_TOKEN_FILE=/etc/krx/token`).
The API token is resolved by `resolve_token()`, which refuses unsafe set-ups with a message
that says what to do; `create_app` calls it, so a server never starts without a usable token.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, AwareDatetime, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from krx_common.defaults import DAILY_RUN_AT, OCI_PORT
from krx_common.http_limits import HttpLimitSettings
from krx_common.tokens import GENERATE_HINT, SecretFileError, read_secret_file, token_problem


class ConfigError(ValueError):
    """The configuration is unusable or unsafe; the message says how to fix it."""


class OciConfig(HttpLimitSettings, BaseSettings):
    """Settings of one OCI backend process."""

    model_config = SettingsConfigDict(env_prefix="KRX_OCI_", extra="ignore")

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = OCI_PORT
    data_dir: Path | None = Field(
        default=None, description="data root (state/, reports/); default $KRX_DATA_DIR or repo"
    )
    data_spec: str = Field(default="auto",
                           description="market data for cycles: csv:DIR | demo | auto")
    token: SecretStr | None = Field(default=None, description="API bearer token (>= 24 chars)")
    token_file: Path | None = Field(default=None, description="file holding the token, mode 0600")
    scheduler: Literal["none", "internal"] = Field(
        default="none",
        description=f"'internal' also runs the daily cycle Mon-Fri {DAILY_RUN_AT:%H:%M} KST "
                    "in-process "
                    "(the default relies on cron / the systemd timer running `krx daily`)",
    )
    access_log: Literal["all", "changes", "off"] = Field(
        default="changes",
        description="uvicorn access log: 'changes' logs every write and every failure "
                    "(4xx/5xx, e.g. refused tokens) but not successful reads — the PC polls, "
                    "and state changes are in the audit log anyway; 'all' or 'off'",
    )
    ticket_processor: bool = Field(default=True, description="run the ticket processor job")
    morning_watch: bool = Field(
        default=True,
        description="raise MISSED_MORNING (audit, notification, /health) when no cycle completed "
                    "by 09:30 KST on a session day; tests that do not test it turn it off")
    ticket_interval_s: Annotated[float, Field(gt=0, le=3600)] = 5.0
    notify_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="apprise URLs (comma or space separated in the environment), added to "
                    "settings.notifications.apprise_urls",
    )
    kis_credentials_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("KRX_KIS_CREDENTIALS_FILE",
                                                    "kis_credentials_file"),
        description="KRX_KIS_CREDENTIALS_FILE: the broker credentials (app key, app secret, "
                    "account, paper or real), mode 0600; unset = no broker (DRY_RUN/MANUAL "
                    "only). The server refuses to start on a wider mode")
    kis_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("KRX_KIS_BASE_URL", "kis_base_url"),
        description="KRX_KIS_BASE_URL: the KIS REST root; default the real domain of the "
                    "credentials' kind (paper or real), from the broker package")
    kis_rate_limit: Annotated[int, Field(ge=1, le=100)] | None = Field(
        default=None, validation_alias=AliasChoices("KRX_KIS_RATE_LIMIT", "kis_rate_limit"),
        description="KRX_KIS_RATE_LIMIT: client-side requests per second; default KIS's own "
                    "(15 real, 2 paper). Only raise it against the local fake (a replay)")
    broker_poll_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=5.0, description="seconds between two polls of the broker's orders while "
                                 "broker orders are open")
    reconcile_every_s: Annotated[float, Field(gt=0, le=86400)] = Field(
        default=300.0, description="with a broker: reconcile the book with the broker after "
                                   "every processor pass that changed a ticket, else this often")
    broker_safety_window_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=30.0,
        description="an unmatched send intent older than this (and only after the broker's "
                    "day orders were read) is taken as not placed; an accepted order shows in "
                    "the day orders well within it")
    now: AwareDatetime | None = Field(
        default=None,
        description="freeze the daily cycle's clock at this instant (tests and drills only)",
    )

    @field_validator("notify_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [u for u in re.split(r"[,\s]+", value) if u]
        return value

    def is_loopback(self) -> bool:
        """True when `host` only accepts connections from this machine."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def resolve_token(self) -> str:
        """The API token, or `ConfigError` when it is missing, too short or stored unsafely."""
        if self.token is not None and self.token_file is not None:
            raise ConfigError(
                "both KRX_OCI_TOKEN and KRX_OCI_TOKEN_FILE are set; keep only one of them"
            )
        if self.token_file is not None:
            token = _read_token_file(self.token_file)
            origin = f"token file {self.token_file}"
        elif self.token is not None:
            token = self.token.get_secret_value().strip()
            origin = "KRX_OCI_TOKEN"
        else:
            raise ConfigError(
                "no API token: set KRX_OCI_TOKEN or KRX_OCI_TOKEN_FILE (a file with mode 0600); "
                f"generate one with: {GENERATE_HINT}"
            )
        problem = token_problem(token)
        if problem is not None:
            raise ConfigError(f"the API token from {origin} {problem}")
        return token



def _read_token_file(path: Path) -> str:
    try:
        return read_secret_file(path, "token file")
    except SecretFileError as exc:
        raise ConfigError(str(exc)) from None
