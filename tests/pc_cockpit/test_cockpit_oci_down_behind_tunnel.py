"""Issue 15, defect 14, in the cockpit: with a healthy SSH tunnel (a REAL sshd) and the OCI
backend down, the pages and the connection badge say it is the backend, with its own advice
(`systemctl status krx-oci-backend` on the VM), in Korean and English — not "check the
tunnel, internet, VM or SSH"."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from cockpit_stack import texts
from oci_server import free_port
from pc_server import PcServer, start_pc, stop_pc, write_token_file
from sshd import make_sshd, require_sshd

pytestmark = pytest.mark.integration


@pytest.fixture
def tunneled_pc_without_oci(tmp_path: Path) -> Iterator[PcServer]:
    require_sshd()
    sshd = make_sshd(tmp_path / "sshd")
    sshd.start()
    token_file = write_token_file(tmp_path / "oci_token", "t0k-" + "q7w8e9" * 8)
    pc = start_pc(tmp_path / "ws", tmp_path / "pc.log", args=[], env={
        **sshd.env(), "KRX_PC_OCI_TOKEN_FILE": str(token_file),
        "KRX_PC_REMOTE_PORT": str(free_port()), "KRX_PC_TUNNEL_PORT": str(free_port()),
        "KRX_PC_PROBE_INTERVAL_S": "0.2"})
    try:
        with pc.client() as c:
            deadline = time.monotonic() + 15
            while c.get("/api/v1/status").json()["tunnel"]["state"] != "OCI_DOWN":
                assert time.monotonic() < deadline, c.get("/api/v1/status").text
                time.sleep(0.1)
        yield pc
    finally:
        stop_pc(pc)
        sshd.stop()


def test_defect14_cockpit_says_the_backend_is_down_behind_a_healthy_tunnel(
    tunneled_pc_without_oci: PcServer, cockpit,
) -> None:
    stack = SimpleNamespace(pc=tunneled_pc_without_oci)
    at = cockpit(stack)
    warning = " ".join(w.value for w in at.warning)
    assert "OCI 백엔드가 응답하지 않습니다" in warning, texts(at)
    assert "SSH 터널은 정상입니다" in warning
    assert "systemctl status krx-oci-backend" in warning
    sidebar = " ".join(str(m.value) for m in at.sidebar.markdown)
    assert "터널 정상 · OCI 백엔드 응답 없음" in sidebar, sidebar
    assert any("systemctl status krx-oci-backend" in c.value for c in at.sidebar.caption)

    at = cockpit(stack, lang="en")
    warning = " ".join(w.value for w in at.warning)
    assert "The OCI backend is not answering behind a healthy SSH tunnel" in warning
    assert "systemctl status krx-oci-backend" in warning
    assert "Check the tunnel" not in warning
    sidebar = " ".join(str(m.value) for m in at.sidebar.markdown)
    assert "tunnel up · OCI backend not answering" in sidebar, sidebar
