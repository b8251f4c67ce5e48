"""schemathesis against the real OCI backend (issue 11, section 2): no 5xx, every response
conforms to the documented schema, and requests that are refused (no token; schema-invalid
data) leave every stored state file byte-identical. Case counts are in the output and in
benchmarks/bench_fuzz.py's results."""

from __future__ import annotations

import os

import pytest
from fuzz_harness import run_schemathesis
from oci_server import hash_tree

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES = int(os.environ.get("KRX_FUZZ_EXAMPLES", "10"))


def test_fuzz_without_token_is_all_401_and_changes_nothing(start_oci):
    server = start_oci()
    before = hash_tree(server.data_dir / "state")
    run = run_schemathesis(server.base_url, None, max_examples=EXAMPLES)
    print(f"schemathesis without token: {run.generated} cases")
    assert run.returncode == 0, run.output[-4000:]
    assert run.generated > 50
    assert hash_tree(server.data_dir / "state") == before


def test_fuzz_schema_invalid_requests_are_refused_and_change_nothing(start_oci):
    server = start_oci()
    before = hash_tree(server.data_dir / "state")
    # POST /ops/cycle takes an optional body: the negative phase also sends it without one,
    # which is a valid request that runs a cycle (and writes its audit line).
    run = run_schemathesis(server.base_url, server.token, max_examples=EXAMPLES, mode="negative",
                           exclude_paths=("/api/v1/ops/cycle",))
    print(f"schemathesis negative: {run.generated} cases")
    assert run.returncode == 0, run.output[-4000:]
    assert run.generated > 50
    after = hash_tree(server.data_dir / "state")
    changed = sorted(k for k in set(after) | set(before) if after.get(k) != before.get(k))
    tail = (server.data_dir / "state" / "audit.jsonl").read_text(encoding="utf-8")[-1500:]
    assert changed == [], tail
    assert server.token not in server.output()


def test_fuzz_with_token_finds_no_5xx_and_conforms(start_oci):
    server = start_oci()
    run = run_schemathesis(server.base_url, server.token, max_examples=EXAMPLES)
    print(f"schemathesis with token: {run.generated} cases")
    assert run.returncode == 0, run.output[-4000:]
    assert run.generated > 100 and run.passed == run.generated
    assert "Server error" not in run.output
    assert server.token not in server.output()
