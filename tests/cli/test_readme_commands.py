"""The README's "Everyday commands" block, run exactly as written from a fresh data root.

The block is read from README.md (not copied here): each command runs unchanged through bash
in a scratch directory that links `.venv` and `data` to this checkout (so relative paths and
`--report bt.html` land in the scratch directory, not the repo), with `KRX_DATA_DIR` pointing
at an empty root. `krx oci serve` runs in the background until `/health` answers, then is
stopped by its PID.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

import pytest

from contracts import OpsSummary

REPO = Path(__file__).resolve().parents[2]


def everyday_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Everyday commands\s+```bash\n(.*?)```", text, re.DOTALL)
    assert block, "README.md has no 'Everyday commands' bash block"
    joined = block.group(1).replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.mark.integration
@pytest.mark.timeout(900)  # every research command of the README, on a shared box
def test_readme_everyday_commands_run_as_written_from_a_fresh_root(tmp_path):
    commands = everyday_commands()
    assert any(c.startswith(".venv/bin/krx daily") for c in commands)
    if any(" oci serve" in c for c in commands) and not _port_free(8000):
        pytest.skip("127.0.0.1:8000 is taken: the README's `krx oci serve` needs it")
    work, root = tmp_path / "work", tmp_path / "root"
    work.mkdir()
    (work / ".venv").symlink_to(REPO / ".venv")
    (work / "data").symlink_to(REPO / "data")
    # set -m: the background server gets its own process group, stopped as a whole by its PID
    lines = ["set -u -m", f"export KRX_DATA_DIR={root}"]
    for n, cmd in enumerate(commands):
        if " oci serve" in cmd:
            lines += [
                # `{ ...\n}`: the command's trailing comment ends at the newline
                f"{{ {cmd}\n}} >serve.log 2>&1 & SERVE=$!",
                "for i in $(seq 150); do curl -sf http://127.0.0.1:8000/health >/dev/null "
                "&& break; sleep 0.2; done",
                f'curl -sf http://127.0.0.1:8000/health >/dev/null; echo "::rc {n} $?"',
                'kill -TERM -- -"$SERVE"; wait "$SERVE" 2>/dev/null',
            ]
        else:
            lines.append(f'{{ {cmd}\n}} >out{n}.txt 2>&1; echo "::rc {n} $?"')
    proc = subprocess.run(["bash", "-c", "\n".join(lines)], cwd=work, capture_output=True,
                          text=True, timeout=900)  # ~2 min alone; a shared box is slower
    rcs = {int(n): int(rc) for n, rc in re.findall(r"::rc (\d+) (\d+)", proc.stdout)}
    expected = {}
    for n, full in enumerate(commands):
        cmd = full.split(" #")[0].strip()
        if cmd.startswith(("D=", "export ")):
            continue
        # the demo is a WARN (synthetic data); --json on a fresh clone is BLOCKED (no live
        # provider) or a holiday: both 2 by the exit-code table; everything else is 0
        expected[n] = 2 if ("--data demo" in cmd or cmd.endswith("daily --json -")) else 0
    def out(n: int) -> str:
        f = work / f"out{n}.txt"
        return f.read_text(encoding="utf-8") if f.exists() else ""
    got = {n: rcs.get(n) for n in expected}
    assert got == expected, {n: (commands[n], out(n)[-800:]) for n in expected
                             if got[n] != expected[n]}
    # what each produced, from the fresh root
    replay = next(n for n, c in enumerate(commands) if "--asof 2025-12-29" in c)
    assert "지정가" in out(replay) and "2025-12-30" in out(replay)
    # the replay has its own root: the live root never becomes a replay root (issue 16)
    assert not (root / "state" / "replay.json").exists()
    assert (work / "replay-root" / "state" / "replay.json").exists()  # krx replay init
    dated = (work / "replay-1229" / "reports" / "ops" / "summary" /
             "ops_summary_20251229.json")
    assert OpsSummary.model_validate_json(dated.read_bytes()).asof.isoformat() == "2025-12-29"
    assert (root / "state" / "demo" / "reports" / "ops" / "summary" /
            "ops_summary_latest.json").exists()
    json_n = next(n for n, c in enumerate(commands)
                  if c.split(" #")[0].strip().endswith("daily --json -"))
    OpsSummary.model_validate_json(out(json_n))
    assert "metrics" in json.loads((work / "bt.json").read_text(encoding="utf-8"))
    for name in ("bt.html", "sweep.html"):
        assert (work / name).stat().st_size > 100_000


def test_readme_replays_have_their_own_data_dir_and_json_is_one_convention() -> None:
    """Issue 16: no README command turns the checkout into a replay root; `--json` takes a
    PATH or `-` everywhere."""
    for cmd in everyday_commands():
        if "--replay" in cmd or " replay init" in cmd:
            assert "--data-dir" in cmd, cmd
        if "--json" in cmd:
            assert re.search(r"--json (-|\S+\.json)(\s|$)", cmd.split(" #")[0] + " "), cmd
