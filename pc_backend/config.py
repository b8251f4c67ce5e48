"""PC backend configuration: pydantic-settings, environment prefix `KRX_PC_`, optional `pc.env`.

Names are fixed (checks outside the test suite use them): `KRX_PC_SSH_HOST`, `KRX_PC_SSH_PORT`,
`KRX_PC_SSH_USER`, `KRX_PC_SSH_KEY`, `KRX_PC_SSH_KNOWN_HOSTS`, `KRX_PC_REMOTE_PORT` (8000),
`KRX_PC_TUNNEL_PORT` (8001), `KRX_PC_PORT` (8000), `KRX_PC_OCI_TOKEN` / `KRX_PC_OCI_TOKEN_FILE`,
`KRX_PC_WORKSPACE`, `KRX_PC_OCI_URL` (direct mode), `KRX_PC_COCKPIT_PORT` (8501). See
deploy/pc.env.example.

Which env file every `krx pc` verb reads (`env_file_for`): `--env-file FILE`, else
`$KRX_PC_ENV_FILE` (set but empty: none), else `pc.env` in the checkout (the directory holding
`pc_backend/`, where `scripts/start.*` read it), else none. Paths in settings expand `~`,
`$HOME`/`${VAR}` and `%USERPROFILE%`/`%VAR%`; a variable that is not set is an error.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from krx_common.defaults import (
    COCKPIT_PORT,
    OCI_PORT,
    PC_PORT,
    TUNNEL_PORT,
    default_pc_workspace,
)
from krx_common.http_limits import HttpLimitSettings
from krx_common.tokens import SecretFileError, read_secret_file, token_problem


class ConfigError(ValueError):
    """The configuration is unusable or unsafe; the message says how to fix it."""


class PcConfig(HttpLimitSettings, BaseSettings):
    """Settings of one PC backend process (and of `krx pc tunnel`)."""

    model_config = SettingsConfigDict(env_prefix="KRX_PC_", extra="ignore",
                                      env_file_encoding="utf-8")

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = PC_PORT
    cockpit_port: Annotated[int, Field(ge=1, le=65535)] = Field(
        default=COCKPIT_PORT, description="the cockpit of `krx pc start` (127.0.0.1)")
    allow_remote: bool = Field(default=False, description="allow a non-loopback bind")
    workspace: Path = Field(default_factory=default_pc_workspace)
    run_dir: Path | None = Field(
        default=None, description="PID files of `krx pc start` (default <workspace>/run)")
    # OCI, directly (demo, VPN) or through the tunnel
    oci_url: str | None = Field(default=None, description="direct mode: OCI base URL, no SSH")
    oci_token: SecretStr | None = None
    oci_token_file: Path | None = None
    connect_timeout_s: Annotated[float, Field(gt=0, le=60)] = 2.0
    read_timeout_s: Annotated[float, Field(gt=0, le=600)] = 5.0
    cycle_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 300.0
    push_visible_timeout_s: Annotated[float, Field(ge=0, le=600)] = 30.0

    # SSH tunnel
    ssh_host: str | None = None
    ssh_port: Annotated[int, Field(ge=1, le=65535)] = 22
    ssh_user: str | None = None
    ssh_key: Path | None = None
    ssh_known_hosts: Path | None = Field(
        default=None, description="known_hosts holding OCI's host key (default ~/.ssh/known_hosts)")
    ssh_trust_on_first_use: bool = Field(
        default=False, description="accept and record an unknown host key (first connect only)")
    remote_port: Annotated[int, Field(ge=1, le=65535)] = OCI_PORT
    remote_host: str = "127.0.0.1"
    tunnel_port: Annotated[int, Field(ge=0, le=65535)] = TUNNEL_PORT
    probe_interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    probe_timeout_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    backoff_max_s: Annotated[float, Field(gt=0, le=300)] = 2.0
    keepalive_s: Annotated[float, Field(ge=0, le=600)] = 5.0

    # backtests on the PC
    data: str = Field(default="auto",
                      description="market data for backtests: csv:DIR | demo | auto")

    @field_validator("workspace", "run_dir", "oci_token_file", "ssh_key", "ssh_known_hosts",
                     mode="before")
    @classmethod
    def _expand_home(cls, value: Any) -> Any:
        return expand_path(value) if isinstance(value, str | Path) else value

    @field_validator("oci_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    def direct(self) -> bool:
        return self.oci_url is not None

    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def check_bind(self) -> None:
        if not self.is_loopback() and not self.allow_remote:
            raise ConfigError(
                f"refusing to listen on {self.host}: it is not a loopback address and the PC "
                "backend holds your workspace and token; use 127.0.0.1, or pass --allow-remote "
                "if you really mean it")

    def check_mode(self) -> None:
        """Direct URL or a complete SSH set-up, with a message naming what is missing."""
        if self.direct():
            url = self.oci_url or ""
            if not re.match(r"^https?://[^/\s]+", url):
                raise ConfigError(f"KRX_PC_OCI_URL {url!r} is not an http(s) URL, "
                                  "e.g. http://127.0.0.1:8000")
            return
        missing = [name for name, value in (("KRX_PC_SSH_HOST", self.ssh_host),
                                            ("KRX_PC_SSH_USER", self.ssh_user),
                                            ("KRX_PC_SSH_KEY", self.ssh_key)) if not value]
        if missing:
            raise ConfigError(
                f"no way to reach OCI: set {', '.join(missing)} (SSH tunnel) in pc.env, "
                "or give a direct URL with --direct URL / KRX_PC_OCI_URL")

    def known_hosts_path(self) -> Path:
        return self.ssh_known_hosts or Path.home() / ".ssh" / "known_hosts"

    def resolved_run_dir(self) -> Path:
        return self.run_dir or self.workspace / "run"

    def resolve_oci_token(self) -> str:
        """The OCI API token, or `ConfigError` when it is missing, too short or stored unsafely."""
        if self.oci_token is not None and self.oci_token_file is not None:
            raise ConfigError("both KRX_PC_OCI_TOKEN and KRX_PC_OCI_TOKEN_FILE are set; "
                              "keep only one of them")
        if self.oci_token_file is not None:
            try:
                token = read_secret_file(self.oci_token_file, "KRX_PC_OCI_TOKEN_FILE:")
            except SecretFileError as exc:
                raise ConfigError(str(exc)) from None
            origin = f"token file {self.oci_token_file}"
        elif self.oci_token is not None:
            token = self.oci_token.get_secret_value().strip()
            origin = "KRX_PC_OCI_TOKEN"
        else:
            raise ConfigError("no OCI API token: set KRX_PC_OCI_TOKEN_FILE (a file with mode 0600 "
                              "holding the token of the OCI backend) or KRX_PC_OCI_TOKEN")
        problem = token_problem(token)
        if problem is not None:
            raise ConfigError(f"the OCI token from {origin} {problem}")
        return token


_VARIABLE = re.compile(r"%([A-Za-z_]\w*)%|\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)")
_HOME_NAMES = {"HOME", "USERPROFILE"}  # the home directory on every OS, set or not


def expand_path(raw: str | Path) -> Path:
    """`raw` with `%VAR%`, `${VAR}`, `$VAR` and a leading `~` expanded, on every OS (pc.env is
    shared between Windows and Linux docs). `ValueError` names a variable that is not set."""
    def value_of(m: re.Match[str]) -> str:
        name = next(g for g in m.groups() if g)
        value = os.environ.get(name)
        if value is None and name.upper() in _HOME_NAMES:
            value = str(Path.home())
        if value is None:
            raise ValueError(f"{m.group(0)} in {str(raw)!r} is not set in the environment")
        return value

    return Path(_VARIABLE.sub(value_of, str(raw))).expanduser()


ENV_FILE_ENV = "KRX_PC_ENV_FILE"
ENV_FILE_NAME = "pc.env"


def checkout_env_file() -> Path:
    """`pc.env` in the checkout this code runs from (what `scripts/start.*` pass)."""
    return Path(__file__).absolute().parents[1] / ENV_FILE_NAME


def env_file_for(flag: Path | None) -> Path | None:
    """The env file a `krx pc` verb reads; the search order is in the module docstring."""
    if flag is not None:
        return flag
    raw = os.environ.get(ENV_FILE_ENV)
    if raw is not None:
        return expand_path(raw) if raw.strip() else None
    default = checkout_env_file()
    return default if default.is_file() else None


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_config(env_file: Path | None = None, **overrides: object) -> PcConfig:
    """`PcConfig` from the environment, the optional env file and explicit overrides (CLI flags);
    None overrides are ignored."""
    kwargs: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if env_file is not None:
        if not env_file.is_file():
            raise ConfigError(f"--env-file {env_file} does not exist")
        kwargs["_env_file"] = env_file
    return PcConfig(**kwargs)
