"""Model specification saved as ``spec.json`` beside each checkpoint.

A :class:`ModelSpec` names the registered builder and its arguments, the
mask type and how model classes map to our label values, the
preprocessing, the label table, thresholds, the optional classification
module S and the model's history (:class:`ModelMetadata`). The viewer and
training take preprocessing only from here.

Preprocessing is split in two, so nothing normalises twice:

1. :func:`preprocess_slice` (ours) turns a 2D slice into a ``(3, H, W)``
   float tensor in [0, 1]: Hounsfield units through the lung window
   (level −600 HU, width 1500 HU by default), or 8-bit grey divided by 255,
   replicated to three channels;
2. the network's own transform (torchvision ``GeneralizedRCNNTransform``)
   resizes to ``min_size``/``max_size`` and subtracts ``image_mean`` /
   divides by ``image_std``. :func:`build` passes those four values from
   :class:`Preprocessing` to the builder; do not normalise the tensor yourself.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch
from torch import nn

from core_models.errors import InputError, ModelError
from core_models.labels import default_label_table
from core_models.nets import MaskRCNNClassifier, build_model, class_to_label_for
from core_models.nets.mask_types import check_mask_type
from core_models.nets.maskrcnn import IMAGENET_MEAN, IMAGENET_STD
from core_models.nets.roi_ranking import VARIANTS

SCHEMA = 1
INPUT_KINDS = ("hu", "8bit")
#: the seed thresholded raw mask logits at 0.5; as a probability that is sigmoid(0.5)
SEED_MASK_THRESHOLD = 1.0 / (1.0 + math.exp(-0.5))
_PREP_MODEL_KEYS = ("image_mean", "image_std", "min_size", "max_size")


@dataclass
class Preprocessing:
    """How a slice becomes model input.

    Attributes
    ----------
    input_kind : {"hu", "8bit"}
        Hounsfield units (windowed) or 8-bit display grey (divided by 255).
    window_level, window_width : float
        Lung window in HU for ``"hu"`` input (default L −600, W 1500).
    image_mean, image_std : three floats
        Per-channel normalisation applied by the model's transform (ImageNet).
    min_size, max_size : int
        Resize bounds in pixels applied by the model's transform (seed 512/1024).
    """

    input_kind: str = "hu"
    window_level: float = -600.0
    window_width: float = 1500.0
    image_mean: tuple[float, ...] = IMAGENET_MEAN
    image_std: tuple[float, ...] = IMAGENET_STD
    min_size: int = 512
    max_size: int = 1024

    def __post_init__(self) -> None:
        if self.input_kind not in INPUT_KINDS:
            raise ModelError(f"preprocessing input_kind must be one of {', '.join(INPUT_KINDS)}, got {self.input_kind!r}")
        if not self.window_width > 0:
            raise ModelError(f"window width must be positive, got {self.window_width} HU")
        self.image_mean = tuple(float(v) for v in self.image_mean)
        self.image_std = tuple(float(v) for v in self.image_std)
        if len(self.image_mean) != 3 or len(self.image_std) != 3 or min(self.image_std) <= 0:
            raise ModelError("image_mean and image_std need three values each, std positive")
        if not 0 < int(self.min_size) <= int(self.max_size):
            raise ModelError(f"need 0 < min_size <= max_size, got {self.min_size}, {self.max_size}")
        self.min_size, self.max_size = int(self.min_size), int(self.max_size)

    def model_kwargs(self) -> dict[str, Any]:
        """The values the network's transform takes (normalisation and resize)."""
        return {key: getattr(self, key) for key in _PREP_MODEL_KEYS}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["image_mean"], data["image_std"] = list(self.image_mean), list(self.image_std)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Preprocessing:
        return cls(**_known_fields(cls, data, "preprocessing"))


