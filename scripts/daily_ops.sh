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
# Status: $KRX_DATA_DIR/state/daily_ops.json (shown by GET /health), written by
#         `python -m oci_backend.daily_ops`, which also sends an incident for a skipped day.
# Exit codes: 0 OK or holiday; 2 skipped (blocked/stale/missing-data plan, another run busy);
#             1 failure (the cycle failed, the ticket pass failed, or the set-up is broken).
# The systemd unit counts only 0 as success, so a skipped day shows as a failed unit.
set -euo pipefail

KRX_HOME="${KRX_HOME:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
KRX_VENV="${KRX_VENV:-$KRX_HOME/.venv}"
KRX_DATA_DIR="${KRX_DATA_DIR:-$KRX_HOME}"
KRX_DATA_SPEC="${KRX_DATA_SPEC:-auto}"
KRX_DAILY_LOCK="${KRX_DAILY_LOCK:-$KRX_DATA_DIR/state/.daily_ops.lock}"
export KRX_DATA_DIR

ts() { TZ=Asia/Seoul date '+%Y-%m-%dT%H:%M:%S%z'; }

# Record the outcome (state/daily_ops.json, audit, incident) and print the final exit code;
# falls back to the shell's own code when the recorder cannot run.
record_status() {  # record_status FALLBACK_RC ARGS...
  local fallback=$1 out code
  shift
  if [ -x "$KRX_VENV/bin/python" ] && out=$(cd "$KRX_HOME" && "$KRX_VENV/bin/python" -m oci_backend.daily_ops \
      --data-dir "$KRX_DATA_DIR" --log "$LOG" "$@" 2>&1); then
    echo "$out" | grep -v '^exit ' || true
    code=$(echo "$out" | sed -n 's/^exit \([0-9]\)$/\1/p' | tail -n 1)
    echo "${code:-$fallback}"
    return
  fi
  echo "$(ts) daily_ops: status not recorded (${out:-no python in $KRX_VENV})" >&2
  echo "$fallback"
}

LOG_DIR="$KRX_DATA_DIR/reports/logs"
mkdir -p "$LOG_DIR" "$(dirname "$KRX_DAILY_LOCK")"
LOG="$LOG_DIR/daily_ops_$(TZ=Asia/Seoul date +%Y%m%d).log"

# One run at a time: a second run exits at once instead of queueing behind the first.
exec 9>>"$KRX_DAILY_LOCK"
if ! flock -n 9; then
  msg="$(ts) daily_ops: busy: another run holds $KRX_DAILY_LOCK; not starting a second one"
  echo "$msg" >>"$LOG"
  echo "$msg" >&2
  result=$(record_status 2 --busy 9>&-)
  echo "$result" | sed '$d' >>"$LOG"
  exit "$(echo "$result" | tail -n 1)"
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
result=$(record_status "$rc" --daily-rc "$daily_rc" --tickets-rc "$tickets_rc" 9>&-)
echo "$result" | sed '$d'
rc=$(echo "$result" | tail -n 1)
log "done: exit $rc ($( [ "$rc" -eq 0 ] && echo OK || { [ "$rc" -eq 2 ] && echo blocked-or-warn || echo FAILED; } ))"
exit "$rc"
