"""What the `krx` verbs share: exit codes, the user-error type, common options and loaders.

One exit-code table for every verb (SPEC.md §5, `scripts/daily_ops.sh`, docs/oci-install.md):

====  =====================================================================
code  meaning
====  =====================================================================
0     OK: the command did what was asked (a READY or EMPTY plan, no warning)
2     blocked, warn, holiday, stale data — or a usage error (bad argument);
      nothing was done that needs a human to look at a traceback
1     failure: the command could not run (an exception, unreadable state)
====  =====================================================================

Each verb module states only its own options; the shared ones come from the `add_*` helpers
here, and `guarded` turns `CommandError` (and the domain's input errors the verb names) into
``krx <verb>: <message>`` on stderr with exit code 2. Keep top-level imports light: this module
is imported when the parser is built.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

if TYPE_CHECKING:
    import pandas as pd

    from contracts.settings import Settings
    from strategy.research import ResearchSetup

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BLOCKED = 2  # blocked, warn, holiday, stale
EXIT_USAGE = 2  # a bad argument: one line on stderr, nothing written

DEFAULT_UNIVERSE_HELP = "069500,229200,091160,305720,005930"


class CommandError(Exception):
    """A user-facing failure: printed as ``krx <verb>: <message>``, exit code 2."""


# --- console --------------------------------------------------------------------------------


def safe_console(*streams: TextIO | Any) -> None:
    """Never fail on the console's encoding (cp949, ascii...): unencodable characters become
    '?' instead of raising UnicodeEncodeError after work was done."""
    for stream in streams or (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None:
            continue
        with contextlib.suppress(ValueError, io.UnsupportedOperation):
            reconfigure(errors="replace")


def use_color(stream: TextIO | Any = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    stream = sys.stdout if stream is None else stream
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


# --- options --------------------------------------------------------------------------------


def add_data_dir(p: argparse.ArgumentParser, *, default: Path | None = None) -> None:
    """--data-dir: the data root holding state/ and reports/."""
    where = str(default) if default is not None else "$KRX_DATA_DIR or repo"
    p.add_argument(
        "--data-dir",
        type=Path,
        default=default,
        help=f"data root holding state/ and reports/ (default {where})",
    )


def add_data_source(p: argparse.ArgumentParser, *, default: str | None = "auto",
                    dest: str = "data") -> None:
    """--data: the market-data provider spec."""
    shown = f" (default {default})" if default else ""
    p.add_argument(
        "--data",
        default=default,
        dest=dest,
        help=f"market data: csv:DIR | demo | pykrx | fdr | auto{shown}",
    )


def add_window(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    """--start/--end: the decision window; earlier bars are warm-up. `required=False` for a
    command with sub-verbs that do not take a window (the handler then checks them)."""
    p.add_argument(
        "--start",
        type=date.fromisoformat,
        required=required,
        help="first decision session (YYYY-MM-DD); earlier bars are warm-up",
    )
    p.add_argument(
        "--end", type=date.fromisoformat, required=required, help="last session (YYYY-MM-DD)"
    )


def add_settings_args(p: argparse.ArgumentParser) -> None:
    """--params/--universe/--benchmark: the strategy settings a backtest runs."""
    p.add_argument(
        "--params",
        type=Path,
        default=None,
        help="YAML or JSON of StrategyParams fields (others keep their defaults); "
        "an optional 'guardrails' mapping sets Guardrails fields",
    )
    p.add_argument(
        "--universe",
        default=None,
        help=f"comma-separated tickers (default: {DEFAULT_UNIVERSE_HELP})",
    )
    p.add_argument("--benchmark", default=None, help="regime benchmark (default 069500)")


def add_grid_run_args(p: argparse.ArgumentParser) -> None:
    """What `krx sweep` and `krx walkforward` share: data source, settings, window, grid."""
    add_data_source(p)
    add_settings_args(p)
    add_window(p)
    add_grid_args(p)


def add_grid_args(p: argparse.ArgumentParser) -> None:
    """The grid commands' options: grid, objective, parallelism and progress."""
    p.add_argument(
        "--grid",
        type=Path,
        default=None,
        help="YAML grid: {param: [values] | {start, stop, step} | value}",
    )
    p.add_argument(
        "--set",
        dest="set_items",
        action="append",
        default=[],
        metavar="K=A:B:S",
        help="grid entry: name=start:stop:step (inclusive), name=a,b,c or name=v; "
        "repeatable; overrides the same name in --grid",
    )
    p.add_argument(
        "--objective",
        default="sharpe",
        help="metric to rank by: sharpe, sortino, cagr, calmar, total_return, ... (default sharpe)",
    )
    p.add_argument(
        "--jobs", type=int, default=None, help="parallel jobs (default: all cores; 1 = one core)"
    )
    p.add_argument(
        "--backend",
        default=None,
        help="execution: threads (nogil kernel, default), loky (processes), inprocess "
        "(default: threads, or dask with --dask)",
    )
    p.add_argument(
        "--dask",
        default=None,
        metavar="ADDRESS",
        help="run batches on the dask.distributed scheduler at ADDRESS",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )


