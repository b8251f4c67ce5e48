#!/usr/bin/env bash
# Install everything the test suite needs and run all of it (the README's test command), in
# parallel on every core (pytest-xdist; KRX_TEST_WORKERS overrides the worker count, 0 runs in
# one process). Extra arguments go to pytest.
#   scripts/test.sh --quick   the development loop: unit-level tests only (not integration, not
#                             slow), no installs, no mypy; numba's cache kept between runs.
# System packages the tests drive for real are installed with apt when running as root:
# cron (`crontab -n`), systemd (`systemd-analyze verify`), openssh-server (a real sshd for the
# tunnel tests), openssh-client (ssh-keygen) and chromium (Playwright drives Debian's build; never
# `playwright install`). Otherwise a hint is printed and tests that need them skip locally (never in CI).
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
WORKERS="${KRX_TEST_WORKERS:-auto}"
XDIST=(-n "$WORKERS")  # --dist loadgroup is in pyproject.toml addopts

# The tests' files live in RAM when a tmpfs with room is there (/dev/shm on Linux): the state
# files are fsynced on every write, and on a VM disk one fsync costs ~6 ms, most of a replayed
# session. SIGKILL-crash tests are unaffected (the page cache survives a killed process); the
# drills that need a full or read-only disk mount their own tmpfs. KRX_TEST_TMP picks the place.
TEST_TMP="${KRX_TEST_TMP:-}"
if [ -z "$TEST_TMP" ] && [ -d /dev/shm ] && [ -w /dev/shm ] \
   && [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2 {print $4}')" -ge 4194304 ] 2>/dev/null; then
  TEST_TMP=/dev/shm
fi
BASETEMP=()
if [ -n "$TEST_TMP" ]; then
  RUN_TMP="$(mktemp -d "$TEST_TMP/krx-tests.XXXXXX")"
  trap 'rm -rf "$RUN_TMP"' EXIT
  export TMPDIR="$RUN_TMP/tmp"
  mkdir -p "$TMPDIR"
  BASETEMP=(--basetemp "$RUN_TMP/pytest")
fi

pytest_rc() {
  set +e
  .venv/bin/python -m pytest "${BASETEMP[@]}" "$@"
  local rc=$?
  set -e
  if [ $rc -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    return 1
  fi
  return $rc
}

if [ "${1:-}" = "--quick" ]; then
  shift
  if [ ! -x .venv/bin/python ]; then
    echo "no .venv yet: run bash scripts/test.sh once (it installs everything)" >&2
    exit 1
  fi
  .venv/bin/ruff check .
  # A persistent numba cache outside the checkout: the kernels compile once, not every loop.
  export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/krx-alertor/numba}"
  pytest_rc "${XDIST[@]}" -m "not integration and not slow" "$@"
  exit $?
fi

need=()
command -v crontab >/dev/null 2>&1 || need+=(cron)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# Korean glyphs in the cockpit's browser screenshots (tests/e2e); optional for the assertions.
fc-list 2>/dev/null | grep -i nanum >/dev/null || need+=(fonts-nanum)
fc-list 2>/dev/null | grep -i "color emoji" >/dev/null || need+=(fonts-noto-color-emoji)
fc-list 2>/dev/null | grep -i "noto sans cjk" >/dev/null || need+=(fonts-noto-cjk)
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
.venv/bin/mypy krx_common strategy contracts broker fake_kis oci_backend krx_cli pc_backend pc_cockpit
# The shape of the code: layers, independent planes, no cycles ([tool.importlinter]).
.venv/bin/lint-imports
.venv/bin/krx schema --check

pytest_rc "${XDIST[@]}" --durations=30 "$@"
