#!/usr/bin/env bash
# Start KRX Alertor on this PC: backend (with the SSH tunnel) and cockpit.
# A thin shim over the launcher: `krx pc start` from the repository's virtual environment,
# with pc.env from the repository root when it exists (scripts/_pc_common.sh, docs/pc-install.md).
set -uo pipefail
# shellcheck source=scripts/_pc_common.sh
. "$(dirname "$0")/_pc_common.sh"
krx_pc_run start "start failed" "$@"
