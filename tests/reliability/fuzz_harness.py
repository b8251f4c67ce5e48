"""Run schemathesis (its CLI, as an operator would) against a live server's OpenAPI schema.

Checks: all of them except `positive_data_acceptance` — business rules that JSON Schema cannot
express (a ticket must match the current plan, no ticket during an emergency stop (423), one
order per ticker and side, dates within the calendar) legitimately refuse schema-valid data.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
EXCLUDED_CHECKS = "positive_data_acceptance"


@dataclass
class FuzzRun:
    returncode: int
    generated: int
    passed: int
    output: str


def run_schemathesis(base_url: str, token: str | None, *, max_examples: int,
                     mode: str = "all", seed: int = 11, timeout: float = 900,
                     exclude_paths: tuple[str, ...] = ()) -> FuzzRun:
    cmd = [str(SCHEMATHESIS), "run", f"{base_url}/openapi.json", "--checks", "all",
           "--exclude-checks", EXCLUDED_CHECKS, "--max-examples", str(max_examples),
           "--mode", mode, "--seed", str(seed), "--no-color", "--workers", "1",
           "--suppress-health-check", "all", "--request-timeout", "30",
           "--generation-database", "none"]  # no .schemathesis/ left in the checkout
    for path in exclude_paths:
        cmd += ["--exclude-path", path]
    if token is not None:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    # schemathesis keeps a crash cache in ./.schemathesis: run it from a scratch directory.
    with tempfile.TemporaryDirectory(prefix="schemathesis-") as scratch:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=scratch)
    out = proc.stdout + proc.stderr
    m = re.search(r"(\d+) generated, (?:(\d+) found [^,]*, )?(\d+) passed", out)
    generated = int(m.group(1)) if m else 0
    passed = int(m.group(3)) if m else 0
    if m is None:
        m2 = re.search(r"(\d+) generated", out)
        generated = int(m2.group(1)) if m2 else 0
    return FuzzRun(proc.returncode, generated, passed, out)
