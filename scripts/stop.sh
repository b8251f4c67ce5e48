#!/usr/bin/env bash
# Stop exactly the KRX Alertor processes `start` started (PID files).
# A thin shim over the launcher: `krx pc stop` from the repository's virtual environment,
# with pc.env from the repository root when it exists (scripts/_pc_common.sh, docs/pc-install.md).
set -uo pipefail
# shellcheck source=scripts/_pc_common.sh
. "$(dirname "$0")/_pc_common.sh"
krx_pc_run stop "stop failed" "$@"
