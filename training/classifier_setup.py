"""Settings, model set-up and evaluation for training classification module S.

:class:`ClassifierConfig` holds one run's settings (saved as ``config.json``).
:func:`prepare_classifier` loads the ``--init`` segmentation model, wraps it
with S (or keeps the S it already has) and freezes it the seed's way
(:func:`core_models.nets.freeze_for_classifier`): S and the normalisation
layers' affine weights learn; BatchNorm running statistics stay frozen; a
GroupNorm network has no running statistics. With ``s_only`` the detector
is frozen entirely, so its weights - and its segmentation outputs - stay
bit-identical to the ``--init`` model's.

:func:`evaluate_classifier` scores S on slices with known classes:
accuracy, per-class sensitivity and the confusion matrix
(:func:`core_models.metrics.classification.classification_report`).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from core_models.checkpoints import load_model
from core_models.errors import InputError, ModelError
from core_models.metrics.classification import classification_report
from core_models.model_spec import ModelSpec
from core_models.model_store import resolve_model_dir
from core_models.nets import MaskRCNNClassifier, freeze_for_classifier
from core_models.nets.maskrcnn import LesionMaskRCNN
from core_models.nets.roi_ranking import VARIANTS
from training.config import _check, _known, _whole
from training.data.classification import ClassImageLoader
from training.data.records import SliceRecord

#: validation figures that can pick ``best/`` (higher is better)
CLASSIFIER_BEST_METRICS: tuple[str, ...] = ("accuracy", "mean_sensitivity")
#: the seed's lightweight classifier: R = 128 ranked RoIs, s = 512 hidden features
DEFAULT_ROI_BATCH = 128
DEFAULT_S_FEATURES = 512
#: short metric keys of the three classes (Control, common pneumonia, COVID-19)
CLASS_KEYS: tuple[str, ...] = ("control", "cp", "covid19")


@dataclass
class ClassifierConfig:
    """Everything one classifier run needs.

    Attributes
    ----------
    init : segmentation model folder or registered version (required: S is never trained from scratch).
    data, val : ``--data`` / ``--val`` paths (see :mod:`training.data.classification`).
    out : run folder (``best/``, ``last/``, ``state.pt``, ``curves.jsonl``, ``config.json``).
    epochs, batch : passes over the data; images per step (the seed: 1).
    lr, weight_decay, warmup_fraction, min_lr_ratio, grad_clip : AdamW with warm-up and cosine decay.
    roi_batch, s_features, variant : R, s and the row variant of S (None: the init model's, else 128 / 512).
    s_only : train S alone (detector bit-identical) instead of S + norm affine weights.
    lesion_slices_only : leave out CP / COVID-19 slices whose labels show no lesion.
    best_metric : validation figure that picks ``best/``.
    seed, device, log_every, version : reproducibility, hardware, curve interval, model version name.
    """

    init: str = ""
    data: list[str] = field(default_factory=list)
    out: str = ""
    val: list[str] = field(default_factory=list)
    epochs: int = 10
    batch: int = 1
    lr: float = 1e-4
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    min_lr_ratio: float = 0.01
    grad_clip: float = 5.0
    roi_batch: int | None = None
    s_features: int | None = None
    variant: str = "seed"
    s_only: bool = False
    lesion_slices_only: bool = True
    best_metric: str = "accuracy"
    seed: int = 0
    device: str = "auto"
    log_every: int = 10
    version: str | None = None

    def __post_init__(self) -> None:
        self.data, self.val = [str(p) for p in self.data], [str(p) for p in self.val]
        self.validate()

    def validate(self) -> None:
        """Raise :class:`InputError` on settings that cannot work."""
        _check(bool(self.init), "classifier S is built on a segmentation model: give --init MODEL")
        _check(bool(self.data), "no training data given (--data PATH ...)")
        _check(bool(self.out), "no output folder given (--out DIR)")
        _check(_whole(self.epochs, 1, 100_000), f"epochs must be a whole number >= 1, got {self.epochs}")
        _check(_whole(self.batch, 1, 1024), f"batch must be a whole number from 1 to 1024, got {self.batch}")
        _check(math.isfinite(self.lr) and 0 < self.lr <= 1.0, f"learning rate must be in (0, 1], got {self.lr}")
        _check(0.0 <= self.weight_decay <= 1.0, f"weight decay must be in [0, 1], got {self.weight_decay}")
        _check(0.0 <= self.warmup_fraction < 1.0 and 0.0 <= self.min_lr_ratio <= 1.0, "bad learning-rate schedule")
        _check(self.grad_clip > 0, f"gradient clipping norm must be positive, got {self.grad_clip}")
        for name in ("roi_batch", "s_features"):
            value = getattr(self, name)
            _check(value is None or _whole(value, 1, 65_536), f"{name} must be a whole number >= 1, got {value}")
        _check(self.variant in VARIANTS, f"classifier variant must be one of {', '.join(VARIANTS)}")
        _check(self.best_metric in CLASSIFIER_BEST_METRICS,
               f"best metric must be one of {', '.join(CLASSIFIER_BEST_METRICS)}")
        _check(_whole(self.seed, 0, 2**63 - 1), f"seed must be a whole number >= 0, got {self.seed}")
        _check(_whole(self.log_every, 1, 10**6), "log interval must be >= 1 step")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClassifierConfig:
        return cls(**_known(cls, data, "classifier config"))


def _wrap(model: nn.Module, spec: ModelSpec, config: ClassifierConfig) -> MaskRCNNClassifier:
    """``model`` with S: its own S when the init model has one (R and s must then agree)."""
    if isinstance(model, MaskRCNNClassifier):
        c = spec.classifier or {}
        for name, key in (("roi_batch", "R"), ("s_features", "s")):
            given = getattr(config, name)
            if given is not None and int(given) != int(c[key]):
                raise InputError(f"the --init model already has S with {key}={c[key]}; drop "
                                 f"--{name.replace('_', '-')} {given} or start from its segmentation model")
        if config.variant != c.get("variant", "seed"):
            raise InputError(f"the --init model's S uses the {c.get('variant')!r} variant, not {config.variant!r}")
        return model
    if not isinstance(model, LesionMaskRCNN):
        raise ModelError("classifier S needs a Mask R-CNN segmentation model from core_models.nets as --init")
    return MaskRCNNClassifier(model, config.roi_batch or DEFAULT_ROI_BATCH, config.s_features or DEFAULT_S_FEATURES,
                              config.variant)


def prepare_classifier(config: ClassifierConfig) -> tuple[MaskRCNNClassifier, ModelSpec, dict[str, Any]]:
    """The classifier to train (frozen as the config says), its spec, and the init model's metrics.

    The spec is a copy of the init model's with ``classifier`` set; its
    ``trained_on`` is filled in by the trainer from the data.
    """
    model, spec = load_model(resolve_model_dir(config.init))
    spec = copy.deepcopy(spec)
    classifier = _wrap(model, spec, config)
    spec.classifier = {"R": classifier.roi_batch, "s": classifier.s_module.hidden2.in_features,
                       "variant": classifier.variant, "trained_on": "",
                       **({"nms_thresh": spec.classifier["nms_thresh"]}
                          if spec.classifier and "nms_thresh" in spec.classifier else {})}
    freeze_for_classifier(classifier)
    if config.s_only:
        for param in classifier.detector.parameters():
            param.requires_grad_(False)
    return classifier, spec, dict(spec.metadata.metrics or {})


def detector_frozen(model: MaskRCNNClassifier) -> bool:
    """True when no detector weight trains (S's input rows then depend on the image only)."""
    return not any(p.requires_grad for p in model.detector.parameters())


def class_logits(model: MaskRCNNClassifier, images: Sequence[torch.Tensor]) -> torch.Tensor:
    """S's class logits ``(N, 3)`` for model inputs, in eval mode without gradients."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outputs = model(list(images), detections=False)
    finally:
        model.train(was_training)
    return torch.stack([o["class_logits"] for o in outputs])


def ranked_rows(model: MaskRCNNClassifier, image: torch.Tensor) -> torch.Tensor:
    """S's input for one image: its ``(R, 5)`` ranked RoI rows (eval mode, no gradients)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model([image], detections=False)[0]["ranked_rois"]
    finally:
        model.train(was_training)


def flat_metrics(report: dict[str, Any]) -> dict[str, Any]:
    """A classification report as flat figures: accuracy, mean and per-class sensitivity, confusion matrix."""
    out: dict[str, Any] = {"accuracy": report["accuracy"], "mean_sensitivity": report["mean_sensitivity"]}
    for key, (name, rates) in zip(CLASS_KEYS, report["classes"].items()):
        out[f"sensitivity_{key}"] = rates["sensitivity"]
        out[f"support_{key}"] = rates["support"]
    out["confusion_matrix"] = report["confusion_matrix"]
    return out


def evaluate_classifier(model: MaskRCNNClassifier, records: Sequence[SliceRecord], loader: ClassImageLoader, *,
                        device: torch.device | str = "cpu",
                        logits_of: Callable[[SliceRecord], torch.Tensor] | None = None) -> dict[str, Any]:
    """Accuracy, per-class sensitivity and confusion matrix of S on ``records``.

    Parameters
    ----------
    model : the classifier (run in eval mode on ``device``).
    records : slices with ``class_id``.
    loader : turns a record into model input.
    logits_of : optional shortcut giving one record's logits (e.g. from cached rows).

    Returns
    -------
    dict
        :func:`flat_metrics` figures plus ``predictions``: ``[sample_id, true, predicted]`` per slice.
    """
    device = torch.device(device)
    truth, predicted = [], []
    for record in records:
        if logits_of is not None:
            logits = logits_of(record)
        else:
            logits = class_logits(model, [loader.image(record).to(device)])[0]
        truth.append(int(record.class_id))
        predicted.append(int(logits.argmax()))
    figures = flat_metrics(classification_report(truth, predicted))
    figures["predictions"] = [[r.sample_id, t, p] for r, t, p in zip(records, truth, predicted)]
    return figures
