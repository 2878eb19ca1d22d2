"""``lesionloop train-classifier``: JSON progress, stop file and resume, registering, one-line errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core_models.checkpoints import load_model
from tests.training.classifier_helpers import save_tiny_model, write_class_phantoms
from tests.training.helpers import run_main, write_medseg
from training.__main__ import main


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], list[Path]]:
    root = tmp_path_factory.mktemp("cls_cli")
    model = save_tiny_model(root / "model")
    return model, write_class_phantoms(root / "train", slices=1, seed=1), write_class_phantoms(root / "val", slices=1,
                                                                                                seed=2)


def _args(setup: tuple[Path, list[Path], list[Path]], out: Path, *extra: str) -> list[str]:
    model, train, _ = setup
    return ["train-classifier", "--init", str(model), "--data", *map(str, train), "--out", str(out), "--epochs", "2",
            "--roi-batch", "16", "--s-features", "32", "--device", "cpu", "--s-only", *extra]


def test_progress_json_events_carry_the_classification_figures(setup, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main([*_args(setup, out), "--val", *map(str, setup[2]), "--progress-json"]) == 0
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("step") == 6 and kinds.count("epoch_end") == 2
    assert events[0]["train_class_counts"] == [1, 1, 1] and events[0]["trained_on"] == "phantom"
    metrics = next(e for e in events if e["event"] == "epoch_end")["metrics"]
    assert len(metrics["confusion_matrix"]) == 3 and 0.0 <= metrics["accuracy"] <= 1.0
    assert "sensitivity_covid19" in metrics
    assert "classifier training finished after 2 epoch(s), 6 steps" in captured.err
    assert "confusion matrix" in captured.err
    spec = load_model(out / "best")[1]
    assert spec.classifier["trained_on"] == "phantom" and spec.metadata.command.startswith("lesionloop ")


def test_stop_file_then_resume_and_register(setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, stop = tmp_path / "run", tmp_path / "stop"
    stop.touch()
    assert main([*_args(setup, out), "--stop-file", str(stop)]) == 0
    text = capsys.readouterr().out
    assert "stopped after 0 epoch(s), 0 steps" in text and "train-classifier --out" in text and "--resume" in text
    stop.unlink()
    assert main(["train-classifier", "--out", str(out), "--resume", "--device", "cpu", "--register"]) == 0
    text = capsys.readouterr().out
    assert "finished after 2 epoch(s), 6 steps" in text and "registered" in text
    assert main(["models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert any(str(v.get("name", v.get("version", ""))).startswith("v0001") for v in
               (listed if isinstance(listed, list) else listed.get("versions", [])))


@pytest.mark.parametrize("extra, message", [
    ([], "--init"),
    (["--init", "no/such/model"], "no model at"),
    (["--init", "MODEL", "--epochs", "0"], "epochs must be"),
    (["--init", "MODEL", "--data", "MEDSEG"], "no image class"),
])
def test_bad_input_is_one_line_with_status_2(setup, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             extra: list[str], message: str) -> None:
    medseg = write_medseg(tmp_path / "medseg", [1])
    extra = [str(setup[0]) if a == "MODEL" else str(medseg) if a == "MEDSEG" else a for a in extra]
    args = ["train-classifier", "--out", str(tmp_path / "o"), "--device", "cpu"]
    if "--data" not in extra:
        args += ["--data", str(setup[1][0])]
    assert run_main([*args, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err


def test_resume_refuses_new_settings(setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(["train-classifier", "--out", str(tmp_path), "--resume", "--epochs", "3"]) == 2
    assert "drop --epochs" in capsys.readouterr().err
    assert run_main(["train-classifier", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_help_lists_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(["--help"]) == 0
    assert "train-classifier" in capsys.readouterr().out
