"""Small on-disk data sets and tiny training settings for the training tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from core_models.phantom import PhantomConfig, write_phantoms
from training.config import AugmentConfig, TrainConfig

TINY_BUILDER_ARGS = {"anchor_sizes": [8, 16, 32]}


def lesion_slice(height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An 8-bit grey slice with a GGO square and a consolidation disc, and its labels (0/1/2)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(10, 40, (height, width)).astype(np.uint8)
    labels = np.zeros((height, width), np.uint8)
    y0, x0 = rng.integers(4, height // 2 - 4), rng.integers(4, width // 2 - 4)
    labels[y0:y0 + height // 3, x0:x0 + width // 3] = 1
    yy, xx = np.mgrid[:height, :width]
    cy, cx = int(height * 0.7), int(width * 0.7)
    labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= (min(height, width) // 8) ** 2] = 2
    image[labels == 1] = 120
    image[labels == 2] = 220
    return image, labels


def write_medseg(folder: Path, numbers: list[int], size: tuple[int, int] = (60, 72)) -> Path:
    """A MedSeg-layout folder: images/N.jpg (grey) and masks/N.png (0/1/2)."""
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    for i, n in enumerate(numbers):
        h, w = size[0] + 2 * (i % 3), size[1] - i % 2  # sizes vary, as in MedSeg
        image, labels = lesion_slice(h, w, n)
        Image.fromarray(image).save(folder / "images" / f"{n}.jpg", quality=95)
        Image.fromarray(labels).save(folder / "masks" / f"{n}.png")
    return folder


def write_seed_pngs(folder: Path, names: list[str], size: int = 48) -> Path:
    """A seed-layout folder: imgs/*.png and masks/*.png in the seed convention (1 = lung)."""
    (folder / "imgs").mkdir(parents=True)
    (folder / "masks").mkdir()
    for i, name in enumerate(names):
        image, labels = lesion_slice(size, size, i)
        seed_mask = np.where(labels == 0, 1, labels + 1).astype(np.uint8)
        seed_mask[:2] = 0
        Image.fromarray(image).save(folder / "imgs" / name)
        Image.fromarray(seed_mask).save(folder / "masks" / name)
    return folder


def write_phantom(folder: Path, cases: int = 1, slices: int = 3, seed: int = 1, kind: str = "covid") -> Path:
    """A small ``lesionloop phantom`` folder (64² slices, no vessels: fast)."""
    write_phantoms(folder, cases, seed, PhantomConfig(size=64, slices=slices, kind=kind, vessels=False))
    return folder


def tiny_config(out: Path, data: list[Path], val: list[Path] | None = None, **overrides) -> TrainConfig:
    """A training config small enough for a test: ResNet18 cut at layer2, 64-pixel images."""
    fields = dict(data=[str(p) for p in data], val=[str(p) for p in (val or [])], out=str(out), truncation=2,
                  image_size=64, builder_args=dict(TINY_BUILDER_ARGS), epochs=2, batch=2, min_area=5,
                  device="cpu", log_every=1, score_threshold=0.0, augment=AugmentConfig(rotate_deg=5.0))
    fields.update(overrides)
    return TrainConfig(**fields)


def tiny_cli_args(out: Path, data: list[Path], *extra: str) -> list[str]:
    """``train`` command-line arguments matching :func:`tiny_config`."""
    return ["train", "--data", *map(str, data), "--out", str(out), "--truncation", "2", "--image-size", "64",
            "--builder-args", '{"anchor_sizes": [8, 16, 32]}', "--epochs", "2", "--batch", "2", "--min-area", "5",
            "--device", "cpu", *extra]


def run_main(argv: list[str]) -> int:
    """Exit status of ``python -m training ARGV``, argparse's SystemExit included."""
    from training.__main__ import main

    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)
