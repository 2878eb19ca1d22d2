"""Seed checkpoint import: safe zip reading (no pickled code runs), key mapping, checks, errors."""
from __future__ import annotations

import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator

from core_models.checkpoints import load_model
from core_models.errors import ModelError
from core_models.model_spec import ModelSpec, Preprocessing, build
from core_models.seed_import import import_seed_checkpoint
from core_models.torch_archive import Placeholder, read_torch_archive

LIGHT = {"backbone": "resnet18", "truncation": 2}


class _RunsACommand:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _RunsASubprocess:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (subprocess.call, (["touch", str(self.marker)],))


def _to_seed_name(key: str) -> str:
    """Our state-dict name -> the seed's (torchvision 0.3 era) name, written independently of the importer."""
    key = key.removeprefix("detector.")
    key = re.sub(r"^(backbone\.fpn\.(?:inner|layer)_blocks\.\d+)\.0\.", r"\1.", key)
    key = key.replace("rpn.head.conv.0.0.", "rpn.head.conv.")
    key = re.sub(r"^roi_heads\.mask_head\.(\d+)\.0\.", lambda m: f"roi_heads.mask_head.mask_fcn{int(m.group(1)) + 1}.", key)
    for ours, seed in (("hidden1", "fc_scores"), ("hidden2", "fc_scores_2"), ("out", "fc_scores_img")):
        key = key.replace(f"s_module.{ours}.", f"s2new.{seed}.")
    return key


def _model(mask_type: str = "both", classifier: dict | None = None, **args) -> tuple[torch.nn.Module, ModelSpec]:
    torch.manual_seed(0)
    spec = ModelSpec("maskrcnn_light", {**LIGHT, **args}, mask_type, preprocessing=Preprocessing(input_kind="8bit"),
                     classifier=classifier)
    return build(spec), spec


def _seed_file(tmp_path: Path, model: torch.nn.Module, *, extra: dict | None = None,
               drop: tuple[str, ...] = ()) -> Path:
    state = {_to_seed_name(k): v for k, v in model.state_dict().items() if not k.endswith(drop)}
    optimiser = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(4)}},
                 "param_groups": [{"lr": 1e-5, "params": [0]}]}
    payload = {"model_weights": state, "epoch": 42, "model_name": "segmentation_model", "lrate": 1e-5,
               "optimizer_state": optimiser, "anchor_generator": AnchorGenerator(((2, 4, 8, 16, 32),),
                                                                                 ((0.1, 0.25, 0.5, 1.0, 1.5, 2.0),))}
    payload.update(extra or {})
    path = tmp_path / "seed.pth"
    torch.save(payload, path)
    return path


def test_the_synthetic_seed_names_are_the_seeds(tmp_path: Path) -> None:
    model, _ = _model(classifier={"R": 8, "s": 16})
    names = {_to_seed_name(k) for k in model.state_dict()}
    for name in ("backbone.fpn.inner_blocks.0.weight", "backbone.fpn.layer_blocks.0.bias", "rpn.head.conv.weight",
                 "roi_heads.box_head.fc6.weight", "roi_heads.box_head.fc7.bias", "roi_heads.mask_head.mask_fcn1.weight",
                 "roi_heads.mask_predictor.conv5_mask.weight", "s2new.fc_scores.weight", "s2new.fc_scores_img.bias",
                 "backbone.body.layer1.0.conv1.weight"):
        assert name in names


def test_import_runs_no_pickled_code_and_keeps_the_weights(tmp_path: Path) -> None:
    model, _ = _model()
    markers = [tmp_path / "marker_system", tmp_path / "marker_subprocess"]
    path = _seed_file(tmp_path, model, extra={"evil": _RunsACommand(markers[0]), "evil2": [_RunsASubprocess(markers[1])]})

    report = import_seed_checkpoint(path, tmp_path / "out", backbone="resnet18", truncation=2, mask_type="both")
    assert not any(m.exists() for m in markers)
    loaded, spec = load_model(tmp_path / "out")
    original = model.state_dict()
    assert set(loaded.state_dict()) == set(original)
    assert all(torch.equal(v, original[k]) for k, v in loaded.state_dict().items())
    assert "subprocess.call" in report.skipped_objects
    assert any(name.endswith(".system") for name in report.skipped_objects)  # posix.system on Linux
    assert any(name.endswith("AnchorGenerator") for name in report.skipped_objects)
    assert report.extras == {"epoch": 42, "model_name": "segmentation_model", "lrate": 1e-5}
    assert spec.preprocessing.input_kind == "8bit" and spec.metadata.version == "seed-import"
    assert "skipped pickled objects" in spec.metadata.notes

    # the payload is real: an ordinary unpickler runs it
    torch.load(path, weights_only=False)
    assert markers[0].exists() and markers[1].exists()


def test_anchors_are_read_back_from_the_skipped_anchor_generator(tmp_path: Path) -> None:
    sizes, ratios = (8, 16, 32, 64, 128), (0.5, 1.0, 2.0)
    model, _ = _model(anchor_sizes=sizes, anchor_ratios=ratios)
    path = _seed_file(tmp_path, model, extra={"anchor_generator": AnchorGenerator((sizes,), (ratios,))})
    report = import_seed_checkpoint(path, tmp_path / "out", backbone="resnet18", truncation=2)
    assert report.spec.builder_args["anchor_sizes"] == [float(s) for s in sizes]
    assert report.spec.builder_args["anchor_ratios"] == list(ratios)
    loaded, _ = load_model(tmp_path / "out")
    assert loaded.rpn.head.cls_logits.out_channels == 15


