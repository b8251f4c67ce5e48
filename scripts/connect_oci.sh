#!/usr/bin/env bash
# Keep only the SSH tunnel to OCI up, in this window (Ctrl-C stops it).
# A thin shim over the launcher: `krx pc tunnel` from the repository's virtual environment,
# with pc.env from the repository root when it exists (scripts/_pc_common.sh, docs/pc-install.md).
set -uo pipefail
# shellcheck source=scripts/_pc_common.sh
. "$(dirname "$0")/_pc_common.sh"
krx_pc_run tunnel "the tunnel failed" "$@"
