# Sourced by start.sh, stop.sh and connect_oci.sh (not run on its own): find the repository's
# Python (an active virtual environment, else ROOT/.venv) and run `krx pc VERB` with pc.env from
# the repository root when it exists (docs/pc-install.md).
# Usage: krx_pc_run VERB "WHAT failed" "$@"  — exits with the launcher's code.
krx_pc_run() {
  local verb="$1" what="$2"
  shift 2
  local root py=""
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
    py="$VIRTUAL_ENV/bin/python"
  elif [ -x "$root/.venv/bin/python" ]; then
    py="$root/.venv/bin/python"
  fi
  if [ -z "$py" ]; then
    if ! command -v python3 >/dev/null 2>&1; then
      echo "Python 3 was not found. Install Python 3.11 or newer (docs/pc-install.md)." >&2
    else
      echo "The virtual environment $root/.venv is missing. Create it once:" >&2
      echo "    cd \"$root\" && python3 -m venv .venv && .venv/bin/python -m pip install -e ." >&2
    fi
    echo "KRX Alertor: $what." >&2
    exit 1
  fi
  local env_args=()
  if [ -f "$root/pc.env" ]; then
    env_args=(--env-file "$root/pc.env")
  fi
  cd "$root" || exit 1
  "$py" -m krx_cli.main pc "$verb" ${env_args[@]+"${env_args[@]}"} "$@"
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "KRX Alertor: $what (exit $rc). See the message above and docs/pc-install.md." >&2
  fi
  exit $rc
}