def add_report_args(p: argparse.ArgumentParser, *, metavar: str = "OUT.html") -> None:
    """--report and --report-plotly: an HTML report, self-contained or with a shared plotly.js."""
    p.add_argument("--report", type=Path, default=None, metavar=metavar,
                   help="write the HTML report here")
    p.add_argument(
        "--report-plotly",
        choices=["inline", "local"],
        default="inline",
        help="inline: one self-contained file (~5 MB); local: a light report that loads "
        "plotly.min.js written once beside it (offline either way)",
    )


# --- loaders --------------------------------------------------------------------------------


def build_settings(
    params_path: Path | None, universe: str | None, benchmark: str | None
) -> Settings:
    """Default settings with the --params file, --universe and --benchmark applied."""
    import yaml
    from pydantic import ValidationError

    from contracts.settings import Guardrails, Settings, StrategyParams

    strategy: dict[str, Any] = {}
    guardrails: dict[str, Any] = {}
    where = "settings"
    if params_path is not None:
        where = str(params_path)
        try:
            with open(params_path, encoding="utf-8") as fh:
                loaded = yaml.safe_load(fh)
        except OSError as exc:
            raise CommandError(f"cannot read --params {params_path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise CommandError(f"{params_path}: not valid YAML/JSON ({exc})") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise CommandError(f"{params_path}: expected a mapping of StrategyParams fields")
        loaded = dict(loaded)
        raw_guard = loaded.pop("guardrails", None) or {}
        if not isinstance(raw_guard, dict):
            raise CommandError(f"{params_path}: 'guardrails' must be a mapping")
        strategy, guardrails = loaded, raw_guard
        unknown = sorted(set(strategy) - set(StrategyParams.model_fields))
        if unknown:
            raise CommandError(
                f"{params_path}: unknown parameter(s) {', '.join(unknown)}; valid: "
                f"{', '.join(StrategyParams.model_fields)}"
            )
    update: dict[str, Any] = {}
    if universe is not None:
        update["universe"] = [c.strip() for c in universe.split(",") if c.strip()]
    if benchmark is not None:
        update["benchmark"] = benchmark.strip()
    try:
        return Settings(
            strategy=StrategyParams(**strategy), guardrails=Guardrails(**guardrails), **update
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or "params"
        raise CommandError(f"{where}: {loc}: {first['msg']}") from None


def load_settings(args: argparse.Namespace) -> Settings:
    """Settings from the --params/--universe/--benchmark options of `args`."""
    return build_settings(args.params, args.universe, args.benchmark)


def load_bars(spec: str, settings: Settings, end: date) -> dict[str, pd.DataFrame]:
    """Bars of the universe and the benchmark up to `end`, all earlier history included
    (`strategy.research.load_bars`, its errors as `CommandError`)."""
    from strategy.research import load_bars as research_bars

    return research_errors(lambda: research_bars(spec, settings, end))


def research_errors(call: Callable[[], T]) -> T:
    """`call()` with the research set-up's errors (`strategy.research`) as `CommandError`:
    the input at fault, unreadable market data, an unusable --data spec."""
    from strategy.marketdata.errors import MarketDataError
    from strategy.research import DataSpecError, ResearchInputError

    try:
        return call()
    except (ResearchInputError, MarketDataError) as exc:
        raise CommandError(str(exc)) from None
    except DataSpecError as exc:
        raise CommandError(f"--data {exc}") from None


def prepare_grid_setup(args: argparse.Namespace, grid: dict[str, list[Any]]) -> ResearchSetup:
    """`strategy.research.prepare_grid_run` on the grid commands' options (its errors as
    `CommandError`): settings, window, objective and grid checked, the bars loaded."""
    from strategy.research import prepare_grid_run

    return research_errors(lambda: prepare_grid_run(
        load_settings(args), args.data, args.start, args.end, grid=grid,
        objective=args.objective))


def load_grid(args: argparse.Namespace) -> dict[str, list[Any]]:
    """The validated grid from --grid and --set (GridError names the parameter at fault)."""
    from strategy.backtest.grid import (
        GridError,
        canonical_param,
        parse_grid,
        parse_grid_yaml,
        parse_set_items,
    )

    spec: dict[str, Any] = {}
    if args.grid is not None:
        try:
            with open(args.grid, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise CommandError(f"cannot read grid file {args.grid}: {exc.strerror}") from None
        try:
            spec.update(parse_grid_yaml(text))
        except GridError as exc:
            raise CommandError(f"{args.grid}: {exc}") from None
    spec.update({canonical_param(k): v for k, v in parse_set_items(args.set_items).items()})
    if not spec:
        raise CommandError("give a grid: --grid FILE.yaml and/or --set name=start:stop:step")
    return parse_grid(spec)


@contextlib.contextmanager
def parallel_context(args: argparse.Namespace) -> Iterator[None]:
    """joblib configured for --dask (a distributed.Client on that scheduler), else nothing."""
    if not getattr(args, "dask", None):
        yield
        return
    try:
        from distributed import Client
    except ImportError:
        raise CommandError("--dask needs dask[distributed] installed") from None
    from joblib import parallel_config

    with Client(args.dask) as _client, parallel_config(backend="dask"):
        yield


def show_progress(args: argparse.Namespace) -> bool:
    """--progress/--no-progress, else a bar only when stderr is a terminal."""
    return bool(sys.stderr.isatty()) if args.progress is None else bool(args.progress)


def print_table(frame: pd.DataFrame) -> None:
    """A frame printed with the report's number format (one format for every verb)."""
    from strategy.backtest.frames import format_value

    text = frame.copy()
    for col in text.columns:
        text[col] = [format_value(str(col), v) for v in text[col].tolist()]
    print(text.to_string(index=False))


# --- running --------------------------------------------------------------------------------


def guarded(
    verb: str,
    body: Callable[[argparse.Namespace], int],
    args: argparse.Namespace,
    *errors: type[BaseException],
) -> int:
    """Run `body(args)`; a CommandError or one of `errors` (the domain's input errors) prints
    ``krx <verb>: <message>`` on stderr and returns EXIT_USAGE. Anything else propagates."""
    safe_console()
    caught: tuple[type[BaseException], ...] = (CommandError, *errors)
    try:
        return body(args)
    except caught as exc:
        print(f"krx {verb}: {exc}", file=sys.stderr)
        return EXIT_USAGE


# -- --json: one convention for daily, backtest and walk-forward --------------------------------
JSON_STDOUT = "-"


def add_json_out(p: argparse.ArgumentParser, what: str, *, dest: str = "json") -> None:
    """`--json PATH` writes `what` as JSON to PATH (the text report still prints); `--json -`,
    or `--json` alone, prints the JSON on stdout instead and moves the text to stderr."""
    p.add_argument("--json", dest=dest, nargs="?", const=JSON_STDOUT, default=None,
                   metavar="PATH",
                   help=f"write {what} as JSON to PATH; `-` (or --json alone) prints it on "
                        "stdout instead of the text")


@contextlib.contextmanager
def text_beside_json(json_out: str | None) -> Iterator[None]:
    """While JSON goes to stdout, the human text goes to stderr (stdout stays valid JSON)."""
    if json_out == JSON_STDOUT:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    else:
        yield


def write_json_out(json_out: str, text: str) -> None:
    """Print `text` (JSON) on stdout for `-`, else write it to the file and say where."""
    if json_out == JSON_STDOUT:
        print(text)
        return
    path = Path(json_out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    print(f"json: {path}")
