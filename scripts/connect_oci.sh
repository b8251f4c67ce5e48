#!/usr/bin/env bash
# Keep only the SSH tunnel to OCI up, in this window (Ctrl-C stops it).
# A thin shim over the launcher: `krx pc tunnel` from the repository's virtual environment,
# with pc.env from the repository root when it exists (docs/pc-install.md).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY=""
if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
  PY="$VIRTUAL_ENV/bin/python"
elif [ -x "$ROOT/.venv/bin/python" ]; then
  PY="$ROOT/.venv/bin/python"
fi
if [ -z "$PY" ]; then
  if ! command -v python3 >/dev/null 2>&1; then
    echo "Python 3 was not found. Install Python 3.11 or newer (docs/pc-install.md)." >&2
  else
    echo "The virtual environment $ROOT/.venv is missing. Create it once:" >&2
    echo "    cd \"$ROOT\" && python3 -m venv .venv && .venv/bin/python -m pip install -e ." >&2
  fi
  echo "KRX Alertor: the tunnel failed." >&2
  exit 1
fi
ENV_ARGS=()
if [ -f "$ROOT/pc.env" ]; then
  ENV_ARGS=(--env-file "$ROOT/pc.env")
fi
cd "$ROOT" || exit 1
"$PY" -m krx_cli.main pc tunnel ${ENV_ARGS[@]+"${ENV_ARGS[@]}"} "$@"
rc=$?
if [ $rc -ne 0 ]; then
  echo "KRX Alertor: the tunnel failed (exit $rc). See the message above and docs/pc-install.md." >&2
fi
exit $rc