def preprocess_slice(slice2d: np.ndarray, prep: Preprocessing, *, is_hu: bool | None = None) -> torch.Tensor:
    """A 2D slice as a ``(3, H, W)`` float32 tensor in [0, 1].

    Hounsfield units are mapped through the lung window (level − width/2 → 0,
    level + width/2 → 1, clipped); 8-bit grey values 0-255 are divided by 255.
    The grey image is replicated to three channels. Mean/std normalisation is
    NOT applied here: the model's transform does it.

    Parameters
    ----------
    slice2d : (H, W) array
        HU or 8-bit grey values.
    prep : Preprocessing
    is_hu : bool, optional
        What the slice holds (``CTVolume.is_hu``). Default: what the model was
        trained on (``prep.input_kind``). A HU slice given to an ``"8bit"``
        model is windowed, which is how display-windowed 8-bit images were made.

    Raises
    ------
    InputError
        When the slice is not 2D, is empty, holds non-finite values, or (for
        8-bit input) holds values outside 0-255.
    """
    array = np.asarray(slice2d)
    if array.ndim != 2 or array.size == 0:
        raise InputError(f"expected a non-empty 2D slice, got an array of shape {array.shape}")
    values = array.astype(np.float32, copy=False)
    if not np.isfinite(values).all():
        raise InputError("the slice holds NaN or infinite values")
    hu = prep.input_kind == "hu" if is_hu is None else bool(is_hu)
    if not hu:
        if values.min() < 0 or values.max() > 255:
            raise InputError(
                f"the slice holds values {values.min():.0f}..{values.max():.0f}; 8-bit grey must be 0-255")
        grey = values / 255.0
    else:
        lower = prep.window_level - prep.window_width / 2.0
        grey = np.clip((values - lower) / prep.window_width, 0.0, 1.0)
    tensor = torch.from_numpy(np.ascontiguousarray(grey, dtype=np.float32))
    return tensor.unsqueeze(0).expand(3, -1, -1).contiguous()


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class ModelMetadata:
    """History of a model version.

    Attributes
    ----------
    version : str
        Version name in the registry (e.g. ``"v3"``).
    parent : str or None
        Version it was fine-tuned from.
    data_hash : str or None
        Hash of the training data (slices and labels).
    metrics : dict
        Validation figures (e.g. ``{"dice_ggo": 0.61}``).
    created : str
        ISO 8601 time (UTC).
    command : str
        Command line that made it.
    notes : str
        Free text (e.g. what a seed import skipped).
    """

    version: str = "0"
    parent: str | None = None
    data_hash: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=_now_iso)
    command: str = ""
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelMetadata:
        return cls(**_known_fields(cls, data, "metadata"))


