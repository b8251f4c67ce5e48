"""schemathesis against the real PC backend's OpenAPI (issue 11, section 2), in front of a
real OCI backend (--direct) on the sample bars: no 5xx and every response as documented.

Strict xfail: the first run (2026-11-30, 97 cases) found, in the PC backend (not this suite's
code): 401 answers the schema does not document (31 x ST103); POST /backtest and /sweep answer
503 MARKET_DATA_UNAVAILABLE (a 5xx) for a window outside the data instead of a 422 naming
start/end; GET /audit accepts `since=0.5` (a number read as a Unix time); and the server
stopped responding during the fuzzing phase (requests timed out at 30 s). Once fixed this test
passes and the marker must go (strict=True)."""

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


@pytest.mark.xfail(strict=True, reason="PC backend: undocumented 401 on every route and "
                   "other schemathesis findings (see the report in the assertion)")
def test_fuzz_pc_backend_schema_no_5xx_and_conforms(start_oci, tmp_path):
    oci = start_oci()
    pc = start_direct(oci, tmp_path / "ws", tmp_path / "pc.log",
                      env={"KRX_PC_DATA": f"csv:{REPO_DAILY}"})
    try:
        run = run_schemathesis(pc.base_url, pc.token, max_examples=EXAMPLES)
    finally:
        stop_pc(pc)
    print(f"schemathesis on the PC backend: {run.generated} cases")
    assert run.returncode == 0, run.output[-6000:]
    assert oci.token not in pc.output() and pc.token not in pc.output()
