"""PC configuration: the documented KRX_PC_ names, pc.env, precedence, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from pc_backend.config import ConfigError, PcConfig, load_config

_REAL = "pc-config-test-Kq2LmZ8vR4wX7bN1cD6h"  # a real-looking token: the token rule applies

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for var in [v for v in os.environ if v.startswith("KRX_PC_")]:
        monkeypatch.delenv(var)


def test_config_defaults_are_the_documented_ones() -> None:
    c = PcConfig()
    assert (c.host, c.port, c.remote_port, c.tunnel_port, c.ssh_port) == (
        "127.0.0.1", 8000, 8000, 8001, 22)
    assert c.oci_url is None and not c.ssh_trust_on_first_use


def test_config_env_file_example_parses_and_env_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    example = REPO / "deploy" / "pc.env.example"
    c = load_config(example)
    assert c.ssh_host == "203.0.113.10" and c.ssh_user == "ubuntu"
    assert c.ssh_key == Path.home() / ".ssh" / "id_ed25519"  # ~ expanded
    assert c.workspace == Path.home() / ".krx-alertor" / "workspace"
    with pytest.raises(ConfigError, match="KRX_PC_OCI_TOKEN_FILE"):
        c.resolve_oci_token()  # the example's token file does not exist here
    monkeypatch.setenv("KRX_PC_SSH_HOST", "198.51.100.7")
    assert load_config(example).ssh_host == "198.51.100.7"  # the environment wins
    assert load_config(example, ssh_host=None, port=9000).port == 9000  # flags win, None skipped
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.env")


def test_config_refuses_unsafe_or_incomplete_setups(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--allow-remote"):
        PcConfig(host="0.0.0.0").check_bind()
    PcConfig(host="0.0.0.0", allow_remote=True).check_bind()
    PcConfig(host="::1").check_bind()
    with pytest.raises(ConfigError, match="KRX_PC_SSH_USER, KRX_PC_SSH_KEY"):
        PcConfig(ssh_host="h").check_mode()
    with pytest.raises(ConfigError, match="not an http"):
        PcConfig(oci_url="127.0.0.1:8000").check_mode()
    token = tmp_path / "t"
    token.write_text("short", encoding="utf-8")
    token.chmod(0o600)
    with pytest.raises(ConfigError, match="at least 24"):
        PcConfig(oci_token_file=token).resolve_oci_token()
    with pytest.raises(ConfigError, match="keep only one"):
        PcConfig(oci_token_file=token, oci_token=_REAL).resolve_oci_token()
    assert PcConfig(oci_token=" " + _REAL + "\n").resolve_oci_token() == _REAL
