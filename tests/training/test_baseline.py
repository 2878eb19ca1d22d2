"""The threshold baseline: it learns the bands that separate the classes, and scores the BASELINES way."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core_models.model_spec import Preprocessing
from tests.training.helpers import lesion_slice
from training.baseline import Bands, evaluate_bands, fit_bands, lung_mask, main, predict
from training.data.records import Sample, SliceReader, SliceRecord
from training.datasets import list_records, medseg_split


def _sample(seed: int) -> Sample:
    """A dark 'lung' in a bright 'body' frame, with a GGO square (grey 120) and a consolidation disc (220)."""
    image, labels = lesion_slice(90, 100, seed)
    image[:6], image[-6:], image[:, :6], image[:, -6:] = 240, 240, 240, 240
    labels[:6], labels[-6:], labels[:, :6], labels[:, -6:] = 0, 0, 0, 0
    record = SliceRecord(f"s{seed}", "medseg", "image", "", "")
    return Sample(image / np.float32(255.0), labels, image.astype(np.int16), False, (1.0, 1.0), record)


def test_lung_mask_keeps_lesions_inside_the_dark_region() -> None:
    sample = _sample(1)
    mask = lung_mask(sample.image, 0.4)
    assert mask[sample.labels > 0].mean() > 0.95  # bright lesions are holes of the dark lung: filled
    assert not mask[:3].any()


def test_bands_learned_on_training_slices_separate_the_classes() -> None:
    bands = fit_bands([_sample(i) for i in range(4)])
    assert bands.ggo_min < 120 / 255 < bands.cons_min < 220 / 255
    result = evaluate_bands([_sample(i) for i in range(10, 13)], bands)
    assert result["dice_ggo"] > 0.9 and result["dice_consolidation"] > 0.9 and result["dice_binary"] > 0.9
    assert result["n_slices"] == 3


def test_predict_follows_the_bands() -> None:
    image = np.full((40, 40), 0.1, np.float32)
    image[10:20, 10:20], image[25:30, 25:30] = 0.45, 0.8
    labels = predict(image, Bands(lung_max=0.5, ggo_min=0.3, cons_min=0.6))
    assert (labels[10:20, 10:20] == 1).all() and (labels[25:30, 25:30] == 2).all() and (labels[:8] == 0).all()


def test_real_medseg_split(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = shared_data / "medseg_covid_slices" / "train"
    train, val = medseg_split(list_records(data))
    reader = SliceReader(Preprocessing())
    bands = fit_bands([reader.load(r) for r in train[::4]])  # a quarter of the training slices: fast
    result = evaluate_bands([reader.load(r) for r in val], bands)
    assert result["n_slices"] == 10
    # BASELINES.md measured 0.45 binary Dice for this kind of baseline: far from 0, far from a model
    assert 0.2 < result["dice_binary"] < 0.7
    assert main(["--data", str(data), "--val", "no-such-folder"]) == 2
    assert "does not exist" in capsys.readouterr().err
