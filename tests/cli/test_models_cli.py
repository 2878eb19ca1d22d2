"""``lesionloop models``: list/show/activate/rollback/register/remove, exit codes, one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import training.cli as cli
from core_models.model_store import BUNDLED_NAME, active_version, registry_dir
from training.registry import register_model


def test_models_is_a_registered_subcommand() -> None:
    assert cli.COMMANDS["models"][0] == "training.cli.models"


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    status = cli.run_command(["models", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def family(tiny_model_dir: Path) -> tuple[str, str]:
    """A parent (binary Dice 0.72) and a worse child (0.61) measured on the same validation."""
    parent = register_model(tiny_model_dir, data_hash="feedbeef", metrics={"dice_binary": 0.72, "dice_ggo": 0.55})
    child = register_model(tiny_model_dir, parent=parent, metrics={"dice_binary": 0.61, "map": 0.2})
    return parent, child


def test_list_on_an_empty_registry_shows_bundled_active(capsys: pytest.CaptureFixture) -> None:
    status, out, _ = _run(capsys, "list")
    rows = out.strip().splitlines()
    assert status == 0 and len(rows) == 2 and rows[1].startswith("*") and BUNDLED_NAME in rows[1]
    status, out, _ = _run(capsys, "list", "--json")
    data = json.loads(out)
    assert status == 0 and [v["version"] for v in data] == [BUNDLED_NAME] and data[0]["active"]


def test_list_marks_the_active_version(capsys: pytest.CaptureFixture, family: tuple[str, str]) -> None:
    parent, child = family
    assert _run(capsys, "activate", parent)[0] == 0
    status, out, _ = _run(capsys)  # no action = list
    rows = {line.split()[-1 if line.startswith("*") else 0]: line for line in out.splitlines()[1:]}
    starred = [line for line in out.splitlines() if line.startswith("*")]
    assert status == 0 and len(starred) == 1 and parent in starred[0]
    assert "0.720" in starred[0] and "feedbeef" in starred[0]
    assert any(child in line and "0.610" in line and not line.startswith("*") for line in rows.values())
    data = json.loads(_run(capsys, "list", "--json")[1])
    assert [v["version"] for v in data] == [BUNDLED_NAME, parent, child]
    assert [v["active"] for v in data] == [False, True, False]
    assert data[2]["parent"] == parent and data[2]["summary"]["map"] == 0.2


def test_show(capsys: pytest.CaptureFixture, family: tuple[str, str]) -> None:
    parent, child = family
    status, out, _ = _run(capsys, "show", child)
    assert status == 0
    assert f"parent:       {parent}" in out and "dice_binary: 0.610" in out
    assert "maskrcnn_light resnet18/t2 both" in out
    data = json.loads(_run(capsys, "show", parent, "--json")[1])
    assert data["version"] == parent and data["data_hash"] == "feedbeef" and data["metrics"]["dice_ggo"] == 0.55


def test_activate_gate_needs_force(capsys: pytest.CaptureFixture, family: tuple[str, str]) -> None:
    parent, child = family
    _run(capsys, "activate", parent)
    status, out, err = _run(capsys, "activate", child)
    line = _one_error_line(err)
    assert status == 2 and out == ""
    assert "0.610" in line and "0.720" in line and "--force" in line
    assert active_version() == parent
    status, out, _ = _run(capsys, "activate", child, "--force")
    assert status == 0 and child in out and active_version() == child


def test_rollback(capsys: pytest.CaptureFixture, family: tuple[str, str]) -> None:
    parent, child = family
    _run(capsys, "activate", parent)
    _run(capsys, "activate", child, "--force")
    status, out, _ = _run(capsys, "rollback")
    assert status == 0 and parent in out and active_version() == parent
    status, out, _ = _run(capsys, "rollback", BUNDLED_NAME)
    assert status == 0 and active_version() == BUNDLED_NAME
    status, _, err = _run(capsys, "rollback")
    assert status == 2 and "nothing to roll back" in _one_error_line(err)


@pytest.mark.parametrize("action", ["show", "activate", "rollback", "remove"])
def test_unknown_version_is_one_line_exit_2(capsys: pytest.CaptureFixture, action: str) -> None:
    status, _, err = _run(capsys, action, "v0042-nowhere")
    line = _one_error_line(err)
    assert status == 2 and line.startswith("lesionloop models: error:") and "v0042-nowhere" in line


def test_register_and_remove(capsys: pytest.CaptureFixture, tiny_model_dir: Path, tmp_path: Path) -> None:
    status, out, _ = _run(capsys, "register", str(tiny_model_dir), "--name", "first", "--notes", "by hand")
    assert status == 0 and "registered first" in out and (registry_dir() / "first" / "spec.json").exists()
    assert active_version() == BUNDLED_NAME
    status, _, err = _run(capsys, "register", str(tmp_path / "missing"))
    assert status == 2 and _one_error_line(err)
    status, out, _ = _run(capsys, "remove", "first")
    assert status == 0 and not (registry_dir() / "first").exists()


def test_corrupt_active_json_warns_on_one_line(capsys: pytest.CaptureFixture, family: tuple[str, str]) -> None:
    registry_dir().joinpath("active.json").write_text("{{{", encoding="utf-8")
    status, out, err = _run(capsys, "list")
    line = _one_error_line(err)
    assert status == 0 and line.startswith("lesionloop models: warning:") and "bundled" in line
    assert next(r for r in out.splitlines() if r.startswith("*")).split()[1] == BUNDLED_NAME


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture) -> None:
    for argv in (["activate"], ["frobnicate"], ["show"]):
        with pytest.raises(SystemExit) as exc:
            cli.run_command(["models", *argv])
        assert exc.value.code == 2


def test_listing_does_not_import_torch() -> None:
    code = ("import sys, training.cli.models as m, argparse; "
            "m.run(argparse.Namespace(action='list', json=True)); assert 'torch' not in sys.modules")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)[0]["version"] == BUNDLED_NAME
