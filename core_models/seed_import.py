"""Import a COVID-CT-Mask-Net (seed) checkpoint without running pickled code.

A seed checkpoint is a ``torch.save`` dict: ``model_weights`` (a state dict),
``epoch``, ``model_name``, ``optimizer_state``, ``lrate`` and a pickled
``anchor_generator`` object. Unpickling such a file with :mod:`pickle` or
``torch.load(weights_only=False)`` would run whatever its pickle names, so
this module reads it with :func:`core_models.torch_archive.read_torch_archive`
(a restricted unpickler over the zip archive): tensors are rebuilt from the
archive's bytes and every other pickled object becomes an inert placeholder
that records its state and runs nothing. The anchor generator's sizes and
ratios are read back from that recorded state.

The weights are renamed from the seed's torchvision-0.3-era names to ours
(see :data:`RENAME_RULES`), checked, and saved as a LesionLoop model folder.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core_models.checkpoints import SPEC_NAME, load_state, save_model
from core_models.errors import ModelError
from core_models.model_spec import ModelMetadata, ModelSpec, Preprocessing, build
from core_models.nets import MaskRCNNClassifier, num_classes_for
from core_models.nets.mask_types import check_mask_type
from core_models.torch_archive import Placeholder, TorchArchive, read_torch_archive

#: the seed's evaluation command keeps detections with confidence >= 0.75
SEED_SCORE_THRESHOLD = 0.75

# --- seed names -> ours -------------------------------------------------------------------

#: (seed key pattern, our key template); keys matching none are used unchanged
RENAME_RULES: tuple[tuple[str, str], ...] = (
    (r"^backbone\.fpn\.(inner|layer)_blocks\.(\d+)\.(weight|bias)$", r"backbone.fpn.\1_blocks.\2.0.\3"),
    (r"^rpn\.head\.conv\.(weight|bias)$", r"rpn.head.conv.0.0.\1"),
    (r"^s2new\.fc_scores\.(weight|bias)$", r"s_module.hidden1.\1"),
    (r"^s2new\.fc_scores_2\.(weight|bias)$", r"s_module.hidden2.\1"),
    (r"^s2new\.fc_scores_img\.(weight|bias)$", r"s_module.out.\1"),
)
_MASK_FCN = re.compile(r"^roi_heads\.mask_head\.mask_fcn(\d+)\.(weight|bias)$")


def seed_key_to_ours(key: str, detector_prefix: str = "") -> str:
    """Our state-dict name for a seed name; detector keys get ``detector_prefix`` (``"detector."`` in a classifier)."""
    key = key[len("module."):] if key.startswith("module.") else key
    match = _MASK_FCN.match(key)
    if match:
        key = f"roi_heads.mask_head.{int(match.group(1)) - 1}.0.{match.group(2)}"
    else:
        for pattern, template in RENAME_RULES:
            if re.match(pattern, key):
                key = re.sub(pattern, template, key)
                break
    return key if key.startswith("s_module.") else detector_prefix + key


def seed_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """The ``model_weights`` state dict of a seed checkpoint (or a plain state dict)."""
    state = obj.get("model_weights", obj) if isinstance(obj, Mapping) else None
    if not isinstance(state, Mapping) or not state:
        raise ModelError(f"{path} holds no 'model_weights' state dict")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ModelError(f"{path}: 'model_weights' holds non-tensor entries (e.g. {str(bad[0])[:60]})")
    return {k: v for k, v in state.items()}


def recorded_anchors(skipped: list[Placeholder]) -> tuple[list, list] | None:
    """Anchor sizes and ratios from a skipped anchor generator's recorded state, if readable."""
    for obj in skipped:
        state = obj.state[-1] if isinstance(obj.state, tuple) and obj.state else obj.state
        if not obj.qualname.endswith("AnchorGenerator") or not isinstance(state, Mapping):
            continue
        sizes, ratios = state.get("sizes"), state.get("aspect_ratios")
        try:
            sizes = [[float(v) for v in level] for level in sizes]
            ratios = [[float(v) for v in level] for level in ratios]
        except (TypeError, ValueError):
            continue
        if sizes and len(sizes) == len(ratios):
            return sizes, ratios
    return None


def anchor_args(anchors: tuple[list, list] | None, num_levels: int, num_anchors: int) -> dict[str, Any]:
    """Builder anchor arguments from recorded anchors, when they fit the RPN head's anchor count."""
    if anchors is None:
        return {}
    sizes, ratios = anchors
    if len(sizes) < num_levels or len(sizes[0]) * len(ratios[0]) != num_anchors:
        return {}
    sizes, ratios = sizes[:num_levels], ratios[:num_levels]
    if all(s == sizes[0] for s in sizes) and all(r == ratios[0] for r in ratios):
        return {"anchor_sizes": sizes[0], "anchor_ratios": ratios[0]}
    return {"anchor_sizes": sizes, "anchor_ratios": ratios}


