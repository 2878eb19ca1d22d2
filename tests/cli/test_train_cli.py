"""``lesionloop train`` (via ``python -m training``): JSON progress, stop file and resume, errors, --init."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core_models.checkpoints import load_model
from tests.training.helpers import run_main, tiny_cli_args, write_medseg, write_phantom
from training.__main__ import main

REPO = Path(__file__).resolve().parents[2]



@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli_data")
    return write_phantom(root / "train", cases=1, slices=3, seed=5), write_phantom(root / "val", slices=1, seed=6)


def test_progress_json_prints_one_parsable_object_per_event(data: tuple[Path, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main([*tiny_cli_args(out, [data[0]]), "--val", str(data[1]), "--progress-json"]) == 0
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    start = events[0]
    assert start["total_steps"] == 4 and start["val_slices"] == 1
    assert kinds.count("step") == 4 and kinds.count("epoch_end") == 2
    step = next(e for e in events if e["event"] == "step")
    assert step["losses"]["loss"] > 0 and step["epoch"] == 1
    end = events[-1]
    assert end["stopped"] is False and end["global_step"] == 4 and end["best_dir"] == str(out / "best")
    assert "training finished" in captured.err  # the summary goes to stderr in JSON mode
    assert (out / "best" / "spec.json").is_file() and (out / "curves.jsonl").is_file()


def test_stop_file_then_resume(data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, stop = tmp_path / "run", tmp_path / "stop"
    stop.touch()
    assert main([*tiny_cli_args(out, [data[0]]), "--stop-file", str(stop)]) == 0
    captured = capsys.readouterr().out
    assert "training stopped after 0 epoch(s), 0 steps" in captured and "--resume" in captured
    assert (out / "state.pt").is_file() and (out / "last" / "spec.json").is_file()
    stop.unlink()
    assert main(["train", "--out", str(out), "--resume", "--device", "cpu"]) == 0
    assert "training finished after 2 epoch(s), 4 steps" in capsys.readouterr().out
    spec = load_model(out / "last")[1]
    assert spec.metadata.metrics["epoch"] == 2


@pytest.mark.parametrize("extra, message", [
    (["--val", "medseg-split"], "needs MedSeg"),
    (["--epochs", "0"], "epochs must be"),
    (["--builder-args", "{nope"], "not valid JSON"),
    (["--init", "no-such-model"], "no model at"),
    (["--best-metric", "speed"], "invalid choice"),
])
def test_bad_arguments_give_one_line_errors(data: tuple[Path, Path], tmp_path: Path, extra: list[str],
                                            message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main([*tiny_cli_args(tmp_path / "run", [data[0]]), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(["train", "--data", "x"]) == 2  # no --out
    assert "--out" in capsys.readouterr().err
    assert run_main(["train", "--out", "x", "--data"]) == 2  # --data without a path
    assert "expected at least one argument" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    ([], "no training data"),
    (["--resume"], "nothing to resume"),
    (["--resume", "--epochs", "3"], "drop --epochs"),
])
def test_missing_data_and_resume_errors(tmp_path: Path, argv: list[str], message: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--out", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("lesionloop train: error:")


def test_unknown_layout_is_a_one_line_error_and_a_json_error_event(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hello")
    assert main(["train", "--data", str(tmp_path / "junk"), "--out", str(tmp_path / "r")]) == 2
    assert "no training data layout recognised" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "junk"), "--out", str(tmp_path / "r"), "--progress-json"]) == 2
    event = json.loads(capsys.readouterr().out)
    assert event["event"] == "error" and "no training data layout" in event["message"]


def test_python_m_training_fine_tunes_and_registers(tmp_path: Path, tiny_model_dir: Path) -> None:
    medseg = write_medseg(tmp_path / "medseg", [0, 1, 2, 3, 4, 5])
    out = tmp_path / "ft"
    args = [sys.executable, "-m", "training", "train", "--data", str(medseg), "--val", "medseg-split", "--out",
            str(out), "--init", str(tiny_model_dir), "--epochs", "1", "--batch", "2", "--min-area", "5",
            "--device", "cpu", "--register"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(args, capture_output=True, text=True, timeout=180, cwd=REPO, env=env)
    assert res.returncode == 0, res.stderr
    assert "registered" in res.stdout and "model version" in res.stdout
    spec = load_model(out / "best")[1]
    assert spec.metadata.parent == "tiny-test" and spec.builder_args["truncation"] == 2
    assert spec.preprocessing.input_kind == "hu"  # the parent's preprocessing wins
    registry = Path(os.environ["LESIONLOOP_HOME"]) / "models"
    versions = [p for p in registry.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(versions) == 1 and (versions[0] / "weights.safetensors").is_file()
