#!/usr/bin/env bash
# KRX Alertor daily ops on OCI (systemd timer or cron, Mon-Fri 09:05 KST): run the daily cycle
# directly in Python (works while the API is down), then one ticket-processor pass.
#
# Environment (all optional):
#   KRX_HOME       checkout to run from            (default: this script's repository)
#   KRX_VENV       virtualenv holding `krx`         (default: $KRX_HOME/.venv)
#   KRX_DATA_DIR   data root: state/ and reports/   (default: $KRX_HOME)
#   KRX_DATA_SPEC  market data for `krx daily --data` (default: auto)
#   KRX_DAILY_LOCK lock file                        (default: $KRX_DATA_DIR/state/.daily_ops.lock)
# Log: $KRX_DATA_DIR/reports/logs/daily_ops_YYYYMMDD.log (KST date), also echoed to stdout.
# Exit codes: 0 OK; 2 blocked or warn (holiday, blocked/stale plan, another run busy);
#             1 failure (the cycle failed, the ticket pass failed, or the set-up is broken).
set -euo pipefail

KRX_HOME="${KRX_HOME:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
KRX_VENV="${KRX_VENV:-$KRX_HOME/.venv}"
KRX_DATA_DIR="${KRX_DATA_DIR:-$KRX_HOME}"
KRX_DATA_SPEC="${KRX_DATA_SPEC:-auto}"
KRX_DAILY_LOCK="${KRX_DAILY_LOCK:-$KRX_DATA_DIR/state/.daily_ops.lock}"
export KRX_DATA_DIR

ts() { TZ=Asia/Seoul date '+%Y-%m-%dT%H:%M:%S%z'; }

LOG_DIR="$KRX_DATA_DIR/reports/logs"
mkdir -p "$LOG_DIR" "$(dirname "$KRX_DAILY_LOCK")"
LOG="$LOG_DIR/daily_ops_$(TZ=Asia/Seoul date +%Y%m%d).log"

# One run at a time: a second run exits at once instead of queueing behind the first.
exec 9>>"$KRX_DAILY_LOCK"
if ! flock -n 9; then
  msg="$(ts) daily_ops: busy: another run holds $KRX_DAILY_LOCK; not starting a second one"
  echo "$msg" >>"$LOG"
  echo "$msg" >&2
  exit 2
fi

# Everything from here on goes to the dated log and to stdout (journal / cron). tee does not
# inherit the lock, and the exit trap waits for it so the log is complete when we return.
exec > >(exec 9>&-; tee -a "$LOG") 2>&1
TEE_PID=$!
trap 'exec 1>&- 2>&-; wait "$TEE_PID" 2>/dev/null || true' EXIT

log() { echo "$(ts) daily_ops: $*"; }

KRX="$KRX_VENV/bin/krx"
log "start (home $KRX_HOME, venv $KRX_VENV, data $KRX_DATA_DIR, market data $KRX_DATA_SPEC)"
if [ ! -x "$KRX" ]; then
  log "FAILED: $KRX is missing or not executable; set KRX_VENV to the virtualenv of this install"
  exit 1
fi
cd "$KRX_HOME"

set +e
"$KRX" daily --data "$KRX_DATA_SPEC" --data-dir "$KRX_DATA_DIR"
daily_rc=$?
set -e
log "krx daily exited $daily_rc"

# Tickets are processed even after a blocked cycle: the processor re-checks every ticket
# against the current plan and rejects stale ones.
set +e
"$KRX" oci process-tickets --data-dir "$KRX_DATA_DIR"
tickets_rc=$?
set -e
log "krx oci process-tickets exited $tickets_rc"

if [ "$daily_rc" -ne 0 ] && [ "$daily_rc" -ne 2 ]; then
  rc=1
elif [ "$tickets_rc" -ne 0 ]; then
  rc=1
elif [ "$daily_rc" -eq 2 ]; then
  rc=2
else
  rc=0
fi
log "done: exit $rc ($( [ $rc -eq 0 ] && echo OK || { [ $rc -eq 2 ] && echo blocked-or-warn || echo FAILED; } ))"
exit "$rc"
