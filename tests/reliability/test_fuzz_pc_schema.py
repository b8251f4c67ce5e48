"""schemathesis against the real PC backend's OpenAPI (issue 11, section 2), in front of a
real OCI backend (--direct) on the sample bars: no 5xx and every response as documented.

The first run (2026-11-30, 97 cases) found: 401 answers the schema did not document; POST
/backtest and /sweep answering 503 MARKET_DATA_UNAVAILABLE for a window before the data
(now 422 naming `end`); GET /audit accepting `since=0.5` (now 422 naming `since`, as OCI's
/audit); and the server going away mid-run: the fuzzer's POST /api/v1/shutdown (token sent)
stopped it, as that route is meant to. /shutdown is therefore left out of the fuzzed paths
(its documented answers are checked in tests/pc_backend/test_pc_api_research.py); the
responsiveness of the backend under heavy research is tested there too."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from fuzz_harness import run_schemathesis
from oci_server import REPO_DAILY

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pc_backend"))

from pc_server import start_direct, stop_pc  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES = int(os.environ.get("KRX_FUZZ_EXAMPLES", "10"))


def test_fuzz_pc_backend_schema_no_5xx_and_conforms(start_oci, tmp_path):
    oci = start_oci()
    pc = start_direct(oci, tmp_path / "ws", tmp_path / "pc.log",
                      env={"KRX_PC_DATA": f"csv:{REPO_DAILY}"})
    try:
        run = run_schemathesis(pc.base_url, pc.token, max_examples=EXAMPLES,
                               exclude_paths=("/api/v1/shutdown",))
        assert pc.proc.poll() is None, "the PC backend exited during the fuzzing"
    finally:
        stop_pc(pc)
    print(f"schemathesis on the PC backend: {run.generated} cases")
    assert run.returncode == 0, run.output[-6000:]
    assert "stopped responding" not in run.output
    assert oci.token not in pc.output() and pc.token not in pc.output()
