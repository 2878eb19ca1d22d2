"""Training classifier S: what learns and what stays frozen, outputs, figures, stop and exact resume."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core_models.checkpoints import load_model, read_weights
from core_models.errors import InputError
from core_models.inference import classifier_note
from core_models.nets import MaskRCNNClassifier
from tests.training.classifier_helpers import save_tiny_model, write_class_phantoms
from tests.training.test_loop import Recorder
from training.callbacks import CallbackList
from training.classifier import ClassifierTrainer, train_classifier
from training.classifier_setup import ClassifierConfig, class_logits, evaluate_classifier, ranked_rows

SMALL_S = {"roi_batch": 16, "s_features": 32}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[Path]]:
    root = tmp_path_factory.mktemp("class_data")
    return write_class_phantoms(root / "train", slices=2, seed=1), write_class_phantoms(root / "val", slices=1, seed=2)


@pytest.fixture(scope="module")
def group_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("seg_group") / "model", norm="group")


def _config(init: Path, data: tuple[list[Path], list[Path]], out: Path, **overrides) -> ClassifierConfig:
    fields = dict(init=str(init), data=[str(p) for p in data[0]], val=[str(p) for p in data[1]], out=str(out),
                  epochs=2, lr=1e-3, device="cpu", log_every=1, **SMALL_S)
    fields.update(overrides)
    return ClassifierConfig(**fields)


def _norm_affine(name: str) -> bool:
    """Affine weights of norm layers in the light ResNet/FPN (bn*, downsample.1, GroupNorm in heads)."""
    return name.endswith((".weight", ".bias")) and (".bn" in name or ".downsample.1." in name or "norm" in name)


def _changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    return {k for k in before if not torch.equal(before[k].float(), after[k].float())}


def test_batchnorm_model_trains_only_s_and_bn_affine_weights_with_running_stats_frozen(
        data: tuple[list[Path], list[Path]], tmp_path: Path) -> None:
    init = save_tiny_model(tmp_path / "bn", norm="batch")
    before = read_weights(init)[0]
    out = tmp_path / "run"
    train_classifier(_config(init, data, out, epochs=1))
    after = read_weights(out / "last")[0]
    detector = {k.removeprefix("detector."): v for k, v in after.items() if k.startswith("detector.")}
    assert set(detector) == set(before)
    changed = _changed(before, detector)
    stats = [k for k in before if "running_" in k or "num_batches_tracked" in k]
    assert stats and not changed & set(stats)  # running mean / var never move
    assert changed and all(_norm_affine(k) for k in changed)  # only BN affine weights changed ...
    assert any(".bn1." in k for k in changed)
    s_keys = [k for k in after if k.startswith("s_module.")]
    assert len(s_keys) == 6  # ... and S, which is new


def test_groupnorm_model_trains_s_and_norm_affine_weights_and_s_only_keeps_the_detector(
        data: tuple[list[Path], list[Path]], group_model: Path, tmp_path: Path) -> None:
    before = read_weights(group_model)[0]
    train_classifier(_config(group_model, data, tmp_path / "seed_way", epochs=1))
    after = read_weights(tmp_path / "seed_way" / "last")[0]
    changed = _changed(before, {k.removeprefix("detector."): v for k, v in after.items() if k.startswith("detector.")})
    assert changed and all(_norm_affine(k) for k in changed)

    train_classifier(_config(group_model, data, tmp_path / "s_only", epochs=1, s_only=True))
    model, spec = load_model(tmp_path / "s_only" / "last")
    own = {k.removeprefix("detector."): v for k, v in model.state_dict().items() if k.startswith("detector.")}
    assert all(torch.equal(before[k], own[k]) for k in before)  # bit-identical segmentation weights
    assert "S only" in spec.metadata.notes and spec.metadata.metrics["dice_binary"] == 0.5


def test_cached_rows_give_the_same_loss_and_logits_as_the_full_model(
        data: tuple[list[Path], list[Path]], group_model: Path, tmp_path: Path) -> None:
    trainer = ClassifierTrainer(_config(group_model, data, tmp_path / "r", s_only=True), CallbackList(), "test")
    records = trainer.train[:3]
    assert trainer.cache is not None
    cached = trainer._loss(records)
    trainer.model.train()
    classes = torch.tensor([r.class_id for r in records])
    full = trainer.model([trainer.loader.image(r) for r in records], classes)["loss_image_class"]
    assert torch.allclose(cached, full, atol=1e-6)
    image = trainer.loader.image(records[0])
    from_rows = trainer.model.s_module(ranked_rows(trainer.model, image)[None])
    assert torch.allclose(from_rows, class_logits(trainer.model, [image]), atol=1e-6)


def test_a_run_writes_models_curves_and_classification_figures(
        data: tuple[list[Path], list[Path]], group_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    recorder = Recorder()
    result = train_classifier(_config(group_model, data, out, s_only=True, epochs=3, lr=1e-2), [recorder],
                              command="lesionloop train-classifier test")
    for name in ("best/spec.json", "last/weights.safetensors", "state.pt", "curves.jsonl", "config.json"):
        assert (out / name).is_file(), name
    model, spec = load_model(out / "best")
    assert isinstance(model, MaskRCNNClassifier)
    assert spec.classifier == {"R": 16, "s": 32, "variant": "seed", "trained_on": "phantom"}
    assert "synthetic phantoms only" in classifier_note(spec)
    meta = spec.metadata
    assert meta.parent == "tiny-test" and meta.version == "run" and meta.command.endswith("test")
    figures = meta.metrics["classifier"]
    assert figures["val_slices"] == 3 and figures["train_class_counts"] == [2, 2, 2]
    assert sum(map(sum, figures["confusion_matrix"])) == 3
    assert figures["accuracy"] == pytest.approx(sum(figures["confusion_matrix"][k][k] for k in range(3)) / 3)
    epochs = [json.loads(line) for line in (out / "curves.jsonl").read_text().splitlines()
              if json.loads(line)["kind"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert {"accuracy", "sensitivity_control", "sensitivity_cp", "sensitivity_covid19"} <= set(epochs[0])
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]  # S learns on its training slices
    assert result.best_epoch == max(range(1, 4), key=lambda e: (epochs[e - 1]["accuracy"], -e))
    kinds = [event[0] for event in recorder.events]
    assert kinds[0] == "start" and kinds.count("step") == 18 and kinds.count("epoch") == 3 and kinds[-1] == "end"
    start = recorder.events[0][1]
    assert start["trained_on"] == "phantom" and start["trainable_parameters"] < start["parameters"]
    report = evaluate_classifier(model, _val_records(data), _loader(spec))  # full forward of the saved model
    assert report["confusion_matrix"] == figures["confusion_matrix"]


def _val_records(data: tuple[list[Path], list[Path]]) -> list:
    from training.data.classification import records_with_classes

    return [r for folder in data[1] for r in records_with_classes(folder)]


def _loader(spec):
    from training.data.classification import ClassImageLoader

    return ClassImageLoader(spec.preprocessing)


def test_stop_then_resume_ends_exactly_like_an_uninterrupted_run(
        data: tuple[list[Path], list[Path]], group_model: Path, tmp_path: Path) -> None:
    whole, parted = tmp_path / "whole", tmp_path / "parted"
    train_classifier(_config(group_model, data, whole, val=[], s_only=True))
    first = train_classifier(_config(group_model, data, parted, val=[], s_only=True), [Recorder(stop_after=4)])
    assert first.stopped and first.global_step == 4 and first.best_dir is None
    second = train_classifier(_config(group_model, data, parted, val=[], s_only=True), resume=True)
    assert not second.stopped and second.global_step == 12
    a, b = read_weights(whole / "last")[0], read_weights(parted / "last")[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    lines = (parted / "curves.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines if json.loads(line)["kind"] == "step"] == list(range(1, 13))


def test_bad_settings_and_a_clashing_s_are_refused(data: tuple[list[Path], list[Path]], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--init"):
        ClassifierConfig(data=["x"], out="o")
    with pytest.raises(InputError, match="best metric"):
        ClassifierConfig(init="m", data=["x"], out="o", best_metric="dice_binary")
    with_s = save_tiny_model(tmp_path / "with_s", classifier=True)
    with pytest.raises(InputError, match="already has S with R=16"):
        train_classifier(_config(with_s, data, tmp_path / "r", roi_batch=32))
    result = train_classifier(_config(with_s, data, tmp_path / "r2", roi_batch=None, s_features=None, epochs=1,
                                      s_only=True))
    assert load_model(result.last_dir)[1].classifier["R"] == 16  # the init model's S, fine-tuned
