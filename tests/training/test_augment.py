"""Augmentation keeps labels on the image features, and is deterministic given the generator."""
from __future__ import annotations

import numpy as np
import pytest

from training.augment import Augmenter, jitter_intensity, random_crop, warp
from training.config import AugmentConfig


def _marked(height: int = 70, width: int = 90) -> tuple[np.ndarray, np.ndarray]:
    """A dark image with a bright off-centre L shape; labels mark exactly the bright pixels."""
    image = np.full((height, width), 0.1, np.float32)
    labels = np.zeros((height, width), np.uint8)
    labels[10:40, 15:25] = 1
    labels[30:40, 25:50] = 2
    image[labels > 0] = 0.9
    return image, labels


def _agreement(image: np.ndarray, labels: np.ndarray) -> float:
    """IoU of the bright image region and the labelled region."""
    bright, marked = image > 0.5, labels > 0
    return float((bright & marked).sum() / max((bright | marked).sum(), 1))


def test_flip_rotation_zoom_and_crop_keep_labels_aligned() -> None:
    image, labels = _marked()
    cfg = AugmentConfig(hflip=1.0, vflip=1.0, rotate_deg=10.0, scale=(0.85, 1.15), contrast=0.0,
                        brightness=0.0, gamma=(1.0, 1.0), crop=48)
    augment = Augmenter(cfg, image_size=96)
    for seed in range(6):
        out_image, out_labels = augment(image, labels, np.random.default_rng(seed))
        assert out_labels.dtype == np.uint8 and set(np.unique(out_labels)) <= {0, 1, 2}
        assert out_image.shape == out_labels.shape == (48, 48)
        if (out_labels > 0).sum() > 30:
            assert _agreement(out_image, out_labels) > 0.8


@pytest.mark.parametrize("angle", [0.0, 7.0, -10.0])
@pytest.mark.parametrize("factor", [0.5, 1.0, 1.37])
def test_warp_moves_image_and_labels_together(angle: float, factor: float) -> None:
    image, labels = _marked()
    out_image, out_labels = warp(image, labels, factor, angle)
    assert out_image.shape == (round(70 * factor), round(90 * factor))
    assert _agreement(out_image, out_labels) > 0.8
    # the consolidation arm stays consolidation: no label values are blended
    assert set(np.unique(out_labels)) == {0, 1, 2}
    ratio = (out_labels > 0).sum() / (labels > 0).sum()
    assert ratio == pytest.approx(factor ** 2, rel=0.15)


def test_warp_without_change_is_exact_and_a_quarter_turn_is_a_rotation() -> None:
    image, labels = _marked(40, 40)
    same_image, same_labels = warp(image, labels, 1.0, 0.0)
    assert np.array_equal(same_image, image) and np.array_equal(same_labels, labels)
    _, turned = warp(image, labels, 1.0, 90.0)
    assert np.array_equal(turned, np.rot90(labels)) or np.array_equal(turned, np.rot90(labels, -1))


def test_crop_cuts_the_same_window() -> None:
    image, labels = _marked()
    rng = np.random.default_rng(3)
    crop_image, crop_labels = random_crop(image, labels, 32, rng)
    assert crop_image.shape == (32, 32)
    for y in range(image.shape[0] - 31):
        for x in range(image.shape[1] - 31):
            if np.array_equal(image[y:y + 32, x:x + 32], crop_image):
                assert np.array_equal(labels[y:y + 32, x:x + 32], crop_labels)
                return
    pytest.fail("the crop is not a window of the image")


def test_intensity_jitter_changes_only_the_image_and_stays_in_range() -> None:
    image, labels = _marked()
    cfg = AugmentConfig(hflip=0.0, rotate_deg=0.0, scale=(1.0, 1.0), contrast=0.5, brightness=0.3, gamma=(0.5, 2.0))
    out_image, out_labels = Augmenter(cfg, image_size=90)(image, labels, np.random.default_rng(1))
    assert np.array_equal(out_labels, labels)
    assert not np.allclose(out_image, image)
    assert 0.0 <= out_image.min() and out_image.max() <= 1.0
    jittered = jitter_intensity(image, cfg, np.random.default_rng(2))
    assert jittered[labels > 0].mean() > jittered[labels == 0].mean()  # monotone: bright stays brighter


def test_same_generator_state_same_result_and_resize_only_when_disabled() -> None:
    image, labels = _marked()
    augment = Augmenter(AugmentConfig(), image_size=64)
    a = augment(image, labels, np.random.default_rng([7, 1, 3]))
    b = augment(image, labels, np.random.default_rng([7, 1, 3]))
    c = augment(image, labels, np.random.default_rng([7, 2, 3]))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert a[0].shape != c[0].shape or not np.array_equal(a[0], c[0])
    plain_image, plain_labels = Augmenter(AugmentConfig(enabled=False), image_size=45)(image, labels, None)
    assert plain_image.shape == (35, 45) and _agreement(plain_image, plain_labels) > 0.8


def test_bad_augmentation_settings_are_input_errors() -> None:
    from core_models.errors import InputError

    for bad in (dict(hflip=1.5), dict(scale=(1.2, 0.8)), dict(rotate_deg=-1), dict(crop=4)):
        with pytest.raises(InputError):
            AugmentConfig(**bad)


@pytest.mark.parametrize("factor", [0.7, 1.3, 2.5])
def test_resizing_does_not_darken_the_border(factor: float) -> None:
    # border samples fall up to half a pixel outside the slice: they must read the edge, not air
    image = np.full((30, 40), 0.8, np.float32)
    labels = np.ones((30, 40), np.uint8)
    out_image, out_labels = warp(image, labels, factor, 0.0)
    assert np.allclose(out_image, 0.8, atol=1e-5) and (out_labels == 1).all()
