from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from core_models.checkpoints import load_model
from core_models.inference import run_inference, run_to_completion
from core_models.prediction import Progress, RoI, SliceResult
from core_models.roi_maps import instances_to_labels, paste_logits
from core_models.volume import CTVolume, Geometry
from tests.conftest import make_tiny_spec


def _volume(slices: int = 3, shape=(80, 96)) -> CTVolume:
    rng = np.random.default_rng(0)
    arr = rng.normal(-700, 200, (slices, *shape)).astype(np.int16)
    return CTVolume(arr, Geometry(spacing=(2.0, 0.7, 0.5)))


def _events(gen):
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return events, stop.value


def test_generator_streams_progress_and_slices(tiny_model_dir):
    model, spec = load_model(tiny_model_dir)
    vol = _volume(3)
    events, pred = _events(run_inference(model, spec, vol, device="cpu", batch_size=2))
    progress = [e for e in events if isinstance(e, Progress)]
    slices = [e for e in events if isinstance(e, SliceResult)]
    assert [p.done for p in progress] == [0, 2, 3] and all(p.total == 3 for p in progress)
    assert [s.index for s in slices] == [0, 1, 2]
    assert pred.complete and sorted(pred.slices) == [0, 1, 2]
    assert pred.labels.shape == vol.shape and pred.labels.geometry == vol.geometry
    assert set(np.unique(pred.labels.array)) <= {0, 1, 2}
    assert pred.model_version == "tiny-test" and pred.device.startswith("CPU")


def test_rois_are_in_original_pixels_with_small_logits(tiny_model_dir):
    model, spec = load_model(tiny_model_dir)
    vol = _volume(1, shape=(120, 60))  # model resizes to min_size 64; boxes must come back
    pred = run_to_completion(run_inference(model, spec, vol, device="cpu"))
    rois = pred.slices[0].rois
    assert rois, "a random-weight detector with score threshold 0 should return detections"
    for roi in rois:
        x0, y0, x1, y1 = roi.box
        assert 0 <= x0 <= x1 <= 60 and 0 <= y0 <= y1 <= 120
        assert roi.mask_logits.shape == (28, 28) and roi.mask_logits.dtype == np.float16
        assert roi.label in (1, 2) and 0.0 <= roi.score <= 1.0


def test_label_volume_and_area_follow_spacing(tiny_model_dir):
    model, spec = load_model(tiny_model_dir)
    vol = _volume(2)
    pred = run_to_completion(run_inference(model, spec, vol, device="cpu"))
    voxel_ml = 2.0 * 0.7 * 0.5 / 1000
    counts = np.bincount(pred.labels.array.ravel(), minlength=3)
    for value in (1, 2):
        assert pred.volumes_ml().get(value, 0.0) == pytest.approx(counts[value] * voxel_ml)
        area = sum(s.area_mm2[value] for s in pred.slices.values())
        assert area == pytest.approx(counts[value] * 0.7 * 0.5)


def test_cancel_between_batches_keeps_what_is_done(tiny_model_dir):
    model, spec = load_model(tiny_model_dir)
    cancel = threading.Event()
    gen = run_inference(model, spec, _volume(5), device="cpu", batch_size=1, cancel=cancel)
    seen = []
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            pred = stop.value
            break
        if isinstance(event, SliceResult):
            seen.append(event.index)
            if len(seen) == 2:
                cancel.set()
    assert seen == [0, 1]
    assert not pred.complete and sorted(pred.slices) == [0, 1]
    assert not pred.labels.array[2:].any()  # untouched slices stay background


def test_semantic_head_drives_label_map():
    torch.manual_seed(1)
    spec = make_tiny_spec(semantic=True)
    model = spec.build().eval()
    vol = _volume(1)
    pred = run_to_completion(run_inference(model, spec, vol, device="cpu"))
    from core_models.model_spec import preprocess_slice

    with torch.inference_mode():
        out = model([preprocess_slice(vol.array[0], spec.preprocessing, is_hu=True)])[0]
    np.testing.assert_array_equal(pred.labels.array[0], out["semantic_logits"].argmax(0).numpy())


