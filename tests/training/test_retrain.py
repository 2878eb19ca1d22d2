"""Retraining from corrections (training side): summaries, held-out split, data snapshot, command."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core_models.errors import InputError
from core_models.io import read_labels
from tests.viewer.retrain_helpers import folder_bytes, write_workspace
from training.data.sources import collect_records
from training.retrain import (RetrainPlan, hold_out, prepare_run, summarize_workspace, train_args,
                              training_slices)

STATUSES = {0: "accepted", 1: "corrected", 2: "flagged", 3: "corrected", 5: "corrected"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_workspace(tmp_path_factory.mktemp("ws") / "caseA.lesionloop", STATUSES)


def test_summary_counts_statuses_and_class_pixels_of_training_slices_only(workspace: Path) -> None:
    summary = summarize_workspace(workspace)
    assert summary.problem is None
    assert summary.statuses == {"accepted": 1, "corrected": 3, "flagged": 1}
    assert summary.training_slices == 4
    labels = read_labels(workspace / "labels.nii.gz").array[[0, 1, 3, 5]]
    assert summary.pixels == {"ggo": int((labels == 1).sum()), "consolidation": int((labels == 2).sum())}
    assert summary.slices_with["ggo"] == int(((labels == 1).reshape(4, -1).sum(1) > 0).sum())
    assert summary.pixels["ggo"] > 0


def test_a_broken_workspace_is_summarised_with_its_problem(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "review.json").write_text("{not json")
    assert "not readable JSON" in summarize_workspace(folder).problem
    ws = write_workspace(tmp_path / "ws", {9: "corrected"})  # the phantom has 6 slices
    assert "slice 9" in summarize_workspace(ws).problem


def test_hold_out_is_seeded_disjoint_and_keeps_one_on_each_side(workspace: Path) -> None:
    slices = training_slices([workspace])
    assert [z for _, z in slices] == [0, 1, 3, 5]
    train, val = hold_out(slices, 0.25, seed=0)
    assert len(val) == 1 and len(train) == 3 and set(train) | set(val) == set(slices)
    assert hold_out(slices, 0.25, seed=0) == (train, val)
    assert {hold_out(slices, 0.5, seed=s)[1][0] for s in range(12)} != {val[0]}  # the seed matters
    assert len(hold_out(slices, 0.99, seed=0)[0]) == 1
    with pytest.raises(InputError, match="at least 2"):
        hold_out(slices[:1], 0.2, seed=0)


def test_prepare_run_freezes_the_corrections_and_builds_the_train_command(workspace: Path, tmp_path: Path) -> None:
    before = folder_bytes(workspace)
    plan = RetrainPlan([str(workspace)], out=str(tmp_path / "run"), base="v0001-x", compare_with="v0001-x",
                       epochs=3, lr=2e-4, val_fraction=0.25, device="cpu", seed=1, extra_args=["--batch", "2"])
    args = prepare_run(plan)
    assert folder_bytes(workspace) == before  # nothing written into the source workspace
    data = tmp_path / "run" / "data"
    train_ws, val_ws = data / "train" / workspace.name, data / "val" / workspace.name
    assert args[:2] == ["train", "--data"] and args[2] == str(train_ws)
    assert args[args.index("--val") + 1] == str(val_ws)
    for flag, value in (("--init", "v0001-x"), ("--compare-with", "v0001-x"), ("--epochs", "3"), ("--lr", "0.0002"),
                        ("--stop-file", str(tmp_path / "run" / "stop")), ("--device", "cpu"), ("--seed", "1"),
                        ("--batch", "2")):
        assert args[args.index(flag) + 1] == value
    assert "--register" in args and "--progress-json" in args
    train_ids = [r.sample_id for r in collect_records([train_ws])]
    val_ids = [r.sample_id for r in collect_records([val_ws])]
    assert len(train_ids) == 3 and len(val_ids) == 1 and not set(train_ids) & set(val_ids)
    assert all(i.startswith(f"{workspace.name}/z=") for i in train_ids + val_ids)
    assert (train_ws / "labels.nii.gz").read_bytes() == (workspace / "labels.nii.gz").read_bytes()
    review = json.loads((train_ws / "review.json").read_text())
    assert Path(review["ct"]).is_absolute() and set(review["slices"].values()) <= {"accepted", "corrected"}


def test_a_validation_folder_replaces_the_held_out_part(workspace: Path, tmp_path: Path) -> None:
    val = write_workspace(tmp_path / "val.lesionloop", {2: "corrected"}, seed=4)
    plan = RetrainPlan([str(workspace)], out=str(tmp_path / "run"), val_paths=[str(val)])
    args = prepare_run(plan)
    assert args[args.index("--val") + 1] == str(val) and "--init" not in args and "--lr" not in args
    assert len(collect_records([args[2]])) == 4


@pytest.mark.parametrize("change, message", [
    ({"workspaces": []}, "no workspace chosen"),
    ({"epochs": 0}, "epochs must be"),
    ({"lr": 0.0}, "learning rate"),
    ({"val_fraction": 1.0}, "held-out share"),
    ({"val_paths": ["/no/such/folder"]}, "does not exist"),
    ({"extra_data": ["/no/such/folder"]}, "training data folder"),
])
def test_bad_settings_are_one_line_errors(workspace: Path, tmp_path: Path, change: dict, message: str) -> None:
    fields = {"workspaces": [str(workspace)], "out": str(tmp_path / "run"), **change}
    with pytest.raises(InputError, match=message):
        prepare_run(RetrainPlan(**fields))
    assert not (tmp_path / "run").exists()


def test_no_corrections_yet_and_a_used_run_folder_are_refused(tmp_path: Path, workspace: Path) -> None:
    empty = write_workspace(tmp_path / "new.lesionloop", {1: "flagged"})
    with pytest.raises(InputError, match="no corrections yet"):
        prepare_run(RetrainPlan([str(empty)], out=str(tmp_path / "r1")))
    (tmp_path / "r2").mkdir()
    (tmp_path / "r2" / "state.pt").write_bytes(b"x")
    with pytest.raises(InputError, match="not empty"):
        prepare_run(RetrainPlan([str(workspace)], out=str(tmp_path / "r2")))


def test_two_sources_with_one_name_get_distinct_snapshots(tmp_path: Path) -> None:
    a = write_workspace(tmp_path / "a" / "case.lesionloop", {0: "corrected", 1: "corrected"}, seed=2)
    b = write_workspace(tmp_path / "b" / "case.lesionloop", {2: "accepted", 3: "corrected"}, seed=3)
    args = prepare_run(RetrainPlan([str(a), str(b)], out=str(tmp_path / "run"), val_fraction=0.25))
    names = sorted(p.name for p in (tmp_path / "run" / "data" / "train").iterdir())
    assert names == ["case.lesionloop", "case.lesionloop-2"]
    assert len(collect_records(args[2:args.index("--val")])) + 1 == 4
    assert np.array_equal(read_labels(tmp_path / "run/data/train/case.lesionloop-2/labels.nii.gz").array,
                          read_labels(b / "labels.nii.gz").array)


def test_extra_data_trains_beside_the_corrections(workspace: Path, tmp_path: Path) -> None:
    original = write_workspace(tmp_path / "original.lesionloop", {0: "corrected", 4: "accepted"}, seed=5)
    val = write_workspace(tmp_path / "val.lesionloop", {2: "corrected"}, seed=4)
    plan = RetrainPlan([str(workspace)], out=str(tmp_path / "run"), val_paths=[str(val)], extra_data=[str(original)])
    args = prepare_run(plan)
    data = args[args.index("--data") + 1:args.index("--val")]
    assert data[-1] == str(original.absolute()) and len(data) == 2  # one --data list: argparse keeps only the last
    assert len(collect_records(data)) == 4 + 2  # the corrections' 4 training slices and the original's 2


def test_train_args_without_a_table_or_base(tmp_path: Path) -> None:
    plan = RetrainPlan(["w"], out=str(tmp_path / "run"), epochs=2)
    args = train_args(plan, [tmp_path / "t"], [tmp_path / "v"])
    assert "--compare-with" not in args and "--init" not in args and args[args.index("--epochs") + 1] == "2"


def test_classifier_args_and_their_checks(tmp_path: Path, workspace: Path) -> None:
    from training.retrain import ClassifierPlan, classifier_args

    plan = ClassifierPlan(data=[str(workspace)], init="v0001-x", out=str(tmp_path / "s"), epochs=2, lr=5e-4,
                          val_paths=[str(workspace)], device="cpu", extra_args=["--roi-batch", "16"])
    args = classifier_args(plan)
    assert args[:3] == ["train-classifier", "--init", "v0001-x"] and "--s-only" in args and "--register" in args
    for flag, value in (("--data", str(workspace)), ("--val", str(workspace)), ("--epochs", "2"), ("--lr", "0.0005"),
                        ("--stop-file", str(tmp_path / "s" / "stop")), ("--roi-batch", "16")):
        assert args[args.index(flag) + 1] == value
    plan.s_only, plan.out = False, ""
    args = classifier_args(plan)
    assert "--s-only" not in args and "classifier-" in Path(plan.out).name
    for change, message in (({"data": []}, "no classification data"), ({"init": ""}, "no segmentation model"),
                            ({"epochs": 0}, "epochs must be"), ({"data": ["/no/such"]}, "does not exist")):
        with pytest.raises(InputError, match=message):
            classifier_args(ClassifierPlan(**{"data": [str(workspace)], "init": "m", **change}))


@pytest.mark.parametrize("epochs, lr, message", [(0, None, "epochs"), (2.5, None, "epochs"), (10_001, 1e-4, "epochs"),
                                                 (3, 0.0, "learning rate"), (3, float("nan"), "learning rate"),
                                                 (3, 2.0, "learning rate")])
def test_both_plans_refuse_bad_epochs_and_learning_rates(tmp_path: Path, epochs, lr, message) -> None:
    from training.retrain import ClassifierPlan, classifier_args

    with pytest.raises(InputError, match=message):
        RetrainPlan([str(tmp_path)], out=str(tmp_path / "run"), epochs=epochs, lr=lr).check()
    with pytest.raises(InputError, match=message):
        classifier_args(ClassifierPlan(data=[str(tmp_path)], init="bundled", out=str(tmp_path / "s"), epochs=epochs,
                                       lr=lr))
