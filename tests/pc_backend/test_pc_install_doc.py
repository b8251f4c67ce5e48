"""docs/pc-install.md, README and the scripts agree on the Windows and Linux details (issue 16
item 17): the clone step, `-p` for a non-22 SSH port, a token file private from its first byte,
the CJK font on Linux, one Python command, and pc.env never committed."""

from __future__ import annotations

import re
import subprocess

from pc_server import REPO

DOC = (REPO / "docs" / "pc-install.md").read_text(encoding="utf-8")
README = (REPO / "README.md").read_text(encoding="utf-8")


def _sections() -> tuple[str, str]:
    windows = DOC[DOC.index("## Windows"):DOC.index("## macOS and Linux")]
    posix = DOC[DOC.index("## macOS and Linux"):DOC.index("## Without SSH")]
    return windows, posix


def test_pc_install_doc_clone_port_private_token_and_font() -> None:
    windows, posix = _sections()
    for part in (windows, posix):
        assert re.search(r"^git clone \S+ \S+", part, re.MULTILINE), "a clone step"
    assert re.search(r"ssh -p \d+ ubuntu@", windows) and "KRX_PC_SSH_PORT" in windows
    assert "-p PORT" in posix
    # the token file is never world-readable, not even for a moment
    token_lines = [line for line in posix.splitlines() if "oci_token" in line]
    assert token_lines, "the Linux steps create the token file"
    created = posix.index("install -m 600 /dev/null ~/.krx-alertor/oci_token")
    assert all(posix.index(line) >= created for line in token_lines)
    assert "THE-OCI-TOKEN" not in posix  # pasted in an editor: not in argv or the history
    assert "chmod 600 ~/.krx-alertor/oci_token" not in posix  # (was: readable until then)
    assert "fonts-noto-cjk" in posix


def test_pc_install_one_python_command_across_readme_doc_and_scripts() -> None:
    assert "py -3.11" not in README and "py -3" not in DOC
    bat = (REPO / "scripts" / "_pc_common.bat").read_text(encoding="utf-8")
    for text in (README, DOC, bat):
        assert "python -m venv .venv" in text
    assert "Microsoft Store" in README and "Microsoft Store" in DOC


def test_pc_env_is_git_ignored() -> None:
    r = subprocess.run(["git", "check-ignore", "-q", "pc.env"], cwd=REPO)
    assert r.returncode == 0, "pc.env must be in .gitignore"