def _known_fields(cls: type, data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ModelError(f"model spec: {what} must be a JSON object")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ModelError(f"model spec: unknown {what} field(s) {', '.join(unknown)}")
    return dict(data)


def _check_classifier(classifier: dict[str, Any] | None) -> dict[str, Any] | None:
    if classifier is None:
        return None
    if not isinstance(classifier, dict) or "R" not in classifier or "s" not in classifier:
        raise ModelError("model spec: classifier needs R (ranked RoIs) and s (hidden width)")
    out = {"variant": "seed", "trained_on": "", **classifier}
    if int(out["R"]) < 1 or int(out["s"]) < 1 or out["variant"] not in VARIANTS:
        raise ModelError(f"model spec: bad classifier settings {classifier}")
    out["R"], out["s"] = int(out["R"]), int(out["s"])
    return out


@dataclass
class ModelSpec:
    """Everything needed to rebuild and use a model; saved as ``spec.json``.

    Attributes
    ----------
    builder : str
        Registered builder name (:func:`core_models.nets.registered_models`).
    builder_args : dict
        Keyword arguments of the builder, except ``mask_type`` and the
        preprocessing values (``image_mean``, ``image_std``, ``min_size``,
        ``max_size``), which come from the fields below.
    mask_type : {"both", "ggo", "merge"}
    class_to_label : dict
        Model class index -> our label value (1 GGO, 2 consolidation). For
        ``merge`` the single lesion class maps to 1 (GGO): the label table
        has no "lesion" value. Defaults from ``mask_type``.
    preprocessing : Preprocessing
    label_table : dict
        :meth:`core_models.labels.LabelTable.to_json` of the labels used.
    mask_threshold : float
        Mask probability threshold (0.5). The seed thresholded logits at
        0.5 by mistake; :data:`SEED_MASK_THRESHOLD` (≈ 0.622) reproduces it.
    score_threshold : float
        Minimum detection score drawn into the label map.
    restrict_to_lungs : bool
        Drop predicted lesions that lie mostly outside the lungs (see
        :mod:`core_models.lung_region`) on HU volumes; 8-bit images are never
        filtered. For models trained on slices cropped to the lungs and run on
        whole chest CTs (default False; specs without it read as False).
    classifier : dict or None
        Module S settings: ``R``, ``s``, ``variant`` ("seed"/"decoded"),
        ``trained_on`` (e.g. ``"phantom"``), optional ``nms_thresh``.
    metadata : ModelMetadata
    """

    builder: str
    builder_args: dict[str, Any] = field(default_factory=dict)
    mask_type: str = "both"
    class_to_label: dict[int, int] | None = None
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    label_table: dict[str, Any] = field(default_factory=lambda: default_label_table().to_json())
    mask_threshold: float = 0.5
    score_threshold: float = 0.3
    restrict_to_lungs: bool = False
    classifier: dict[str, Any] | None = None
    metadata: ModelMetadata = field(default_factory=ModelMetadata)

    def __post_init__(self) -> None:
        check_mask_type(self.mask_type)
        clash = sorted(set(self.builder_args) & set(_PREP_MODEL_KEYS + ("mask_type",)))
        if clash:
            raise ModelError(f"model spec: {', '.join(clash)} belong in the spec's own fields, not builder_args")
        if self.class_to_label is None:
            self.class_to_label = class_to_label_for(self.mask_type)
        self.class_to_label = {int(k): int(v) for k, v in self.class_to_label.items()}
        if not 0.0 < float(self.mask_threshold) < 1.0 or not 0.0 <= float(self.score_threshold) <= 1.0:
            raise ModelError("model spec: mask_threshold must be in (0, 1) and score_threshold in [0, 1]")
        if not isinstance(self.restrict_to_lungs, (bool, np.bool_)):
            raise ModelError(f"model spec: restrict_to_lungs must be true or false, got {self.restrict_to_lungs!r}")
        self.restrict_to_lungs = bool(self.restrict_to_lungs)
        self.classifier = _check_classifier(self.classifier)

    def model_kwargs(self) -> dict[str, Any]:
        """All keyword arguments for the builder."""
        return {**self.builder_args, "mask_type": self.mask_type, **self.preprocessing.model_kwargs()}

    def build(self) -> nn.Module:
        """The network this spec describes (untrained weights)."""
        return build(self)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with a ``schema`` number."""
        return {
            "schema": SCHEMA, "builder": self.builder, "builder_args": _jsonable(self.builder_args),
            "mask_type": self.mask_type,
            "class_to_label": {str(k): v for k, v in sorted(self.class_to_label.items())},
            "preprocessing": self.preprocessing.to_json(), "label_table": self.label_table,
            "mask_threshold": float(self.mask_threshold), "score_threshold": float(self.score_threshold),
            "restrict_to_lungs": self.restrict_to_lungs, "classifier": self.classifier, "metadata": self.metadata.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> ModelSpec:
        """Parse :meth:`to_json` output; :class:`ModelError` on a bad or newer spec."""
        if not isinstance(data, dict) or "builder" not in data:
            raise ModelError("model spec is not a JSON object with a 'builder'")
        schema = data.get("schema")
        if not isinstance(schema, int) or schema < 1:
            raise ModelError(f"model spec has no valid schema number (got {schema!r})")
        if schema > SCHEMA:
            raise ModelError(f"model spec schema {schema} is newer than this LesionLoop reads ({SCHEMA}); update LesionLoop")
        body = _known_fields(cls, {k: v for k, v in data.items() if k != "schema"}, "spec")
        try:
            body["preprocessing"] = Preprocessing.from_json(body.get("preprocessing", {}))
            body["metadata"] = ModelMetadata.from_json(body.get("metadata", {}))
            return cls(**body)
        except (TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"model spec is malformed: {exc}") from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def build(spec: ModelSpec) -> nn.Module:
    """Build the (untrained) network of ``spec``: the detector, wrapped with S when ``spec.classifier``."""
    detector = build_model(spec.builder, **spec.model_kwargs())
    if spec.classifier is None:
        return detector
    c = spec.classifier
    return MaskRCNNClassifier(detector, c["R"], c["s"], c["variant"], c.get("nms_thresh"))
