"""``lesionloop import-checkpoint``: parser, success report, one-line errors, no pickled code run."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

import training.cli as cli
from core_models.checkpoints import load_model
from tests.core_models.test_seed_import import _model, _RunsACommand, _seed_file
from training.cli import import_checkpoint


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lesionloop")
    import_checkpoint.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


@pytest.fixture
def only_this_command() -> None:
    """The subcommand is registered with :func:`training.cli.run_command`."""
    assert "import-checkpoint" in cli.COMMANDS


def test_import_prints_a_report_and_writes_a_loadable_model(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model, _ = _model()
    marker = tmp_path / "marker"
    seed = _seed_file(tmp_path, model, extra={"evil": _RunsACommand(marker)})
    args = _parse(["import-checkpoint", str(seed), "--backbone", "resnet18", "--truncation", "2",
                   "--mask-type", "both", "--out", str(tmp_path / "model")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "skipped pickled objects" in out and "system" in out
    assert not marker.exists()
    loaded, spec = load_model(tmp_path / "model")
    assert torch.equal(loaded.roi_heads.box_head.fc6.weight, model.roi_heads.box_head.fc6.weight)
    assert spec.metadata.command.startswith("lesionloop import-checkpoint ")
    assert "--truncation 2" in spec.metadata.command


def test_bad_files_give_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture,
                                            only_this_command: None) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x80\x02not a zip at all")
    status = cli.run_command(["import-checkpoint", str(junk), "--backbone", "resnet34", "--truncation", "1",
                              "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("lesionloop import-checkpoint: error:") and "not a zip-format" in err
    assert not (tmp_path / "m").exists()


def test_wrong_architecture_flags_give_one_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                only_this_command: None) -> None:
    model, _ = _model()
    seed = _seed_file(tmp_path, model)
    status = cli.run_command(["import-checkpoint", str(seed), "--backbone", "resnet34", "--truncation", "2",
                              "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "--backbone" in err


def test_usage_errors_exit_2(tmp_path: Path, only_this_command: None) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.run_command(["import-checkpoint", "x.pth", "--out", str(tmp_path)])  # no --backbone
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        cli.run_command(["import-checkpoint", "x.pth", "--backbone", "resnet18", "--truncation", "5",
                         "--out", str(tmp_path)])
    assert exc.value.code == 2
