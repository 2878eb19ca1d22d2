"""``python -m training.recipe``: the plan's exact commands, skip / resume, the window stage, a quick end-to-end run."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from core_models.atomic import atomic_write_json
from core_models.checkpoints import read_spec, read_weights
from core_models.errors import InputError
from core_models.model_spec import ModelMetadata, ModelSpec
from tests.training.classifier_helpers import save_tiny_model
from training.data.locate import find_medseg
from training.recipe import (BUILDER_ARGS, STAGE_NAMES, StageFailed, main, parse_args, plan, planned_config, resolve,
                             run_stage, select)
from training.recipe_stages import run_status, same_folder, window_done

REPO = Path(__file__).resolve().parents[2]


def _args(tmp_path: Path, *extra: str):
    return resolve(parse_args(["--out", str(tmp_path / "out"), "--data", str(tmp_path / "medseg"), *extra]))


def _stage(stages, name: str):
    return next(s for s in stages if s.name == name)


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_the_default_plan_has_the_stages_in_order_and_the_exact_train_arguments(tmp_path: Path) -> None:
    args = _args(tmp_path)
    stages = plan(args)
    out, data = args.out, args.data
    assert [s.name for s in stages] == [n for n in STAGE_NAMES if n != "install"]
    scratch, mixed = _stage(stages, "scratch"), _stage(stages, "mixed")
    assert scratch.command[:4] == (sys.executable, "-m", "training", "train")
    assert list(scratch.command[4:]) == [
        "--data", data, "--val", "medseg-split", "--out", str(out / "stage1_scratch"), "--semantic-head",
        "--builder-args", BUILDER_ARGS, "--epochs", "50", "--min-area", "30", "--seed", "0", "--device", "auto",
        "--log-every", "10", "--version", "recipe-scratch"]
    assert json.loads(BUILDER_ARGS) == {"anchor_sizes": [8, 16, 32, 64, 128], "anchor_ratios": [0.5, 1, 2],
                                        "rpn_post_nms_top_n_test": 300, "rpn_pre_nms_top_n_train": 1000,
                                        "rpn_post_nms_top_n_train": 600, "semantic_skips": True}
    assert list(mixed.command[4:]) == [
        "--data", data, str(out / "phantoms_seg"), "--val", "medseg-split", "--init", str(out / "stage1_init"),
        "--out", str(out / "stage2_mixed"), "--epochs", "16", "--lr", "3e-4", "--min-area", "30", "--seed", "0",
        "--device", "auto", "--log-every", "10", "--version", "recipe-mixed"]
    # the real `train` parser reads them as meant
    first, second = planned_config(scratch), planned_config(mixed)
    assert first.semantic_head and first.builder_args["semantic_skips"] is True and first.epochs == 50
    assert first.learning_rate == 1e-3 and first.image_size is None and first.val == ["medseg-split"]
    assert second.init == str(out / "stage1_init") and second.learning_rate == 3e-4 and second.epochs == 16
    assert second.data == [data, str(out / "phantoms_seg")] and second.min_area == 30
    assert list(mixed.resume_command[4:]) == ["--out", str(out / "stage2_mixed"), "--resume", "--device", "auto"]
    classifier = _stage(stages, "classifier").command
    assert classifier[1:3] == ("-m", "training.bundle_classifier") and "--min-accuracy" not in classifier
    assert out in Path(classifier[classifier.index("--backup") + 1]).parents
    assert classifier[classifier.index("--model") + 1] == str(out / "bundled")
    assert "12, 201, PhantomConfig(size=384, slices=6, kind='mixed')" in _stage(stages, "phantoms").call
    assert "checkpoint='last'" in _stage(stages, "export").call
    assert not out.exists()  # planning reads and writes nothing


def test_quick_and_install_settings(tmp_path: Path) -> None:
    args = _args(tmp_path, "--quick", "--install", "--target", str(tmp_path / "x"), "--device", "cpu")
    stages = plan(args)
    assert [s.name for s in stages] == list(STAGE_NAMES)
    for name in ("scratch", "mixed"):
        config = planned_config(_stage(stages, name))
        assert config.epochs == 1 and config.image_size == 128 and config.device == "cpu"
    classifier = " ".join(_stage(stages, "classifier").command)
    assert "--cases 3 3 3 --slices 2 --size 128 --epochs 1 --min-accuracy 0" in classifier
    assert "--device cpu" in classifier
    assert "3, 201, PhantomConfig(size=128, slices=2, kind='mixed')" in _stage(stages, "phantoms").call
    assert _stage(stages, "install").out == tmp_path / "x"


def test_from_stage_and_only_choose_stages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _args(tmp_path, "--from-stage", "mixed")
    assert [s.name for s in select(plan(args), args)] == ["mixed", "export", "classifier"]
    args = _args(tmp_path, "--only", "export", "window")
    assert [s.name for s in select(plan(args), args)] == ["window", "export"]
    args = _args(tmp_path, "--only", "install")
    with pytest.raises(InputError, match="only with --install"):
        select(plan(args), args)
    assert main(["--out", str(tmp_path / "o"), "--data", str(tmp_path), "--only", "install"]) == 1
    assert capsys.readouterr().err.strip() == "training.recipe: stage install runs only with --install"


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dry-run", "--out", str(tmp_path / "out"), "--data", str(tmp_path / "medseg")]) == 0
    text = capsys.readouterr().out
    assert [line.split(" [")[0] for line in text.splitlines() if not line.startswith(" ")] == \
        [n for n in STAGE_NAMES if n != "install"]
    assert "scratch [start]" in text and "python -m training train --data" in text and "--epochs 50" in text
    assert not (tmp_path / "out").exists()


def _fake_run(run: Path, config, epochs_done: int, *, best: bool = True, state: bool = True,
              last_epoch: int | None = None) -> None:
    """A run folder as `training train` leaves it after ``epochs_done`` epochs (no weights: not read)."""
    atomic_write_json(run / "config.json", {"config": config.to_json()})
    rows = [{"kind": "epoch", "epoch": e, "step": 2 * e} for e in range(1, epochs_done + 1)]
    (run / "curves.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    metrics = {"epoch": epochs_done if last_epoch is None else last_epoch}
    spec = ModelSpec(builder="maskrcnn_light", metadata=ModelMetadata(version="recipe-scratch", metrics=metrics))
    atomic_write_json(run / "last" / "spec.json", spec.to_json())
    if best:
        atomic_write_json(run / "best" / "spec.json", spec.to_json())
    if state:
        (run / "state.pt").write_bytes(b"state")


@pytest.mark.parametrize(("epochs_done", "kwargs", "expected"), [
    (50, {}, "done"),
    (20, {}, "resume"),
    (20, {"state": False}, "start"),  # crashed before its first save: nothing to resume
    (50, {"best": False}, "resume"),  # a validated run always has best/
    (49, {"last_epoch": 49}, "resume"),  # stopped during the last epoch
    (50, {"last_epoch": 49}, "resume"),  # last/ not saved after the last epoch
])
def test_run_status_tells_finished_half_finished_and_fresh_runs(tmp_path: Path, epochs_done: int, kwargs: dict,
                                                                  expected: str) -> None:
    stage = _stage(plan(_args(tmp_path)), "scratch")
    config = planned_config(stage)
    assert run_status(stage.out, config) == "start"
    _fake_run(stage.out, config, epochs_done, **kwargs)
    assert run_status(stage.out, config) == expected


def test_a_run_with_other_settings_is_an_error_but_another_device_is_not(tmp_path: Path) -> None:
    stage = _stage(plan(_args(tmp_path)), "scratch")
    config = planned_config(stage)
    config.device = "cuda"
    _fake_run(stage.out, config, 50)
    assert run_status(stage.out, planned_config(stage)) == "done"
    config.epochs = 1
    _fake_run(stage.out, config, 1)
    with pytest.raises(InputError, match="other settings \\(epochs 1, the recipe's 50\\)"):
        run_status(stage.out, planned_config(stage))


def test_a_done_stage_is_skipped_and_a_half_finished_one_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    stages = plan(_args(tmp_path))
    scratch, mixed = _stage(stages, "scratch"), _stage(stages, "mixed")
    _fake_run(scratch.out, planned_config(scratch), 50)
    _fake_run(mixed.out, planned_config(mixed), 5)
    ran: list[list[str]] = []

    def child(command, name):  # stands in for the training process: finishes the run
        ran.append(list(command))
        _fake_run(mixed.out, planned_config(mixed), 16)

    monkeypatch.setattr("training.recipe.run_child", child)
    run_stage(scratch)
    run_stage(mixed)
    assert ran == [list(mixed.resume_command)]
    out = capsys.readouterr().out
    assert "stage scratch: done, skipped" in out and "stage mixed: fine-tune on MedSeg + phantoms (resuming)" in out
    _fake_run(mixed.out, planned_config(mixed), 5)
    monkeypatch.setattr("training.recipe.run_child", lambda command, name: None)  # exits 0 but did not finish
    with pytest.raises(StageFailed, match="stage mixed stopped before it finished"):
        run_stage(mixed)


def test_the_window_stage_sets_the_window_in_a_copy_and_leaves_the_source(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    stage = _stage(plan(_args(tmp_path)), "window")
    source = save_tiny_model(tmp_path / "out" / "stage1_scratch" / "best")
    before = _digests(source)
    run_stage(stage)
    spec = read_spec(stage.out)
    assert (spec.preprocessing.window_level, spec.preprocessing.window_width) == (-350.0, 1500.0)
    assert read_spec(source).preprocessing.window_level == -600.0 and _digests(source) == before
    assert (stage.out / "weights.safetensors").read_bytes() == (source / "weights.safetensors").read_bytes()
    assert "HU window set to L -350 / W 1500" in spec.metadata.notes
    run_stage(stage)
    assert "stage window: done, skipped" in capsys.readouterr().out
    save_tiny_model(source, seed=1)  # stage 1 was trained again: the copy is stale
    assert not window_done(source, stage.out)
    run_stage(stage)
    assert window_done(source, stage.out) and not list(stage.out.parent.glob(".stage1_init*"))


def test_find_medseg_uses_the_given_folder_or_the_shared_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "data" / "medseg_covid_slices" / "train"
    (shared / "images").mkdir(parents=True)
    (shared / "masks").mkdir()
    monkeypatch.setenv("LESIONLOOP_DATA", str(tmp_path / "data"))
    assert find_medseg() == shared and find_medseg(str(shared)) == shared
    with pytest.raises(InputError, match="is not a MedSeg folder"):  # never silently replaced by the shared copy
        find_medseg(tmp_path / "empty")


def _medseg_subset(shared_data: Path, folder: Path, count: int = 6) -> Path:
    source = shared_data / "medseg_covid_slices" / "train"
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True)
    for image in sorted((source / "images").iterdir(), key=lambda p: int(p.stem))[:count]:
        (folder / "images" / image.name).symlink_to(image)
        (folder / "masks" / f"{image.stem}.png").symlink_to(source / "masks" / f"{image.stem}.png")
    return folder


@pytest.mark.slow
@pytest.mark.realdata
def test_quick_recipe_end_to_end_installs_and_a_second_run_skips_everything(shared_data: Path, tmp_path: Path) -> None:
    medseg, out, target = _medseg_subset(shared_data, tmp_path / "medseg"), tmp_path / "out", tmp_path / "x"
    old = save_tiny_model(target)  # an installed model to be replaced (and kept)
    old_digests = _digests(old)
    cmd = [sys.executable, "-m", "training.recipe", "--quick", "--out", str(out), "--data", str(medseg),
           "--device", "cpu", "--install", "--target", str(target)]
    start = time.perf_counter()
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=900)
    print(f"quick recipe: {time.perf_counter() - start:.0f} s")
    assert first.returncode == 0, first.stderr[-3000:]
    spec = read_spec(out / "bundled")
    assert spec.classifier is not None and spec.classifier["trained_on"] == "phantom"
    assert 0.0 <= spec.metadata.metrics["classifier"]["test"]["accuracy"] <= 1.0
    assert spec.preprocessing.window_level == -350.0 and spec.metadata.version == "bundled"
    floats = [v for v in read_weights(out / "bundled")[0].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    assert "## Recipe" in (out / "bundled" / "TRAINING.md").read_text()
    assert same_folder(out / "bundled", target)
    backups = list((out / "previous_bundled").iterdir())
    assert len(backups) == 1 and _digests(backups[0]) == old_digests
    assert "classifier S held-out (phantom) accuracy" in first.stdout.splitlines()[-1]
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert [line for line in second.stdout.splitlines() if line.startswith("stage ")] == \
        [f"stage {name}: done, skipped" for name in STAGE_NAMES]


@pytest.mark.slow
def test_a_failing_child_stops_the_recipe_with_one_line_and_exit_1(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run([sys.executable, "-m", "training.recipe", "--quick", "--out", str(tmp_path / "out"),
                             "--data", str(empty), "--device", "cpu"], capture_output=True, text=True, cwd=REPO,
                            timeout=300)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "no training data layout recognised" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("training.recipe: stage scratch failed (exit 2)")
    assert "stage phantoms" not in result.stdout