def test_classifier_checkpoints_bring_module_s(tmp_path: Path) -> None:
    model, _ = _model("merge", classifier={"R": 8, "s": 16})
    path = _seed_file(tmp_path, model, drop=("mask_predictor.conv5_mask.weight", "mask_predictor.conv5_mask.bias",
                                             "mask_predictor.mask_fcn_logits.weight",
                                             "mask_predictor.mask_fcn_logits.bias"))
    report = import_seed_checkpoint(path, tmp_path / "out", backbone="resnet18", truncation=2, mask_type="merge")
    assert report.spec.classifier["R"] == 8 and report.spec.classifier["s"] == 16
    assert len(report.missing) == 4 and all("mask_predictor" in k for k in report.missing)
    loaded, _ = load_model(tmp_path / "out")
    assert torch.equal(loaded.s_module.hidden1.weight, model.s_module.hidden1.weight)
    assert torch.equal(loaded.detector.backbone.body.conv1.weight, model.detector.backbone.body.conv1.weight)
    with pytest.raises(ModelError, match="--roi-batch 8, not 16"):
        import_seed_checkpoint(path, tmp_path / "o2", backbone="resnet18", truncation=2, mask_type="merge",
                               roi_batch=16)


def test_missing_batchnorm_counters_are_filled(tmp_path: Path) -> None:
    model, _ = _model()
    path = _seed_file(tmp_path, model, drop=("num_batches_tracked",))
    report = import_seed_checkpoint(path, tmp_path / "out", backbone="resnet18", truncation=2)
    assert report.filled and all(k.endswith("num_batches_tracked") for k in report.filled)
    assert not report.missing


def test_wrong_flags_are_refused(tmp_path: Path) -> None:
    model, _ = _model()
    path = _seed_file(tmp_path, model)
    with pytest.raises(ModelError, match="cannot place|lacks"):
        import_seed_checkpoint(path, tmp_path / "a", backbone="resnet18", truncation=1)
    with pytest.raises(ModelError, match="predicts 3 classes"):
        import_seed_checkpoint(path, tmp_path / "b", backbone="resnet18", truncation=2, mask_type="ggo")
    with pytest.raises(ModelError, match="truncation"):
        import_seed_checkpoint(path, tmp_path / "c", backbone="resnet50", truncation=2)
    with pytest.raises(ModelError, match="no classification module S"):
        import_seed_checkpoint(path, tmp_path / "d", backbone="resnet18", truncation=2, roi_batch=8)
    import_seed_checkpoint(path, tmp_path / "e", backbone="resnet18", truncation=2)
    with pytest.raises(ModelError, match="already holds a model"):
        import_seed_checkpoint(path, tmp_path / "e", backbone="resnet18", truncation=2)
    import_seed_checkpoint(path, tmp_path / "e", backbone="resnet18", truncation=2, force=True)


def test_files_that_are_not_zip_torch_checkpoints_are_refused(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy.pth"
    torch.save({"model_weights": {"w": torch.zeros(2)}}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(ModelError, match="not a zip-format torch checkpoint"):
        read_torch_archive(legacy)
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(ModelError, match="not a torch checkpoint"):
        read_torch_archive(other_zip)
    with pytest.raises(ModelError, match="does not exist"):
        read_torch_archive(tmp_path / "missing.pth")
    no_weights = tmp_path / "no_weights.pth"
    torch.save({"epoch": 3}, no_weights)
    with pytest.raises(ModelError, match="model_weights"):
        import_seed_checkpoint(no_weights, tmp_path / "out", backbone="resnet18", truncation=2)


def test_truncated_checkpoints_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.pth"
    torch.save({"model_weights": {"w": torch.arange(10_000, dtype=torch.float32)}}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 2000])
    with pytest.raises(ModelError):
        read_torch_archive(path)


def test_archive_reader_rebuilds_tensors_views_and_placeholders(tmp_path: Path) -> None:
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    payload = {"base": base, "view": base[1:, ::2], "half": torch.ones(3, dtype=torch.float16),
               "flags": torch.tensor([True, False]), "ints": torch.tensor([1, -2], dtype=torch.int64),
               "empty": torch.zeros(0), "param": torch.nn.Parameter(torch.ones(2)), "size": torch.Size([2, 3]),
               "unknown": AnchorGenerator(((4,),), ((1.0,),))}
    path = tmp_path / "a.pth"
    torch.save(payload, path)
    archive = read_torch_archive(path)
    obj = archive.obj
    for key in ("base", "view", "half", "flags", "ints", "empty"):
        assert obj[key].dtype == payload[key].dtype and torch.equal(obj[key], payload[key])
    assert torch.equal(obj["param"], torch.ones(2)) and obj["size"] == (2, 3)
    assert isinstance(obj["unknown"], Placeholder)
    assert obj["unknown"].state["sizes"] == ((4,),)
