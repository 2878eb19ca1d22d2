"""Model spec (JSON, preprocessing, build) and safe checkpoints (save/load, fp16, corrupt files)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from core_models.checkpoints import SPEC_NAME, WEIGHTS_NAME, load_model, read_spec, save_model, write_spec
from core_models.errors import InputError, ModelError
from core_models.model_spec import (SCHEMA, SEED_MASK_THRESHOLD, ModelMetadata, ModelSpec, Preprocessing, build,
                                    preprocess_slice)
from core_models.nets import LesionMaskRCNN, MaskRCNNClassifier

PREP = Preprocessing(min_size=64, max_size=64)


def _spec(**kwargs) -> ModelSpec:
    args = {"backbone": "resnet18", "truncation": 2, "box_detections_per_img": 5, "rpn_post_nms_top_n_test": 50}
    return ModelSpec("maskrcnn_light", args, "both", preprocessing=PREP, **kwargs)


def _head_outputs(model: LesionMaskRCNN, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """FPN features and box-head logits for fixed boxes (independent of detection ranking)."""
    with torch.no_grad():
        images, _ = model.transform([image])
        features = model.backbone(images.tensors)
        boxes = [torch.tensor([[4.0, 4, 40, 40], [10, 20, 60, 50]], device=image.device)]
        pooled = model.roi_heads.box_roi_pool(features, boxes, images.image_sizes)
        logits, _ = model.roi_heads.box_predictor(model.roi_heads.box_head(pooled))
    return features["0"], logits


# --- preprocessing ------------------------------------------------------------------------

def test_hu_slices_go_through_the_lung_window() -> None:
    prep = Preprocessing(window_level=-600, window_width=1500)  # window -1350 .. 150 HU
    hu = np.array([[-2000, -1350, -600], [150, 1000, -975]], dtype=np.int16)
    out = preprocess_slice(hu, prep)
    assert out.shape == (3, 2, 3) and out.dtype == torch.float32
    assert torch.equal(out[0], out[1]) and torch.equal(out[0], out[2])
    assert torch.allclose(out[0], torch.tensor([[0.0, 0.0, 0.5], [1.0, 1.0, 0.25]]))


def test_8bit_slices_are_divided_by_255_and_checked() -> None:
    prep = Preprocessing(input_kind="8bit")
    out = preprocess_slice(np.array([[0, 51, 255]], dtype=np.uint8), prep)
    assert torch.allclose(out[0], torch.tensor([[0.0, 0.2, 1.0]]))
    with pytest.raises(InputError, match="8-bit"):
        preprocess_slice(np.array([[-1000.0, 40.0]]), prep)


def test_the_slice_kind_overrides_the_model_kind() -> None:
    hu = np.array([[-1350, 150]], dtype=np.int16)
    windowed = preprocess_slice(hu, Preprocessing(input_kind="8bit"), is_hu=True)
    assert torch.allclose(windowed[0], torch.tensor([[0.0, 1.0]]))
    grey = preprocess_slice(np.array([[0, 255]], dtype=np.uint8), Preprocessing(input_kind="hu"), is_hu=False)
    assert torch.allclose(grey[0], torch.tensor([[0.0, 1.0]]))


@pytest.mark.parametrize("bad", [np.zeros((2, 3, 3)), np.zeros((0, 4)), np.array([[0.0, np.nan]])])
def test_bad_slices_raise_input_error(bad: np.ndarray) -> None:
    with pytest.raises(InputError):
        preprocess_slice(bad, Preprocessing())


def test_seed_mask_threshold_reproduces_thresholding_logits_at_half() -> None:
    logits = torch.linspace(-3, 3, 600, dtype=torch.float64)  # steps of 6/599 miss 0.5 itself
    assert torch.equal(logits > 0.5, torch.sigmoid(logits) > SEED_MASK_THRESHOLD)
    assert abs(SEED_MASK_THRESHOLD - 0.6225) < 1e-3


# --- spec ---------------------------------------------------------------------------------

def test_spec_json_round_trip_and_defaults() -> None:
    spec = _spec(classifier={"R": 16, "s": 32, "trained_on": "phantom"},
                 metadata=ModelMetadata(version="v2", parent="v1", metrics={"dice_ggo": 0.5}))
    data = json.loads(json.dumps(spec.to_json()))
    assert data["schema"] == SCHEMA
    again = ModelSpec.from_json(data)
    assert again.to_json() == spec.to_json()
    assert again.class_to_label == {1: 1, 2: 2}
    assert again.classifier == {"R": 16, "s": 32, "variant": "seed", "trained_on": "phantom"}
    assert ModelSpec("maskrcnn_light", mask_type="merge").class_to_label == {1: 1}
    assert ModelSpec("maskrcnn_light", mask_type="ggo").class_to_label == {1: 1}


@pytest.mark.parametrize("change", [{"schema": SCHEMA + 1}, {"schema": None}, {"colour": "red"},
                                    {"mask_type": "lesion"}, {"builder_args": {"mask_type": "both"}},
                                    {"classifier": {"R": 0, "s": 8}}, {"mask_threshold": 1.5}])
def test_bad_specs_raise_model_error(change: dict) -> None:
    data = {**_spec().to_json(), **change}
    with pytest.raises(ModelError):
        ModelSpec.from_json(data)


def test_build_uses_the_spec_preprocessing_and_classifier() -> None:
    model = build(_spec(classifier={"R": 16, "s": 32, "variant": "decoded"}))
    assert isinstance(model, MaskRCNNClassifier)
    assert model.roi_batch == 16 and model.variant == "decoded"
    assert model.s_module.hidden1.in_features == 80
    assert model.detector.transform.min_size == (64,)
    assert tuple(model.detector.transform.image_mean) == PREP.image_mean


# --- checkpoints --------------------------------------------------------------------------

def test_save_load_fp32_gives_identical_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    spec = _spec()
    model = build(spec).eval()
    save_model(model, spec, tmp_path / "m")
    assert (tmp_path / "m" / WEIGHTS_NAME).is_file() and (tmp_path / "m" / SPEC_NAME).is_file()
    loaded, loaded_spec = load_model(tmp_path / "m")
    assert not loaded.training and loaded_spec.to_json() == spec.to_json()
    image = torch.rand(3, 64, 64)
    with torch.no_grad():
        a, b = model([image])[0], loaded([image])[0]
    assert torch.equal(a["boxes"], b["boxes"]) and torch.equal(a["mask_logits"], b["mask_logits"])


def test_save_load_fp16_gives_close_outputs_at_half_the_size(tmp_path: Path) -> None:
    torch.manual_seed(0)
    spec = _spec()
    model = build(spec).eval()
    save_model(model, spec, tmp_path / "full")
    save_model(model, spec, tmp_path / "half", half=True)
    size_full = (tmp_path / "full" / WEIGHTS_NAME).stat().st_size
    assert (tmp_path / "half" / WEIGHTS_NAME).stat().st_size < 0.6 * size_full
    loaded, _ = load_model(tmp_path / "half")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    image = torch.rand(3, 64, 64)
    for ours, theirs in zip(_head_outputs(model, image), _head_outputs(loaded, image)):
        assert not torch.equal(ours, theirs)
        assert torch.allclose(ours, theirs, rtol=0.02, atol=0.02 * float(ours.abs().max()))


def test_classifier_round_trip(tmp_path: Path) -> None:
    spec = _spec(classifier={"R": 8, "s": 16})
    model = build(spec)
    save_model(model, spec, tmp_path)
    loaded, _ = load_model(tmp_path)
    assert torch.equal(loaded.s_module.out.weight, model.s_module.out.weight)


def test_truncated_or_missing_files_raise_model_error(tmp_path: Path) -> None:
    spec = _spec()
    save_model(build(spec), spec, tmp_path)
    weights = tmp_path / WEIGHTS_NAME
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated or corrupt"):
        load_model(tmp_path)
    weights.unlink()
    with pytest.raises(ModelError, match="holds no"):
        load_model(tmp_path)
    (tmp_path / SPEC_NAME).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="not readable JSON"):
        read_spec(tmp_path)
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nowhere")


def test_weights_that_do_not_fit_the_spec_raise_model_error(tmp_path: Path) -> None:
    spec = _spec()
    save_model(build(spec), spec, tmp_path)
    other = spec.to_json()
    other["builder_args"]["truncation"] = 1
    (tmp_path / SPEC_NAME).write_text(json.dumps(other), encoding="utf-8")
    with pytest.raises(ModelError, match="does not fit"):
        load_model(tmp_path)
    with pytest.raises(ModelError, match="does not fit"):
        save_model(build(spec), ModelSpec.from_json(other), tmp_path / "x")


def test_torch_saved_state_dicts_are_read_weights_only(tmp_path: Path) -> None:
    spec = _spec()
    model = build(spec)
    save_model(model, spec, tmp_path)
    (tmp_path / WEIGHTS_NAME).unlink()
    torch.save({"model_weights": model.state_dict(), "epoch": 3}, tmp_path / "weights.pt")
    loaded, _ = load_model(tmp_path)
    assert torch.equal(loaded.rpn.head.cls_logits.weight, model.rpn.head.cls_logits.weight)


class _RunsACommand:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_torch_files_with_code_are_refused(tmp_path: Path) -> None:
    spec = _spec()
    model = build(spec)
    save_model(model, spec, tmp_path)
    (tmp_path / WEIGHTS_NAME).unlink()
    marker = tmp_path / "marker"
    torch.save({"model_weights": model.state_dict(), "hook": _RunsACommand(marker)}, tmp_path / "weights.pth")
    with pytest.raises(ModelError, match="weights-only"):
        load_model(tmp_path)
    assert not marker.exists()


def test_unusable_devices_raise_model_error(tmp_path: Path) -> None:
    spec = _spec()
    save_model(build(spec), spec, tmp_path)
    with pytest.raises(ModelError, match="cannot move the model"):
        load_model(tmp_path, device="nonsense")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="cannot move the model"):
            load_model(tmp_path, device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_outputs_match_cpu(tmp_path: Path) -> None:
    torch.manual_seed(0)
    spec = _spec()
    save_model(build(spec), spec, tmp_path)
    cpu, _ = load_model(tmp_path)
    gpu, _ = load_model(tmp_path, device="cuda")
    image = torch.rand(3, 64, 64)
    ours = _head_outputs(cpu, image)
    theirs = _head_outputs(gpu, image.cuda())
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b.cpu(), rtol=1e-3, atol=1e-3 * float(a.abs().max()))


def test_write_spec_replaces_only_the_spec(tmp_path: Path, tiny_model_dir: Path) -> None:
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    weights = (folder / WEIGHTS_NAME).read_bytes()
    spec = read_spec(folder)
    spec.metadata.notes = "edited"
    spec.restrict_to_lungs = True
    assert write_spec(folder, spec) == folder / SPEC_NAME
    again = read_spec(folder)
    assert again.metadata.notes == "edited" and again.restrict_to_lungs is True
    assert (folder / WEIGHTS_NAME).read_bytes() == weights
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in tiny_model_dir.iterdir())
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ModelError, match="cannot write"):
        write_spec(tmp_path / "a_file", spec)  # a file where the folder should be
