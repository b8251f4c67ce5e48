#!/usr/bin/env bash
# Install everything the test suite needs and run all of it (the README's test command).
# System packages (openssh-server, chromium, cron) are installed with apt when running as root;
# otherwise a hint is printed and tests that need them skip locally (never in CI).
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v crontab >/dev/null 2>&1 || need+=(cron)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "note: missing system packages: ${need[*]} (install them to run every test)" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"

.venv/bin/ruff check .
.venv/bin/mypy strategy contracts
.venv/bin/krx schema --check

set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit $rc
