"""docs/oci-install.md, walked: every shell block parses, the steps a VM install tripped on are
there, and the blocks that can run here run as written (install paths swapped for this
checkout): the release name, the DRY_RUN → MANUAL push against a real `krx oci serve`, and the
notification test through apprise to a local receiver."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "oci-install.md"
sys.path.insert(0, str(REPO / "tests" / "oci_backend"))


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _blocks(text: str | None = None) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text if text is not None else _text(), re.DOTALL)


def _section(title: str) -> str:
    text = _text()
    start = text.index(title)
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


@pytest.mark.parametrize("n", range(len(_blocks())))
def test_every_shell_block_parses(n: int) -> None:
    proc = subprocess.run(["bash", "-n"], input=_blocks()[n], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr


def test_the_steps_a_fresh_vm_needed_are_there() -> None:
    text = _text()
    assert "<tag>" not in text and "<new-tag>" not in text  # no placeholder without a tag
    assert "python3 -m venv" not in text and "$PY -m venv" in text
    ubuntu22 = next(b for b in _blocks() if "22.04" in b)
    assert "ppa:deadsnakes/ppa" in ubuntu22 and "python3.11-venv" in ubuntu22
    assert "PY=python3.11" in ubuntu22
    assert "sudo cat /etc/krx-alertor/ops_token" in text  # the 0600 file, read through sudo
    assert not re.search(r"scp[^\n]*ops_token", text)
    assert "ssh-keygen -t ed25519" in text and "ssh -N -L 8000:127.0.0.1:8000" in text
    assert "`-N` is mandatory" in text
    cron = _section("## 5. Cron")
    assert cron.index("reports/logs") < cron.index("crontab -u krx")
    log = re.search(r">>(\S+)/cron\.log", (REPO / "deploy" / "crontab.example")
                    .read_text(encoding="utf-8"))
    assert log and log.group(1) in cron  # the directory the cron line appends to
    assert "apprise" in text and "MANUAL" in _section("## 8. From DRY_RUN to MANUAL")


def test_gitignore_ignores_per_release_venvs() -> None:
    for name in (".venv-v2026.01.05/bin/python", ".venv-3f2a9c1d7e4b/pyvenv.cfg"):
        proc = subprocess.run(["git", "check-ignore", "-q", name], cwd=REPO, timeout=30)
        assert proc.returncode == 0, name


def test_release_name_is_the_tag_or_the_pinned_commit(tmp_path: Path) -> None:
    line = next(ln for b in _blocks() for ln in b.splitlines() if ln.startswith("REL="))
    repo = tmp_path / "r"
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    run = ["bash", "-c", f"{line}\necho $REL"]
    untagged = subprocess.run(run, cwd=repo, capture_output=True, text=True, check=True)
    assert re.fullmatch(r"[0-9a-f]{12}", untagged.stdout.strip())
    subprocess.run([*git, "tag", "-a", "v2026.01.05", "-m", "release"], check=True)
    tagged = subprocess.run(run, cwd=repo, capture_output=True, text=True, check=True)
    assert tagged.stdout.strip() == "v2026.01.05"


@pytest.mark.integration
def test_dry_run_to_manual_block_runs_against_a_real_backend(tmp_path: Path) -> None:
    from oci_server import REPO_DAILY, new_token, start_server, stop_server

    block = _blocks(_section("## 8. From DRY_RUN to MANUAL"))[0]
    token = new_token()
    server = start_server(tmp_path / "data", tmp_path / "server.log", token=token,
                          data_spec=f"csv:{REPO_DAILY}")
    try:
        home = tmp_path / "home"
        (home / ".krx").mkdir(parents=True)
        (home / ".krx" / "ops_token").write_text(token + "\n", encoding="utf-8")
        script = block.replace("http://127.0.0.1:8000", server.base_url)  # the tunnel's end
        proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                              timeout=120, env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().splitlines()[-1] == '"MANUAL"'
        with server.client() as c:
            snap = c.get("/api/v1/sync/snapshot").json()
            audit = c.get("/api/v1/audit", params={"limit": 5}).json()
        assert snap["settings"]["execution_mode"] == "MANUAL"
        assert any(a["action"] == "PUSH" and "go MANUAL" in a["reason"] for a in audit)
    finally:
        stop_server(server)


def test_notification_test_step_reaches_the_receiver(tmp_path: Path, receiver) -> None:
    line = re.search(r"sudo -u krx sh -c '(.*?)'", _text(), re.DOTALL)
    assert line, "the notification test step is missing"
    env_file = tmp_path / "oci.env"
    env_file.write_text(f"KRX_OCI_NOTIFY_URLS={receiver.url}\n", encoding="utf-8")
    inner = (line.group(1).replace("\\\n", " ")
             .replace("/etc/krx-alertor/oci.env", str(env_file))
             .replace("/opt/krx-alertor/.venv", str(REPO / ".venv")))
    proc = subprocess.run(["sh", "-c", inner], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert receiver.titles() == ["KRX Alertor test"]
