"""lesionloop train: train a lesion segmentation model on labelled slices.

Examples::

    lesionloop train --data medseg/train --val medseg-split --out runs/r1
    lesionloop train --data phantoms --init bundled --epochs 5 --out runs/ft1
    lesionloop train --out runs/r1 --resume
    torchrun --nproc_per_node 2 -m training train --data ... --out runs/ddp

The run folder gets best/ and last/ model folders, state.pt (for --resume),
curves.jsonl and config.json. Ctrl-C (or SIGTERM, or creating --stop-file)
stops after the current step and saves last/ and state.pt. With
--progress-json, stdout carries one JSON object per event (start, step,
epoch_end, end; then stage and compare with --compare-with, registered with
--register; error when the run fails) and the summary goes to stderr.
--compare-with MODEL scores MODEL and the new model on the validation data
after training (the before/after table); --register then stores MODEL's
figures with the new version, and the activation gate compares them.
A stopped run is not registered.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core_models.errors import InputError
from training.cli.run_common import command_line, report_result, saved_run_config, training_callbacks
from training.config import BEST_METRICS, MEDSEG_SPLIT, AugmentConfig, TrainConfig

#: options whose value comes from config.json when resuming
_TRAINING_OPTIONS = ("data", "val", "builder", "backbone", "truncation", "mask_type", "norm", "semantic_head",
                     "builder_args", "epochs", "lr", "batch", "weight_decay", "image_size", "crop", "min_area",
                     "init", "seed", "best_metric", "no_augment", "version", "log_every")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a segmentation model", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", metavar="PATH", help="training data: MedSeg, seed PNG, phantom, workspace "
                   "folders or CT::LABELS pairs (layout detected)")
    p.add_argument("--val", nargs="+", metavar="PATH", help=f"validation data, or {MEDSEG_SPLIT} (BASELINES split)")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder")
    _network_options(p)
    _optimisation_options(p)
    p.add_argument("--init", metavar="MODEL", help="fine-tune from a model folder or registered version")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from state.pt")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N, mps")
    p.add_argument("--workers", type=int, default=None, help="data loader processes (default 0)")
    p.add_argument("--best-metric", choices=BEST_METRICS, help="validation figure that picks best/ (dice_binary)")
    p.add_argument("--version", help="model version name written into the spec (default: the run folder name)")
    p.add_argument("--log-every", type=int, help="steps between lines of curves.jsonl (10)")
    p.add_argument("--progress-json", action="store_true", help="print one JSON object per event on stdout")
    p.add_argument("--stop-file", metavar="PATH", help="stop gracefully when this file appears")
    p.add_argument("--register", action="store_true", help="register the best (else last) model as a new version "
                   "(not when the run was stopped)")
    p.add_argument("--compare-with", metavar="MODEL", help="after training, score MODEL and the new model on the "
                   "validation data: the before/after table (stored with the registered version)")
    p.set_defaults(func=run)


def _network_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--builder", help="registered network builder (maskrcnn_light)")
    p.add_argument("--backbone", help="resnet18 (default) or resnet34")
    p.add_argument("--truncation", type=int, choices=(0, 1, 2), help="ResNet layer kept: 0 layer4, 1 layer3 (default)")
    p.add_argument("--mask-type", choices=("both", "ggo", "merge"), help="lesion classes (both)")
    p.add_argument("--norm", choices=("batch", "frozen_batch", "group"), help="backbone normalisation (group)")
    p.add_argument("--semantic-head", action="store_true", default=None, help="add the dense label-map head")
    p.add_argument("--builder-args", metavar="JSON", help="extra builder keywords as a JSON object")


def _optimisation_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, help="epochs (20)")
    p.add_argument("--lr", type=float, help="peak learning rate (1e-3; 1e-4 with --init)")
    p.add_argument("--batch", type=int, help="slices per step and process (2)")
    p.add_argument("--weight-decay", type=float, help="AdamW weight decay (1e-4)")
    p.add_argument("--image-size", type=int, help="long side of images in pixels (384)")
    p.add_argument("--crop", type=int, help="random square crop in pixels after resizing (off)")
    p.add_argument("--min-area", type=int, help="smallest lesion component (pixels) used as an instance (101)")
    p.add_argument("--no-augment", action="store_true", default=None, help="resize only, no random transforms")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """A :class:`TrainConfig` from the command line (defaults where an option is not given)."""
    fields: dict[str, Any] = {"data": args.data or [], "out": args.out, "val": args.val or []}
    for name in ("builder", "backbone", "truncation", "mask_type", "norm", "semantic_head", "epochs", "lr", "batch",
                 "weight_decay", "image_size", "min_area", "init", "seed", "best_metric", "version", "log_every"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    fields["device"] = args.device or "auto"
    fields["workers"] = 0 if args.workers is None else args.workers
    fields["amp"] = not args.no_amp
    fields["builder_args"] = _json_object(args.builder_args)
    fields["augment"] = AugmentConfig(enabled=not args.no_augment, crop=args.crop)
    return TrainConfig(**fields)


def _json_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"--builder-args is not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise InputError("--builder-args must be a JSON object, e.g. '{\"mask_roi_size\": 14}'")
    return value


def resumed_config(args: argparse.Namespace) -> TrainConfig:
    """The saved config of the run in ``--out`` (device and workers may change)."""
    saved = saved_run_config(args, _TRAINING_OPTIONS, "a training config written by `lesionloop train`")
    config = TrainConfig.from_json(saved)
    config.out = args.out
    if args.device:
        config.device = args.device
    if args.workers is not None:
        config.workers = args.workers
    return config


def run(args: argparse.Namespace) -> int:
    from training import distributed
    from training.callbacks import ProgressBarCallback
    from training.loop import train

    config = resumed_config(args) if args.resume else config_from_args(args)
    if not config.data:
        raise InputError("no training data given (--data PATH ...)")
    _check_compare(args, config)
    main = distributed.env_rank() == 0
    with training_callbacks(args, ProgressBarCallback, main=main) as callbacks:
        result = train(config, callbacks, resume=args.resume, command=command_line())
        if main:
            _finish(args, config, result)
    return 0


def _emit(args: argparse.Namespace, event: str, body: dict[str, Any]) -> None:
    """One JSON event line on stdout (``--progress-json`` only)."""
    if args.progress_json:
        from core_models.atomic import json_safe

        print(json.dumps({"event": event, **json_safe(body)}), flush=True)


def _check_compare(args: argparse.Namespace, config: TrainConfig) -> None:
    if getattr(args, "compare_with", None):
        from core_models.model_store import resolve_model_dir

        resolve_model_dir(args.compare_with)  # fail before training, not after it
        if not config.val:
            raise InputError("--compare-with needs validation data (--val PATH ...)")


def _finish(args: argparse.Namespace, config: TrainConfig, result: Any) -> None:
    """After training (rank 0): summary, before/after table, registration."""
    to = sys.stderr if args.progress_json else sys.stdout
    _report(result, to=to)
    table = None
    if getattr(args, "compare_with", None) and not result.stopped:
        table = compare_result(args, config, result, to)
    if args.register and result.stopped:
        print("not registered: the run was stopped (continue it with --resume, then it is registered)", file=to)
    elif args.register:
        version = register_result(result, to=to, table=table)
        _emit(args, "registered", {"version": version, "table": table is not None})


def compare_result(args: argparse.Namespace, config: TrainConfig, result: Any, to: Any) -> dict[str, Any]:
    """The before/after table of ``--compare-with`` and the new model on the run's validation slices."""
    from training.compare import compare_models, format_table
    from training.prepare import resolve_data

    records = resolve_data(config).val
    _emit(args, "stage", {"message": f"before/after: scoring {args.compare_with} and the new model on "
                                     f"{len(records)} validation slices"})
    table = compare_models(args.compare_with, result.best_dir or result.last_dir, records, device=config.device,
                           min_area=config.min_area, batch_size=config.val_batch)
    print(format_table(table), file=to)
    _emit(args, "compare", table)
    return table


def _report(result: Any, to: Any) -> None:
    report_result(result, to, what="training", command="train")


def register_result(result: Any, to: Any, table: dict[str, Any] | None = None) -> str:
    """The one place a trained model enters the registry (:func:`training.registry.register_model`).

    With a before/after ``table`` (:func:`training.compare.compare_models`) the version's
    metrics gain ``compared_with``: the old model's figures on the same validation
    slices, which the activation gate then uses.
    """
    from core_models.model_store import read_spec_json
    from training.registry import register_model

    folder = result.best_dir or result.last_dir
    metrics = None
    if table is not None:
        metrics = dict(read_spec_json(Path(folder)).get("metadata", {}).get("metrics") or {})
        metrics["compared_with"] = {"version": table["before"]["version"], "validation": table["validation"],
                                    "n_slices": table["n_slices"], **table["before"]["summary"]}
    version = register_model(folder, metrics=metrics)
    print(f"registered {folder} as model version {version} (activate it with `lesionloop models activate "
          f"{version}`)", file=to)
    return version
