"""The CLI's shape: shared options, errors and loaders live once in `_common`; each verb
states only what is its own, and no verb imports another verb."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

from krx_cli import main as krx_main
from krx_cli.commands import _common

COMMANDS = Path(_common.__file__).parent
MINE = ("daily", "backtest", "sweep", "walkforward", "oci")


def _tree(name: str) -> ast.Module:
    return ast.parse((COMMANDS / f"{name}.py").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", MINE)
def test_verb_imports_no_other_verb(name: str) -> None:
    for node in ast.walk(_tree(name)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "krx_cli.commands."):
            assert node.module == "krx_cli.commands._common", (name, node.module)


@pytest.mark.parametrize("name", [p.stem for p in COMMANDS.glob("*.py")
                                  if not p.stem.startswith("_")])
def test_shared_names_are_defined_only_in_common(name: str) -> None:
    for node in ast.walk(_tree(name)):
        if isinstance(node, ast.ClassDef):
            assert node.name != "CommandError", name
        if isinstance(node, ast.FunctionDef):
            assert node.name not in ("load_bars", "build_settings", "load_grid"), name
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            assert "EXIT_USAGE" not in targets, name


@pytest.mark.parametrize("name", MINE)
def test_data_dir_option_is_defined_only_in_common(name: str) -> None:
    source = (COMMANDS / f"{name}.py").read_text(encoding="utf-8")
    # `krx oci install-units --data-dir` is the *unit's* data dir (dest unit_data_dir)
    occurrences = source.count('"--data-dir"') - source.count('dest="unit_data_dir"')
    assert occurrences == 0, name


def _options(parser: argparse.ArgumentParser, path: str = "krx") -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for verb, sub in action.choices.items():
                out.update(_options(sub, f"{path} {verb}"))
        elif action.option_strings:
            for flag in action.option_strings:
                out.setdefault(path, {})[flag] = action.help or ""
    return out


def test_shared_options_read_the_same_everywhere() -> None:
    opts = _options(krx_main.build_parser())
    for verb in ("krx daily", "krx oci serve", "krx oci process-tickets"):
        assert opts[verb]["--data-dir"] == opts["krx daily"]["--data-dir"]
    for verb in ("krx backtest", "krx sweep", "krx walkforward"):
        for flag in ("--data", "--start", "--end", "--params", "--universe", "--report",
                     "--report-plotly"):
            assert opts[verb][flag] == opts["krx backtest"][flag], (verb, flag)
    for flag in ("--grid", "--set", "--objective", "--jobs", "--backend", "--dask",
                 "--progress"):
        assert opts["krx sweep"][flag] == opts["krx walkforward"][flag]


def test_guarded_maps_user_errors_to_exit_2_and_one_line(capsys: pytest.CaptureFixture[str]):
    def body(args: argparse.Namespace) -> int:
        raise _common.CommandError("--start 2025-13-01 is not a date")

    assert _common.guarded("backtest", body, argparse.Namespace()) == _common.EXIT_USAGE
    assert capsys.readouterr().err == "krx backtest: --start 2025-13-01 is not a date\n"

    def boom(args: argparse.Namespace) -> int:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):  # anything else is a failure, not a usage error
        _common.guarded("backtest", boom, argparse.Namespace())


def test_use_color_only_on_a_tty_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    class Pipe:
        def isatty(self) -> bool:
            return False

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert _common.use_color(Tty()) and not _common.use_color(Pipe())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not _common.use_color(Tty())
