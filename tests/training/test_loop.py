"""The training loop: outputs of a short run, callbacks, graceful stop, exact resume, fine-tuning."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core_models.checkpoints import load_model, read_weights
from core_models.errors import InputError
from core_models.inference import run_inference, run_to_completion
from tests.training.helpers import tiny_config, write_phantom
from training.callbacks import Callback
from training.loop import train
from training.run_state import load_state


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("phantoms")
    return write_phantom(root / "train", cases=2, slices=2, seed=3), write_phantom(root / "val", slices=1, seed=4)


class Recorder(Callback):
    """Records events; asks to stop once ``stop_after`` steps were seen (None: never)."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.events: list[tuple] = []
        self.stop_after = stop_after
        self.steps = 0

    def on_start(self, info: dict) -> None:
        self.events.append(("start", info))

    def on_step(self, epoch: int, step: int, losses: dict) -> None:
        self.steps += 1
        self.events.append(("step", epoch, step, losses))

    def on_epoch_end(self, epoch: int, metrics: dict) -> None:
        self.events.append(("epoch", epoch, metrics))

    def on_end(self, result) -> None:
        self.events.append(("end", result))

    def should_stop(self) -> bool:
        return self.stop_after is not None and self.steps >= self.stop_after


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return read_weights(folder)[0]


def _step_losses(out: Path) -> list[float]:
    lines = [json.loads(line) for line in (out / "curves.jsonl").read_text().splitlines()]
    return [line["loss"] for line in lines if line["kind"] == "step"]


@pytest.fixture(scope="module")
def full_run(phantoms: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Recorder]:
    out = tmp_path_factory.mktemp("full") / "run"
    recorder = Recorder()
    train(tiny_config(out, [phantoms[0]], [phantoms[1]]), [recorder], command="test full run")
    return out, recorder


def test_a_two_epoch_run_writes_models_curves_state_and_config(full_run: tuple[Path, Recorder]) -> None:
    out, _ = full_run
    for name in ("best/spec.json", "best/weights.safetensors", "last/spec.json", "state.pt", "curves.jsonl",
                 "config.json"):
        assert (out / name).is_file(), name
    model, spec = load_model(out / "last")
    meta = spec.metadata
    assert meta.command == "test full run" and meta.data_hash.startswith("sha256:") and meta.created
    assert meta.metrics["epoch"] == 2 and "dice_binary" in meta.metrics and "map" in meta.metrics
    assert meta.metrics["validation"].startswith("sha256:")
    assert spec.preprocessing.max_size == 64 and spec.builder_args["truncation"] == 2
    lines = [json.loads(line) for line in (out / "curves.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if line["kind"] == "step"] == [1, 2, 3, 4]
    assert [line["epoch"] for line in lines if line["kind"] == "epoch"] == [1, 2]
    state = load_state(out / "state.pt")
    assert (state["epoch"], state["step_in_epoch"], state["global_step"]) == (2, 0, 4)
    config = json.loads((out / "config.json").read_text())
    assert len(config["train_slices"]) == 4 and len(config["val_slices"]) == 1
    volume = load_model(out / "best")[0]
    assert isinstance(volume, torch.nn.Module)
    sample_ct = _val_volume(config)
    prediction = run_to_completion(run_inference(model, spec, sample_ct, device="cpu"))
    assert prediction.labels.shape == sample_ct.shape


def _val_volume(config: dict):
    from core_models.io import read_volume

    path = config["config"]["val"][0]
    return read_volume(Path(path) / "case_000.nii.gz")


def test_callbacks_receive_every_event_in_order(full_run: tuple[Path, Recorder]) -> None:
    _, recorder = full_run
    kinds = [e[0] for e in recorder.events]
    assert kinds == ["start", "step", "step", "epoch", "step", "step", "epoch", "end"]
    info = recorder.events[0][1]
    assert info["total_steps"] == 4 and info["steps_per_epoch"] == 2 and info["train_slices"] == 4
    steps = [e for e in recorder.events if e[0] == "step"]
    assert [(e[1], e[2]) for e in steps] == [(1, 1), (1, 2), (2, 3), (2, 4)]
    assert all({"loss", "loss_mask", "lr", "images_per_s"} <= set(e[3]) for e in steps)
    epochs = [e for e in recorder.events if e[0] == "epoch"]
    assert all("train_loss" in e[2] and "dice_binary" in e[2] for e in epochs)
    result = recorder.events[-1][1]
    assert not result.stopped and result.epochs_done == 2 and result.global_step == 4
    # warm-up then cosine decay: the learning rate rises, then falls
    lrs = [e[3]["lr"] for e in steps]
    assert lrs[0] < lrs[1] and lrs[-1] < lrs[1]


def test_stop_then_resume_matches_an_uninterrupted_run(phantoms: tuple[Path, Path], tmp_path: Path,
                                                      full_run: tuple[Path, Recorder]) -> None:
    reference, _ = full_run
    out = tmp_path / "run"
    config = tiny_config(out, [phantoms[0]], [phantoms[1]])
    stopper = Recorder(stop_after=3)  # stops mid-epoch 2, after step 3
    result = train(config, [stopper])
    assert result.stopped and result.global_step == 3 and result.epochs_done == 1
    state = load_state(out / "state.pt")
    assert (state["epoch"], state["step_in_epoch"], state["global_step"]) == (1, 1, 3)
    assert state["optimizer"]["state"], "optimizer moments are saved"
    resumed = Recorder()
    result = train(config, [resumed], resume=True)
    assert not result.stopped and result.global_step == 4
    assert [e[2] for e in resumed.events if e[0] == "step"] == [4]
    ours, theirs = _weights(out / "last"), _weights(reference / "last")
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours), "resumed weights differ from the uninterrupted run"
    assert _step_losses(out) == _step_losses(reference)


def test_resume_needs_a_state_and_the_same_data(phantoms: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothing to resume"):
        train(tiny_config(tmp_path / "none", [phantoms[0]]), resume=True)
    out = tmp_path / "run"
    train(tiny_config(out, [phantoms[0]], epochs=1), [Recorder(stop_after=1)])
    with pytest.raises(InputError, match="data changed"):
        train(tiny_config(out, [phantoms[1]]), resume=True)


def test_fine_tuning_keeps_the_parent_architecture(phantoms: tuple[Path, Path], tmp_path: Path,
                                                   tiny_model_dir: Path) -> None:
    out = tmp_path / "ft"
    result = train(tiny_config(out, [phantoms[1]], epochs=1, init=str(tiny_model_dir), truncation=1,
                               image_size=None))
    spec = load_model(out / "last")[1]
    assert spec.metadata.parent == "tiny-test" and spec.builder_args["truncation"] == 2
    assert spec.preprocessing.max_size == 96 and result.best_dir is None  # no validation data: no best/
    parent = _weights(tiny_model_dir)
    child = _weights(out / "last")
    assert any(not torch.equal(parent[k], child[k]) for k in parent)


def test_read_curves_skips_torn_lines_and_a_missing_file(tmp_path: Path) -> None:
    from training.run_state import CURVES_NAME, read_curves

    assert read_curves(tmp_path) == []
    (tmp_path / CURVES_NAME).write_text('{"kind": "step", "step": 1}\n[1, 2]\n\n{"kind": "epoch", "epoch": 1}\n{"kind": "ep',
                                        encoding="utf-8")
    assert read_curves(tmp_path) == [{"kind": "step", "step": 1}, {"kind": "epoch", "epoch": 1}]
