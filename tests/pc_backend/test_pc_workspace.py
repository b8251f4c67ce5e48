"""The workspace on disk: pulls rebase local edits, conflicts persist until picked, a repeated
pull keeps undecided conflicts, the token is 0600, one backend per workspace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contracts.pc import ConflictChoice
from contracts.portfolio import Portfolio
from contracts.settings import Settings, StrategyParams
from contracts.sync import SyncSnapshot
from pc_backend.workspace import UnknownConflict, Workspace, WorkspaceBusy


def _snap(revision: int, **strategy: object) -> bytes:
    settings = Settings(strategy=StrategyParams(**strategy), revision=revision)  # type: ignore[arg-type]
    return SyncSnapshot(revision=revision, portfolio=Portfolio(cash=1e7, revision=revision),
                        settings=settings).model_dump_json().encode()


def _edit(ws: Workspace, **strategy: object) -> None:
    doc = ws.working_doc("settings")
    doc["strategy"].update(strategy)
    ws.put_working("settings", Settings.model_validate(doc))


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace(tmp_path / "ws")
    w.open()
    yield w
    w.close()


def test_workspace_token_is_private_and_stable(tmp_path: Path) -> None:
    w = Workspace(tmp_path / "ws")
    token = w.open()
    assert len(token) >= 32 and (tmp_path / "ws" / "pc_token").stat().st_mode & 0o777 == 0o600
    with pytest.raises(WorkspaceBusy):
        Workspace(tmp_path / "ws").open()
    w.close()
    w2 = Workspace(tmp_path / "ws")
    assert w2.open() == token
    w2.close()


def test_workspace_edit_equal_to_the_base_is_no_edit(ws: Workspace) -> None:
    ws.store_pull(_snap(3), "http://oci")
    _edit(ws, rsi_period=35)
    assert ws.is_edited("settings") and [c.path for c in ws.diff().changes] == [
        "strategy.rsi_period"]
    _edit(ws, rsi_period=40)
    assert not ws.is_edited("settings") and ws.diff().changes == []


def test_workspace_pull_rebases_and_keeps_undecided_conflicts(ws: Workspace) -> None:
    ws.store_pull(_snap(3), "http://oci")
    _edit(ws, rsi_period=35, adx_period=20)
    # OCI changed rsi_period too (conflict) and stop_loss_pct (taken)
    _, rebased, conflicts = ws.store_pull(_snap(4, rsi_period=45, stop_loss_pct=0.1), "u")
    assert rebased and [(c.path, c.base, c.mine, c.theirs) for c in conflicts] == [
        ("strategy.rsi_period", 40, 35, 45)]
    work = ws.working_doc("settings")["strategy"]
    assert (work["rsi_period"], work["adx_period"], work["stop_loss_pct"]) == (35, 20, 0.1)
    assert ws.working_doc("settings")["revision"] == 4
    # a later pull where OCI moved rsi_period again: still one conflict, theirs updated
    _, _, conflicts = ws.store_pull(_snap(5, rsi_period=50, stop_loss_pct=0.1), "u")
    assert [(c.path, c.mine, c.theirs) for c in conflicts] == [("strategy.rsi_period", 35, 50)]
    # a later pull where OCI did not touch it: the undecided conflict stays
    _, _, conflicts = ws.store_pull(_snap(6, rsi_period=50, stop_loss_pct=0.1,
                                          max_positions=4), "u")
    assert [(c.path, c.theirs) for c in ws.conflicts()] == [("strategy.rsi_period", 50)]
    assert ws.working_doc("settings")["strategy"]["max_positions"] == 4
    before = {p: p.read_bytes() for p in ws.root.rglob("*.json")}
    with pytest.raises(UnknownConflict):
        ws.resolve([ConflictChoice(artifact="settings", path="strategy.rsi_period", pick="mine"),
                    ConflictChoice(artifact="settings", path="strategy.nope", pick="mine")])
    assert {p: p.read_bytes() for p in ws.root.rglob("*.json")} == before
    diff = ws.resolve([ConflictChoice(artifact="settings", path="strategy.rsi_period",
                                      pick="theirs")])
    assert diff.conflicts == [] and [c.path for c in diff.changes] == ["strategy.adx_period"]
    assert not ws.conflicts_path.exists()


def test_workspace_pick_mine_keeps_my_value_and_discard_clears_all(ws: Workspace) -> None:
    ws.store_pull(_snap(3), "u")
    _edit(ws, rsi_period=35)
    ws.store_pull(_snap(4, rsi_period=45), "u")
    diff = ws.resolve([ConflictChoice(artifact="settings", path="strategy.rsi_period",
                                      pick="mine")])
    assert [(c.path, c.base, c.mine) for c in diff.changes] == [("strategy.rsi_period", 45, 35)]
    ws.discard_edits()
    assert ws.diff().changes == [] and ws.conflicts() == []
    assert sorted(os.listdir(ws.root / "working")) == []