def test_classifier_probabilities_and_phantom_note():
    torch.manual_seed(2)
    spec = make_tiny_spec(classifier=True)
    model = spec.build()
    pred = run_to_completion(run_inference(model, spec, _volume(2), device="cpu"))
    for s in pred.slices.values():
        assert s.class_probs.shape == (3,) and s.class_probs.sum() == pytest.approx(1.0)
    assert pred.series_class_probs.sum() == pytest.approx(1.0)
    assert "phantom" in pred.classifier_note
    report = pred.to_report()
    assert report["series"]["classifier_note"] == pred.classifier_note


class _OomOnBatches(torch.nn.Module):
    """Stands in for a detector that runs out of memory on batches of more than one slice."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def forward(self, images):
        self.sizes.append(len(images))
        if len(images) > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [{"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64),
                 "scores": torch.zeros(0), "mask_logits": torch.zeros((0, 28, 28))} for _ in images]


def test_out_of_memory_halves_batch_and_loses_nothing():
    model = _OomOnBatches()
    pred = run_to_completion(run_inference(model, make_tiny_spec(), _volume(3), device="cpu", batch_size=4))
    assert pred.complete and sorted(pred.slices) == [0, 1, 2]
    assert model.sizes[:3] == [3, 2, 1]  # 4 -> 2 -> 1 (first batch holds the 3 slices there are)
    assert any("batch size lowered to 1" in w for w in pred.warnings)


def test_paste_logits_fills_box_and_clips_to_image():
    logits = np.full((28, 28), 3.0, np.float32)
    crop, (y0, y1, x0, x1) = paste_logits(logits, (10.0, 5.0, 30.0, 25.0), (40, 40))
    assert (y0, y1, x0, x1) == (5, 25, 10, 30) and crop.shape == (20, 20)
    np.testing.assert_allclose(crop, 3.0)
    crop, (y0, y1, x0, x1) = paste_logits(logits, (-10.0, 30.0, 20.0, 60.0), (40, 40))
    assert (y0, y1, x0, x1) == (30, 40, 0, 20) and crop.shape == (10, 20)


def test_overlapping_instances_merge_by_highest_probability():
    strong = RoI((0, 0, 20, 20), 1, 0.9, np.full((28, 28), 2.0, np.float16))   # p = 0.88
    weak = RoI((10, 10, 30, 30), 2, 0.8, np.full((28, 28), 1.0, np.float16))    # p = 0.73
    below = RoI((0, 25, 5, 30), 2, 0.8, np.full((28, 28), -1.0, np.float16))    # p = 0.27 < 0.5
    labels = instances_to_labels([weak, strong, below], (32, 32), threshold=0.5)
    assert labels[5, 5] == 1 and labels[15, 15] == 1  # overlap goes to the stronger GGO instance
    assert labels[25, 25] == 2
    assert labels[27, 2] == 0  # probability below threshold: not drawn (sigmoid applied, not logits)


def _conv_weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def test_cpu_runs_channels_last_and_gives_the_model_back_as_it_came(tiny_model_dir):
    # the same model object is validated during training: its layout must come back, even on an early close
    model, spec = load_model(tiny_model_dir)
    weights = _conv_weights(model)
    before = [w.detach().clone() for w in weights]
    gen = run_inference(model, spec, _volume(3), device="cpu", batch_size=1)
    first_slice = next(e for e in gen if isinstance(e, SliceResult))
    assert first_slice.index == 0
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    gen.close()  # the viewer drops a cancelled run's generator like this
    assert all(w.is_contiguous() for w in weights)
    assert all(torch.equal(w, b) for w, b in zip(weights, before))
    assert _conv_weights(model)[0] is weights[0]  # the same parameters: an optimiser's references stay valid
    run_to_completion(run_inference(model, spec, _volume(2), device="cpu"))
    assert all(w.is_contiguous() for w in weights)
