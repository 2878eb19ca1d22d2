"""Augmentation that keeps labels on the image: one geometric transform for both.

Every geometric step moves image and labels with the same coordinate map;
the image is interpolated bilinearly, the labels by nearest neighbour (no
new label values appear). Intensity steps touch the image only. The steps,
in order:

1. flips (left-right with probability ``hflip``, up-down with ``vflip``);
2. one affine warp that resizes the slice so its long side is
   ``image_size`` × a random zoom from ``scale``, and rotates it by a random
   angle within ±``rotate_deg`` about the centre (more than a pixel outside
   the slice: 0, i.e. air and background);
3. a random square crop of ``crop`` pixels (if set and the slice is larger);
4. contrast, brightness and gamma jitter, clipped to [0, 1].

All randomness comes from the ``numpy.random.Generator`` passed in, so the
same generator state gives the same result.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from training.config import AugmentConfig


class Augmenter:
    """Random, label-preserving transforms of a (image, labels) slice.

    Parameters
    ----------
    config : which transforms and how strong (``enabled=False``: resize only).
    image_size : long side in pixels after the resize (before the zoom).
    """

    def __init__(self, config: AugmentConfig, image_size: int) -> None:
        self.config = config
        self.image_size = int(image_size)

    def __call__(self, image: np.ndarray, labels: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Transformed float32 image in [0, 1] and uint8 labels of the same shape."""
        cfg = self.config
        if not cfg.enabled:
            return warp(image, labels, self.image_size / max(image.shape), 0.0)
        if rng.random() < cfg.hflip:
            image, labels = image[:, ::-1], labels[:, ::-1]
        if rng.random() < cfg.vflip:
            image, labels = image[::-1], labels[::-1]
        zoom = float(rng.uniform(*cfg.scale))
        angle = float(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
        image, labels = warp(image, labels, self.image_size / max(image.shape) * zoom, angle)
        if cfg.crop:
            image, labels = random_crop(image, labels, int(cfg.crop), rng)
        return jitter_intensity(image, cfg, rng), labels


def warp(image: np.ndarray, labels: np.ndarray, factor: float,
         angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Resize by ``factor`` and rotate by ``angle_deg`` degrees about the centre.

    The output has shape ``round(H · factor), round(W · factor)``. Pixel
    centres map exactly: output pixel (r, c) samples the input at
    ``R⁻¹ · ((r, c) − centre_out) / factor + centre_in``.
    """
    h, w = image.shape
    out_shape = (max(1, int(round(h * factor))), max(1, int(round(w * factor))))
    if out_shape == (h, w) and angle_deg == 0.0:
        return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(labels, dtype=np.uint8)
    theta = math.radians(angle_deg)
    cos, sin = math.cos(theta), math.sin(theta)
    inverse = np.array([[cos, -sin], [sin, cos]]) / factor
    centre_in = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    centre_out = np.array([(out_shape[0] - 1) / 2.0, (out_shape[1] - 1) / 2.0])
    # one edge pixel of margin: border samples that fall up to a pixel outside read the edge, not air
    offset = centre_in - inverse @ centre_out + 1.0
    padded_image = np.pad(np.asarray(image, dtype=np.float32), 1, mode="edge")
    padded_labels = np.pad(np.asarray(labels, dtype=np.uint8), 1, mode="edge")
    new_image = ndimage.affine_transform(padded_image, inverse, offset, out_shape, order=1, mode="constant", cval=0.0)
    new_labels = ndimage.affine_transform(padded_labels, inverse, offset, out_shape, order=0, mode="constant", cval=0)
    return np.clip(new_image, 0.0, 1.0).astype(np.float32, copy=False), new_labels


def random_crop(image: np.ndarray, labels: np.ndarray, size: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random ``size`` × ``size`` window (smaller sides are kept whole)."""
    h, w = image.shape
    ch, cw = min(size, h), min(size, w)
    y0 = int(rng.integers(0, h - ch + 1))
    x0 = int(rng.integers(0, w - cw + 1))
    window = (slice(y0, y0 + ch), slice(x0, x0 + cw))
    return np.ascontiguousarray(image[window]), np.ascontiguousarray(labels[window])


def jitter_intensity(image: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Contrast about the mean, brightness offset and gamma, in [0, 1] image units."""
    contrast = float(rng.uniform(1.0 - cfg.contrast, 1.0 + cfg.contrast))
    brightness = float(rng.uniform(-cfg.brightness, cfg.brightness))
    low, high = cfg.gamma
    gamma = float(math.exp(rng.uniform(math.log(low), math.log(high))))
    mean = float(image.mean()) if image.size else 0.0
    out = (image - mean) * contrast + mean + brightness
    out = np.clip(out, 0.0, 1.0) ** gamma
    return out.astype(np.float32, copy=False)
