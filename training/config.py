"""Training settings as dataclasses, saved as ``config.json`` beside each run.

Defaults (documented here once; ``lesionloop train --help`` repeats them):

- network: ``maskrcnn_light``, ResNet18 cut after ``layer3`` (truncation 1),
  GroupNorm, mask type ``both``, anchors (8, 16, 32, 64, 128) × (0.5, 1, 2)
  (the BASELINES run), no semantic head;
- optimiser: AdamW, learning rate 1e-3 from scratch and 1e-4 when
  fine-tuning (``--init``), weight decay 1e-4 (not on norms and biases),
  betas (0.9, 0.999);
- schedule: linear warm-up from 0.1 × lr over the first 5 % of the steps
  (at least 1, at most 500), then cosine decay to 0.01 × lr at the last step;
- batch 2, 20 epochs, gradient clipping at a global norm of 5, fixed seed 0;
- images: resized so the long side is 384 px (the model's own transform
  is set to the same size, so inference sees what training saw);
- instances: connected components of each class with at least 101 pixels
  (the seed's "area > 100") at training resolution;
- best checkpoint by validation ``dice_binary`` (higher is better);
- mixed precision on CUDA only: bfloat16 where the GPU supports it, else
  float16 with gradient scaling.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from core_models.errors import InputError
from core_models.nets.mask_types import MASK_TYPES

#: validation metrics that can pick the best checkpoint (all: higher is better)
BEST_METRICS: tuple[str, ...] = ("dice_binary", "dice_ggo", "dice_consolidation", "map", "ap50", "ap75")
#: the named validation split of BASELINES.md
MEDSEG_SPLIT = "medseg-split"
DEFAULT_LR = 1e-3
DEFAULT_FINETUNE_LR = 1e-4
BASELINE_ANCHOR_SIZES: tuple[float, ...] = (8.0, 16.0, 32.0, 64.0, 128.0)
BASELINE_ANCHOR_RATIOS: tuple[float, ...] = (0.5, 1.0, 2.0)


@dataclass
class AugmentConfig:
    """Random transforms applied to training slices (image and labels alike).

    Attributes
    ----------
    enabled : bool
        False keeps only the resize to ``image_size``.
    hflip, vflip : float
        Probabilities of a left-right and an up-down flip.
    rotate_deg : float
        Rotations are drawn uniformly from ±``rotate_deg`` degrees.
    scale : (float, float)
        Zoom factor range applied on top of the resize (1 = none).
    contrast : float
        Contrast factor drawn from 1 ± ``contrast`` (image only).
    brightness : float
        Offset drawn from ±``brightness`` in [0, 1] image units (image only).
    gamma : (float, float)
        Gamma drawn log-uniformly from this range (image only).
    crop : int or None
        Side in pixels of a random square crop after the resize (None: no crop).
    """

    enabled: bool = True
    hflip: float = 0.5
    vflip: float = 0.0
    rotate_deg: float = 10.0
    scale: tuple[float, float] = (0.85, 1.15)
    contrast: float = 0.15
    brightness: float = 0.05
    gamma: tuple[float, float] = (0.8, 1.25)
    crop: int | None = None

    def __post_init__(self) -> None:
        self.scale = (float(self.scale[0]), float(self.scale[1]))
        self.gamma = (float(self.gamma[0]), float(self.gamma[1]))
        for name in ("hflip", "vflip"):
            _check(0.0 <= getattr(self, name) <= 1.0, f"augmentation {name} must be a probability in [0, 1]")
        _check(0.0 <= self.rotate_deg <= 90.0, "augmentation rotation must be 0-90 degrees")
        _check(0.1 <= self.scale[0] <= self.scale[1] <= 10.0, f"augmentation scale range {self.scale} is not valid")
        _check(0.0 <= self.contrast < 1.0 and 0.0 <= self.brightness < 1.0,
               "augmentation contrast and brightness must be in [0, 1)")
        _check(0.1 <= self.gamma[0] <= self.gamma[1] <= 10.0, f"augmentation gamma range {self.gamma} is not valid")
        _check(self.crop is None or int(self.crop) >= 16, "crop size must be at least 16 pixels")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AugmentConfig:
        return cls(**_known(cls, data, "augment"))


@dataclass
class TrainConfig:
    """Everything one training run needs; see the module docstring for the defaults.

    Attributes
    ----------
    data, val : lists of paths (``val`` may be ``["medseg-split"]``).
    out : run folder (``best/``, ``last/``, ``state.pt``, ``curves.jsonl``, ``config.json``).
    builder, backbone, truncation, norm, mask_type, semantic_head, anchor_sizes,
    anchor_ratios, builder_args : the network (``builder_args`` adds builder keywords).
    epochs, batch, lr, weight_decay, warmup_fraction, min_lr_ratio, grad_clip : optimisation.
    image_size : long side of training images in pixels (and the model's resize).
    min_area : smallest connected component (pixels) that becomes an instance.
    init : model folder or registered version to fine-tune from.
    seed, device, workers, amp : reproducibility and hardware.
    log_every : steps between curve lines.
    best_metric : validation metric that picks ``best/``.
    score_threshold : detection score drawn into the label map (spec).
    val_batch : slices per forward pass during validation.
    version : model version name written into the spec (default: the run folder's name).
    """

    data: list[str] = field(default_factory=list)
    out: str = ""
    val: list[str] = field(default_factory=list)
    builder: str = "maskrcnn_light"
    backbone: str = "resnet18"
    truncation: int = 1
    norm: str = "group"
    mask_type: str = "both"
    semantic_head: bool = False
    anchor_sizes: tuple[float, ...] = BASELINE_ANCHOR_SIZES
    anchor_ratios: tuple[float, ...] = BASELINE_ANCHOR_RATIOS
    builder_args: dict[str, Any] = field(default_factory=dict)
    epochs: int = 20
    batch: int = 2
    lr: float | None = None
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    min_lr_ratio: float = 0.01
    grad_clip: float = 5.0
    image_size: int | None = None
    min_area: int = 101
    init: str | None = None
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    amp: bool = True
    log_every: int = 10
    best_metric: str = "dice_binary"
    score_threshold: float = 0.3
    val_batch: int = 4
    version: str | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig.from_json(self.augment)
        self.data, self.val = [str(p) for p in self.data], [str(p) for p in self.val]
        self.anchor_sizes = tuple(float(v) for v in self.anchor_sizes)
        self.anchor_ratios = tuple(float(v) for v in self.anchor_ratios)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`InputError` on settings that cannot work."""
        _check(bool(self.data), "no training data given (--data PATH ...)")
        _check(bool(self.out), "no output folder given (--out DIR)")
        _check(self.mask_type in MASK_TYPES, f"mask type must be one of {', '.join(MASK_TYPES)}")
        _check(_whole(self.epochs, 1, 100_000), f"epochs must be a whole number >= 1, got {self.epochs}")
        _check(_whole(self.batch, 1, 1024), f"batch must be a whole number from 1 to 1024, got {self.batch}")
        _check(self.lr is None or (math.isfinite(self.lr) and 0 < self.lr <= 1.0),
               f"learning rate must be in (0, 1], got {self.lr}")
        _check(0.0 <= self.weight_decay <= 1.0, f"weight decay must be in [0, 1], got {self.weight_decay}")
        _check(0.0 <= self.warmup_fraction < 1.0, "warm-up fraction must be in [0, 1)")
        _check(0.0 <= self.min_lr_ratio <= 1.0, "minimum learning-rate ratio must be in [0, 1]")
        _check(self.grad_clip > 0, f"gradient clipping norm must be positive, got {self.grad_clip}")
        _check(self.image_size is None or _whole(self.image_size, 32, 4096),
               f"image size must be 32-4096 pixels, got {self.image_size}")
        _check(_whole(self.min_area, 1, 10**7), f"minimum instance area must be >= 1 pixel, got {self.min_area}")
        _check(_whole(self.workers, 0, 64), f"workers must be 0-64, got {self.workers}")
        _check(_whole(self.log_every, 1, 10**6), "log interval must be >= 1 step")
        _check(self.best_metric in BEST_METRICS, f"best metric must be one of {', '.join(BEST_METRICS)}")
        _check(0.0 <= self.score_threshold <= 1.0, "score threshold must be in [0, 1]")
        _check(_whole(self.val_batch, 1, 1024), "validation batch must be >= 1")
        _check(isinstance(self.builder_args, dict), "builder arguments must be a JSON object")
        _check(_whole(self.seed, 0, 2**63 - 1), f"seed must be a whole number >= 0, got {self.seed}")

    @property
    def learning_rate(self) -> float:
        """The learning rate in use: ``lr``, or the default for scratch / fine-tuning."""
        if self.lr is not None:
            return float(self.lr)
        return DEFAULT_FINETUNE_LR if self.init else DEFAULT_LR

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["anchor_sizes"], data["anchor_ratios"] = list(self.anchor_sizes), list(self.anchor_ratios)
        data["augment"]["scale"], data["augment"]["gamma"] = list(self.augment.scale), list(self.augment.gamma)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        body = _known(cls, data, "training config")
        body["augment"] = AugmentConfig.from_json(body.get("augment", {}))
        return cls(**body)


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise InputError(message)


def _known(cls: type, data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InputError(f"{what} must be a JSON object")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"{what}: unknown setting(s) {', '.join(unknown)}")
    return dict(data)