# --- the import --------------------------------------------------------------------------

SEED_BUILDERS = {"resnet18": "maskrcnn_light", "resnet34": "maskrcnn_light", "resnet50": "maskrcnn_resnet50_fpn"}
#: weights a classification checkpoint may lack (the seed's classifier needs no mask predictions)
_OPTIONAL_FOR_CLASSIFIER = ("roi_heads.mask_head.", "roi_heads.mask_predictor.")
_HINT = "check --backbone, --truncation and --mask-type"


@dataclass
class ImportReport:
    """Outcome of :func:`import_seed_checkpoint`.

    Attributes
    ----------
    folder : Path
        The model folder written.
    spec : ModelSpec
    loaded : int
        Weights taken from the checkpoint.
    filled : list of str
        BatchNorm ``num_batches_tracked`` counters the seed did not save (set to 0).
    missing : list of str
        Weights left at their initial values (mask head of a classifier checkpoint).
    skipped_objects : list of str
        Pickled classes/functions that were recorded but never loaded or run.
    extras : dict
        ``epoch``, ``model_name``, ``lrate`` as saved.
    """

    folder: Path
    spec: ModelSpec
    loaded: int
    filled: list[str]
    missing: list[str]
    skipped_objects: list[str]
    extras: dict[str, Any]

    def summary_lines(self) -> list[str]:
        """Human-readable report, one fact per line."""
        lines = [f"wrote {self.folder} ({self.spec.builder}, mask type {self.spec.mask_type})",
                 f"loaded {self.loaded} weights; filled {len(self.filled)} BatchNorm counters"]
        if self.spec.classifier:
            lines.append(f"classification module S: R={self.spec.classifier['R']}, s={self.spec.classifier['s']}")
        if self.missing:
            lines.append(f"left at initial values (not in the checkpoint): {len(self.missing)} weights, "
                         f"e.g. {self.missing[0]}")
        if self.skipped_objects:
            lines.append(f"skipped pickled objects (never run): {', '.join(self.skipped_objects)}")
        return lines


