"""``lesionloop evaluate``: JSON and table output, the medseg split on real data, errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.helpers import run_main, write_medseg, write_phantom
from training.__main__ import main



@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_phantom(tmp_path_factory.mktemp("eval") / "ph", cases=1, slices=2, seed=9)


def test_json_holds_the_metric_set(phantom: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--model", str(tiny_model_dir), "--data", str(phantom), "--json", "--device", "cpu",
                 "--min-area", "5"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_slices"] == 2 and report["model_version"] == "tiny-test"
    for name in ("ggo", "consolidation", "binary"):
        means = report["overlap"]["slice_mean"][name]
        assert set(means) >= {"dice", "iou", "sensitivity", "specificity", "precision", "n_slices"}
        assert set(report["hd95"][name]) == {"hd95_mm", "n_slices", "missed"}
    assert {"map", "ap50", "ap75"} <= set(report["ap"])
    summary = report["summary"]
    assert {"dice_ggo", "dice_consolidation", "dice_binary", "map", "ap50", "hd95_binary"} <= set(summary)
    assert all(v is None or 0.0 <= v for v in summary.values())


def test_table_output(phantom: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--model", str(tiny_model_dir), "--data", str(phantom), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("model tiny-test") and "on 2 slices" in lines[0]
    assert any(line.startswith("binary") for line in lines) and "mAP@[.50:.95]" in out and "HD95 mm" in out


def test_medseg_split_of_the_real_slices(shared_data: Path, tiny_model_dir: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    data = shared_data / "medseg_covid_slices" / "train"
    assert main(["evaluate", "--model", str(tiny_model_dir), "--data", str(data), "--split", "medseg-split",
                 "--json", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_slices"] == 10 and report["split"] == "medseg-split"
    assert report["overlap"]["slice_mean"]["binary"]["n_slices"] == 10


@pytest.mark.parametrize("argv, message", [
    (["--model", "no-such-model"], "no model at"),
    (["--split", "medseg-split"], "needs MedSeg"),
    (["--batch", "0"], "at least 1"),
])
def test_errors_are_one_line(phantom: Path, tiny_model_dir: Path, argv: list[str], message: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    model = [] if "--model" in argv else ["--model", str(tiny_model_dir)]
    assert run_main(["evaluate", *model, "--data", str(phantom), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_medseg_training_part_is_the_other_forty_percent(tmp_path: Path, tiny_model_dir: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = write_medseg(tmp_path / "m", list(range(10)), size=(40, 40))
    assert main(["evaluate", "--model", str(tiny_model_dir), "--data", str(data), "--split", "medseg-train",
                 "--json", "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["n_slices"] == 8
