"""``python -m training.bundle_classifier``: S added to a copy, segmentation unchanged, original kept on failure."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from core_models.checkpoints import load_model, read_spec
from core_models.errors import ModelError
from core_models.inference import classifier_note
from tests.training.classifier_helpers import save_tiny_model
from training.bundle_classifier import BEGIN, END, check_detector_unchanged, main, with_section

TINY = ["--size", "64", "--slices", "2", "--cases", "3", "3", "3", "--epochs", "2", "--device", "cpu"]


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("bundle_s")
    model = save_tiny_model(root / "default")
    (model / "TRAINING.md").write_text("# Bundled model\n\nSegmentation notes.\n")
    out = root / "with_s"
    assert main(["--model", str(model), "--out", str(out), "--work", str(root / "work"), "--min-accuracy", "0",
                 *TINY]) == 0
    return model, out, root


def test_the_new_folder_has_s_from_phantoms_and_the_same_segmentation(bundled: tuple[Path, Path, Path]) -> None:
    model, out, _ = bundled
    new, spec = load_model(out)
    assert spec.classifier["trained_on"] == "phantom" and "synthetic phantoms only" in classifier_note(spec)
    assert spec.metadata.version == "tiny-test" and spec.metadata.metrics["dice_binary"] == 0.5
    test = spec.metadata.metrics["classifier"]["test"]
    assert len(test["confusion_matrix"]) == 3 and 0.0 <= test["accuracy"] <= 1.0
    assert check_detector_unchanged(model, out) > 50  # every detector tensor bit-identical (fp32 here)
    notes = (out / "TRAINING.md").read_text()
    assert notes.startswith("# Bundled model\n\nSegmentation notes.") and notes.count(BEGIN) == 1
    assert "trained on synthetic phantoms only" in notes and "python -m training.bundle_classifier" in notes
    assert "| COVID-19 |" in notes


def test_a_failed_run_ships_nothing_and_leaves_the_original_untouched(bundled: tuple[Path, Path, Path],
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    model, out, root = bundled
    before, before_out = _digests(model), _digests(out)
    assert main(["--model", str(model), "--work", str(root / "work"), "--min-accuracy", "1.01", *TINY]) == 2
    assert "nothing shipped" in capsys.readouterr().err
    assert _digests(model) == before and _digests(out) == before_out
    assert not [p for p in model.parent.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_rerunning_in_place_replaces_the_section_and_keeps_a_backup(bundled: tuple[Path, Path, Path]) -> None:
    _, out, root = bundled
    backup = root / "backup"
    assert main(["--model", str(out), "--work", str(root / "work"), "--min-accuracy", "0", "--backup", str(backup),
                 *TINY]) == 0
    notes = (out / "TRAINING.md").read_text()
    assert notes.count(BEGIN) == 1 and notes.count(END) == 1
    assert (backup / "weights.safetensors").is_file() and read_spec(backup).classifier is not None


def test_section_replacement_and_changed_tensors_are_caught(tmp_path: Path) -> None:
    text = with_section("# A\n", f"{BEGIN}\nold\n{END}\n")
    assert with_section(text, f"{BEGIN}\nnew\n{END}\n") == f"# A\n\n{BEGIN}\nnew\n{END}\n"
    a, b = save_tiny_model(tmp_path / "a", seed=0), save_tiny_model(tmp_path / "b", seed=1)
    with pytest.raises(ModelError, match="changed"):
        check_detector_unchanged(a, b)