def _classifier_settings(state: Mapping[str, torch.Tensor], roi_batch: int | None, s_features: int | None,
                         path: Path) -> dict[str, Any] | None:
    weight = state.get("s2new.fc_scores.weight", state.get("module.s2new.fc_scores.weight"))
    if weight is None:
        if roi_batch is not None or s_features is not None:
            raise ModelError(f"{path} holds no classification module S (s2new.*); leave out --roi-batch/--s-features")
        return None
    s, inputs = (int(n) for n in weight.shape)
    if inputs % 5:
        raise ModelError(f"{path}: module S takes {inputs} inputs, not a multiple of 5")
    for flag, given, found in (("--roi-batch", roi_batch, inputs // 5), ("--s-features", s_features, s)):
        if given is not None and int(given) != found:
            raise ModelError(f"{path}: module S was trained with {flag} {found}, not {given}")
    return {"R": inputs // 5, "s": s, "variant": "seed", "trained_on": f"seed checkpoint {path.name}"}


def _builder_args(backbone: str, truncation: int | None, state: Mapping[str, torch.Tensor],
                  archive: TorchArchive) -> tuple[str, dict[str, Any]]:
    if backbone not in SEED_BUILDERS:
        raise ModelError(f"--backbone must be one of {', '.join(SEED_BUILDERS)}, got {backbone!r}")
    args: dict[str, Any] = {"norm": "batch"}
    if backbone == "resnet50":
        if truncation not in (None, 0):
            raise ModelError("resnet50 is only used whole by the seed; leave out --truncation")
        levels = 4
    else:
        if truncation not in (0, 1, 2):
            raise ModelError(f"{backbone} needs --truncation 0, 1 or 2")
        args.update(backbone=backbone, truncation=int(truncation))
        levels = 1
    anchors = state.get("rpn.head.cls_logits.weight")
    if anchors is not None:
        args.update(anchor_args(recorded_anchors(archive.skipped), levels, int(anchors.shape[0])))
    return SEED_BUILDERS[backbone], args


def _check_mask_type(state: Mapping[str, torch.Tensor], mask_type: str, path: Path) -> None:
    weight = state.get("roi_heads.box_predictor.cls_score.weight")
    if weight is not None and int(weight.shape[0]) != num_classes_for(mask_type):
        raise ModelError(f"{path} predicts {int(weight.shape[0])} classes but --mask-type {mask_type} needs "
                         f"{num_classes_for(mask_type)} (both: 3, ggo/merge: 2)")


def map_seed_state(seed_state: Mapping[str, torch.Tensor],
                   model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], list[str], list[str]]:
    """Rename seed weights for ``model``; return (state, filled counters, weights left at initial values).

    Raises :class:`ModelError` when a seed weight has no place in ``model`` or
    a weight the model needs is absent.
    """
    own = model.state_dict()
    prefix = "detector." if isinstance(model, MaskRCNNClassifier) else ""
    mapped: dict[str, torch.Tensor] = {}
    unexpected = []
    for key, value in seed_state.items():
        ours = seed_key_to_ours(key, prefix)
        if ours in own:
            mapped[ours] = value
        else:
            unexpected.append(key)
    if unexpected:
        raise ModelError(f"cannot place {len(unexpected)} checkpoint weights (e.g. {', '.join(unexpected[:3])}); {_HINT}")
    missing = [k for k in own if k not in mapped]
    filled = [k for k in missing if k.endswith("num_batches_tracked")]
    optional = tuple(prefix + p for p in _OPTIONAL_FOR_CLASSIFIER) if prefix else ()
    left = [k for k in missing if k not in filled and k.startswith(optional)] if optional else []
    required = [k for k in missing if k not in filled and k not in left]
    if required:
        raise ModelError(f"the checkpoint lacks {len(required)} weights the model needs "
                         f"(e.g. {', '.join(required[:3])}); {_HINT}")
    for key in filled + left:
        mapped[key] = own[key]
    return mapped, filled, left


def _notes(path: Path, extras: dict[str, Any], skipped: list[str], filled: list[str], left: list[str]) -> str:
    parts = [f"imported from seed checkpoint {path.name}"]
    parts += [f"{k} {v}" for k, v in extras.items()]
    if skipped:
        parts.append(f"skipped pickled objects: {', '.join(skipped)}")
    parts.append(f"BatchNorm counters filled: {len(filled)}")
    if left:
        parts.append(f"weights not in the checkpoint, left at initial values: {len(left)} (mask head)")
    return "; ".join(parts)


def import_seed_checkpoint(path: str | Path, out: str | Path, *, backbone: str, truncation: int | None = None,
                           mask_type: str = "both", roi_batch: int | None = None, s_features: int | None = None,
                           command: str = "", force: bool = False) -> ImportReport:
    """Convert a seed checkpoint into a LesionLoop model folder (``save_model`` format).

    Parameters
    ----------
    path : path
        The seed's ``.pth`` file (zip format).
    out : path
        Model folder to write; refused if it already holds a model unless ``force``.
    backbone : {"resnet18", "resnet34", "resnet50"}
    truncation : {0, 1, 2}, optional
        Required for resnet18/34; must be left out (or 0) for resnet50.
    mask_type : {"both", "ggo", "merge"}
    roi_batch, s_features : int, optional
        R and s of module S; read from the checkpoint, checked when given.
    command : str
        Recorded in the spec's metadata.
    """
    path, out = Path(path), Path(out)
    if (out / SPEC_NAME).exists() and not force:
        raise ModelError(f"{out} already holds a model; choose another --out or pass --force")
    check_mask_type(mask_type)
    archive = read_torch_archive(path)
    seed_state = seed_state_dict(archive.obj, path)
    _check_mask_type(seed_state, mask_type, path)
    classifier = _classifier_settings(seed_state, roi_batch, s_features, path)
    builder, args = _builder_args(backbone, truncation, seed_state, archive)
    obj = archive.obj if isinstance(archive.obj, Mapping) else {}
    extras = {k: obj[k] for k in ("epoch", "model_name", "lrate") if isinstance(obj.get(k), (int, float, str))}
    spec = ModelSpec(builder, args, mask_type, preprocessing=Preprocessing(input_kind="8bit"),
                     score_threshold=SEED_SCORE_THRESHOLD, classifier=classifier,
                     metadata=ModelMetadata(version="seed-import", command=command))
    model = build(spec)
    state, filled, left = map_seed_state(seed_state, model)
    try:
        load_state(model, state, str(path))
    except ModelError as exc:
        raise ModelError(f"{exc}; {_HINT}") from None
    spec.metadata.notes = _notes(path, extras, archive.skipped_names, filled, left)
    save_model(model, spec, out)
    return ImportReport(out, spec, len(seed_state), filled, left, archive.skipped_names, extras)
