"""Shared fixtures: the real KRX bars carried in the repository (`data/krx/`), one numba cache
per run, and the grouping of tests for parallel runs (pytest-xdist, `--dist loadgroup`)."""

from __future__ import annotations

import fcntl
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KRX_DATA = REPO / "data" / "krx"

# pykrx logs in to KRX at import when these are set; tests never talk to KRX.
for _var in ("KRX_ID", "KRX_PW"):
    os.environ.pop(_var, None)
# The morning text follows $KRX_LANG, then the locale: the English golden texts must not
# turn Korean on a machine set to ko_KR (tests of the Korean text pass --lang ko).
os.environ["KRX_LANG"] = "en"

_OWNED_NUMBA_CACHE = "_krx_owned_numba_cache"
_NUMBA_WARMER = "_krx_numba_warmer"
_COMPILE_LOCK = "compile.lock"


def pytest_configure(config: pytest.Config) -> None:
    """One numba cache for the whole run, outside the checkout: the controller (or the only
    process) makes a fresh directory and exports NUMBA_CACHE_DIR before xdist starts its
    workers, so the workers and every subprocess they start (CLI, servers) inherit it and
    load the kernels the first of them compiled. A NUMBA_CACHE_DIR set by the caller is kept
    (e.g. a persistent cache for the quick loop)."""
    if hasattr(config, "workerinput"):
        return
    if not os.environ.get("NUMBA_CACHE_DIR"):
        path = tempfile.mkdtemp(prefix="krx-tests-numba-")
        os.environ["NUMBA_CACHE_DIR"] = path
        setattr(config, _OWNED_NUMBA_CACHE, path)
    setattr(config, _NUMBA_WARMER, _start_numba_warmer(Path(os.environ["NUMBA_CACHE_DIR"])))


def _start_numba_warmer(cache: Path) -> subprocess.Popen[bytes]:
    """Compile the kernels into the cache in the background while the workers start and
    collect. The warmer holds the cache's compile lock from before it starts until it exits
    (it inherits the locked file), so `numba_kernels` and `numba_cache_warm` wait for it
    instead of compiling the same kernels again in parallel: a cold compile costs about 17 s of
    CPU, a load from the cache about 1 s."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / _COMPILE_LOCK, "a+", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return subprocess.Popen(
            [sys.executable, "-c",
             "import sys; sys.path.insert(0, sys.argv[1]); "
             "from strategy.backtest import jit; jit.compile_kernels()", str(REPO)],
            cwd=REPO, pass_fds=(lock.fileno(),), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    warmer: subprocess.Popen[bytes] | None = getattr(config, _NUMBA_WARMER, None)
    if warmer is not None:
        if warmer.poll() is None:
            warmer.kill()  # by its PID: only when the run ended before the compile did
        warmer.wait(timeout=10)
    path = getattr(config, _OWNED_NUMBA_CACHE, None)
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
        os.environ.pop("NUMBA_CACHE_DIR", None)


def _wait_for_the_warmer() -> Path:
    cache = Path(os.environ["NUMBA_CACHE_DIR"])
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / _COMPILE_LOCK, "a+", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fcntl.flock(lock, fcntl.LOCK_UN)
    return cache


@pytest.fixture(scope="session")
def numba_cache_warm() -> None:
    """The kernels are in the shared NUMBA_CACHE_DIR (the warmer has finished): a test's `krx`
    subprocesses and servers load them instead of each compiling them cold. Nothing is loaded
    into the test process."""
    _wait_for_the_warmer()


@pytest.fixture(autouse=True)
def _subprocesses_find_the_kernels_compiled(request: pytest.FixtureRequest) -> None:
    """Slow tests and the CLI's tests run backtests in `krx` subprocesses and servers: they
    start once the warmer has filled the cache (a wait only during the first seconds of a run)
    instead of each compiling the kernels cold at the same time."""
    if request.node.get_closest_marker("slow") or request.node.path.parent.name == "cli":
        request.getfixturevalue("numba_cache_warm")


@pytest.fixture(scope="session")
def numba_kernels() -> None:
    """The backtest kernels compiled once per run into the shared NUMBA_CACHE_DIR: the first
    worker compiles them under an exclusive lock, the others wait for it and load them from
    the cache instead of compiling again."""
    cache = _wait_for_the_warmer()
    with open(cache / _COMPILE_LOCK, "a+", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            from strategy.backtest import jit

            jit.compile_kernels()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _holds_a_shared_resource(fixturedef: pytest.FixtureDef[object]) -> bool:
    """A module- or class-scoped fixture that yields: a server, a stack, a browser (made once,
    torn down after the module). Data fixtures (bars, a sweep) return and may be computed once
    per worker."""
    return fixturedef.scope in ("module", "class", "package") and (
        inspect.isgeneratorfunction(fixturedef.func)
    )


def _start_rank(item: pytest.Item) -> int:
    return 0 if item.get_closest_marker("slow") else (
        1 if item.get_closest_marker("integration") else 2)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests sharing a resource fixture of their module go to one xdist worker together
    (`--dist loadgroup`), so the server is started once, as in a sequential run; every other
    test is scheduled on its own. Runs before xdist turns the marks into scheduling groups.

    On an xdist worker the tests are also ordered slow, then integration, then the rest (a
    stable sort): xdist hands them out in this order (groups first), so the long tests start
    early and the short ones fill the gaps instead of one long test running alone at the
    end. A sequential run keeps the file order."""
    if hasattr(config, "workerinput"):
        items.sort(key=_start_rank)
    for item in items:
        fixtureinfo = getattr(item, "_fixtureinfo", None)
        if fixtureinfo is None:
            continue
        if any(_holds_a_shared_resource(d)
               for name in fixtureinfo.names_closure
               for d in fixtureinfo.name2fixturedefs.get(name, ())):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


@pytest.fixture(scope="session")
def krx_data_dir() -> Path:
    """Directory of the real daily bars (`<code>.csv`); fails loudly when it is missing."""
    daily = KRX_DATA / "daily"
    if not daily.is_dir():
        pytest.fail(f"real KRX data not found at {daily}: the checkout is incomplete")
    return daily


@pytest.fixture(scope="session")
def krx_master_path() -> Path:
    return KRX_DATA / "tickers.csv"


class Receiver:
    """A loopback HTTP server that records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        received = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def titles(self) -> list[str]:
        return [m["title"] for m in self.messages]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local apprise `json://` target that records what was sent."""
    r = Receiver()
    yield r
    r.close()
