"""The before/after table, ``lesionloop train --compare-with``, and the gate reading the table."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from core_models.checkpoints import read_spec
from core_models.model_store import list_versions, registry_dir
from tests.training.helpers import run_main
from tests.viewer.retrain_helpers import write_workspace
from training.compare import compare_models, format_table, is_worse, table_rows
from training.data.sources import collect_records
from training.registry import ActivationRefused, activate, register_model
from training.retrain import RetrainPlan, prepare_run

TINY = ["--batch", "2", "--min-area", "5", "--log-every", "1"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_workspace(tmp_path_factory.mktemp("cmp") / "case.lesionloop",
                           {0: "corrected", 1: "accepted", 2: "corrected", 4: "corrected"})


def test_rows_change_and_worse_from_two_summaries() -> None:
    before = {"dice_ggo": 0.5, "dice_consolidation": math.nan, "dice_binary": 0.6, "map": 0.1}
    after = {"dice_ggo": 0.55, "dice_consolidation": 0.2, "dice_binary": 0.58, "map": 0.1}
    rows = {r["key"]: r for r in table_rows(before, after)}
    assert rows["dice_ggo"]["change"] == pytest.approx(0.05)
    assert rows["dice_consolidation"]["before"] is None and rows["dice_consolidation"]["change"] is None
    assert rows["map"]["change"] == 0
    assert is_worse(before, after) and not is_worse(after, before) and not is_worse({}, after)
    table = {"n_slices": 3, "before": {"version": "old"}, "after": {"version": "new"}, "rows": table_rows(before, after)}
    text = format_table(table)
    assert "binary Dice" in text and "-0.020" in text and "old" in text and "new" in text


def test_the_same_model_twice_gives_no_change(tiny_model_dir: Path, workspace: Path) -> None:
    records = collect_records([workspace])
    table = compare_models(tiny_model_dir, tiny_model_dir, records, device="cpu", min_area=5)
    assert table["n_slices"] == 4 and table["validation"].startswith("sha256:")
    assert table["before"]["version"] == table["after"]["version"] == "tiny-test"
    assert [r["key"] for r in table["rows"]] == ["dice_ggo", "dice_consolidation", "dice_binary", "map"]
    for row in table["rows"]:
        assert row["before"] == row["after"] and row["change"] in (0.0, None)
    assert table["worse"] is False


def test_train_compare_with_emits_the_table_and_registers_it(tiny_model_dir: Path, workspace: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    parent = register_model(tiny_model_dir)
    plan = RetrainPlan([str(workspace)], out=str(tmp_path / "run"), base=parent, compare_with=parent, epochs=1,
                       val_fraction=0.25, device="cpu", extra_args=TINY)
    assert run_main(prepare_run(plan)) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-3:] == ["stage", "compare", "registered"] and "end" in kinds
    table, registered = events[-2], events[-1]
    assert table["before"]["version"] == parent and table["n_slices"] == 1
    version = registered["version"]
    assert registered["table"] is True and version in [v.version for v in list_versions()]
    meta = read_spec(registry_dir() / version).metadata
    assert meta.parent == parent and meta.data_hash.startswith("sha256:")
    scored = meta.metrics["compared_with"]
    assert scored["version"] == parent and scored["validation"] == table["validation"]
    assert scored["dice_binary"] == table["before"]["summary"]["dice_binary"]
    assert meta.metrics["dice_binary"] == pytest.approx(table["after"]["summary"]["dice_binary"])


def test_a_stopped_run_is_not_registered(tiny_model_dir: Path, workspace: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    plan = RetrainPlan([str(workspace)], out=str(tmp_path / "run"), base=str(tiny_model_dir),
                       compare_with=str(tiny_model_dir), epochs=1, device="cpu", extra_args=TINY)
    args = prepare_run(plan)
    (tmp_path / "run" / "stop").touch()
    assert run_main(args) == 0
    captured = capsys.readouterr()
    kinds = [json.loads(line)["event"] for line in captured.out.splitlines()]
    assert kinds == ["start", "end"] and "not registered" in captured.err
    assert [v.version for v in list_versions() if not v.bundled] == []


@pytest.mark.parametrize("extra, message", [
    (["--compare-with", "no-such-version"], "no model at"),
    (["--compare-with", "bundled"], None),  # checked below without validation data
])
def test_compare_with_errors_come_before_training(workspace: Path, tmp_path: Path, extra: list[str],
                                                  message: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["train", "--data", str(workspace), "--out", str(out), "--device", "cpu", *extra]
    if message is None:
        message = "needs validation data"
    assert run_main(args) == 2
    assert message in capsys.readouterr().err
    assert not (out / "state.pt").exists()


def test_the_gate_uses_the_parents_figures_on_the_same_slices(tiny_model_dir: Path) -> None:
    parent = register_model(tiny_model_dir, metrics={"dice_binary": 0.9, "validation": "sha256:parent-own"})
    worse = register_model(tiny_model_dir, parent=parent, metrics={
        "dice_binary": 0.40, "validation": "sha256:v", "compared_with": {"version": parent, "dice_binary": 0.55}})
    better = register_model(tiny_model_dir, parent=parent, metrics={
        "dice_binary": 0.60, "validation": "sha256:v", "compared_with": {"version": parent, "dice_binary": 0.55}})
    with pytest.raises(ActivationRefused) as refused:
        activate(worse)
    assert refused.value.parent_value == pytest.approx(0.55) and refused.value.value == pytest.approx(0.40)
    activate(better)  # above the parent on the same slices, though below the parent's own figure (0.9)
    assert activate(worse, force=True) == better
