#!/usr/bin/env bash
# Run the whole system locally on the embedded synthetic market (the README's demo command):
# OCI backend + PC backend (--direct) + cockpit; Ctrl-C stops all three. Arguments go to
# `krx demo` (e.g. --no-browser). The venv is (re)installed only when it is missing or
# pyproject.toml changed since the last install (its hash is kept in .venv/.krx-install).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
STAMP=.venv/.krx-install
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ ! -x .venv/bin/krx ] || [ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]; then
  echo "installing KRX Alertor into .venv (first run, or pyproject.toml changed)…" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e .
  echo "$want" > "$STAMP"
fi
exec .venv/bin/krx demo "$@"
