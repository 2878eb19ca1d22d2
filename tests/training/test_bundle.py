from __future__ import annotations

import json

from core_models.checkpoints import load_model
from training.bundle import export_bundled


def test_export_writes_fp16_bundled_model_with_notes(tmp_path, tiny_model_dir):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run / "best")
    (run / "curves.jsonl").write_text(json.dumps({"kind": "epoch", "epoch": 1}) + "\n")
    out = export_bundled(run, tmp_path / "default")
    model, spec = load_model(out)
    assert spec.metadata.version == "bundled"
    data = (out / "weights.safetensors").read_bytes()
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    assert header["__metadata__"]["dtype"] == "float16"
    notes = (out / "TRAINING.md").read_text()
    assert "Epochs run: 1." in notes
    ref, _ = load_model(tiny_model_dir)
    w = dict(model.named_parameters())["roi_heads.box_head.fc6.weight"]
    assert w.detach().sub(dict(ref.named_parameters())["roi_heads.box_head.fc6.weight"]).abs().max() < 1e-2


def test_export_last_checkpoint_when_asked(tmp_path, tiny_model_dir):
    import shutil

    import pytest

    from core_models.checkpoints import read_spec, save_model
    from core_models.errors import LesionLoopError

    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run / "best")
    model, spec = load_model(tiny_model_dir)
    spec.metadata.metrics = {"dice_binary": 0.25}
    save_model(model, spec, run / "last")
    out = export_bundled(run, tmp_path / "default", checkpoint="last")
    assert read_spec(out).metadata.metrics["dice_binary"] == 0.25
    assert "Exported checkpoint: last" in (out / "TRAINING.md").read_text()
    best = export_bundled(run, tmp_path / "from_best")
    assert read_spec(best).metadata.metrics.get("dice_binary") != 0.25
    with pytest.raises(LesionLoopError):
        export_bundled(run, tmp_path / "bad", checkpoint="middle")


def test_export_turns_restrict_to_lungs_on(tmp_path, tiny_model_dir):
    import shutil

    from core_models.checkpoints import read_spec

    assert read_spec(tiny_model_dir).restrict_to_lungs is False
    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run / "best")
    out = export_bundled(run, tmp_path / "default")
    assert read_spec(out).restrict_to_lungs is True
    assert json.loads((out / "spec.json").read_text())["restrict_to_lungs"] is True
