"""lesionloop train-classifier: train classification module S (Control / CP / COVID-19) on a segmentation model.

Examples::

    lesionloop train-classifier --init bundled --data phantoms/train --val phantoms/val --out runs/s1
    lesionloop train-classifier --init runs/r1/best --data slices/ --out runs/s2 --epochs 20 --s-only
    lesionloop train-classifier --out runs/s1 --resume

The seed's recipe: the --init model's weights are frozen except the
normalisation layers' affine weights (BatchNorm running statistics stay
frozen); S learns from scratch, one image per step. --s-only freezes the
whole detector, so segmentation stays bit-identical to --init's.

Classes come from the seed's file naming [Class]_[PatientID]_[ScanNum]_[SliceNum].png
(class 0 Control, 1 common pneumonia, 2 COVID-19; masks optional) or from
`lesionloop phantom` folders (normal, cap, covid). The run folder gets
best/ (by validation accuracy), last/, state.pt (for --resume),
curves.jsonl and config.json; --progress-json and --stop-file work as in
`lesionloop train`.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from training.callbacks import ProgressBarCallback
from training.classifier_setup import CLASS_KEYS, CLASSIFIER_BEST_METRICS, ClassifierConfig
from training.cli.run_common import command_line, report_result, saved_run_config, training_callbacks

#: options whose value comes from config.json when resuming
_TRAINING_OPTIONS = ("init", "data", "val", "epochs", "lr", "batch", "weight_decay", "roi_batch", "s_features",
                     "variant", "s_only", "all_slices", "best_metric", "seed", "version", "log_every")
#: figures printed after each epoch
SHOWN = ("train_loss", "accuracy", *(f"sensitivity_{k}" for k in CLASS_KEYS))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-classifier", help="train classification module S on a segmentation model",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--init", metavar="SEG_MODEL", help="segmentation model folder or registered version (required)")
    p.add_argument("--data", nargs="+", metavar="PATH",
                   help="slices with classes: seed-named images or phantom folders")
    p.add_argument("--val", nargs="+", metavar="PATH", help="validation slices (picks best/)")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder")
    p.add_argument("--epochs", type=int, help="epochs (10)")
    p.add_argument("--lr", type=float, help="peak learning rate, AdamW with warm-up and cosine decay (1e-4)")
    p.add_argument("--batch", type=int, help="images per step (1, as the seed)")
    p.add_argument("--weight-decay", type=float, help="AdamW weight decay of S's weights (1e-4)")
    p.add_argument("--roi-batch", type=int, help="R, ranked RoIs S reads (128; the --init model's S if it has one)")
    p.add_argument("--s-features", type=int, help="s, S's hidden width (512)")
    p.add_argument("--variant", choices=("seed", "decoded"),
                   help="S's rows: raw box regression (seed) or decoded boxes")
    p.add_argument("--s-only", action="store_true", default=None,
                   help="train S alone; the detector (and its segmentation) stays bit-identical to --init")
    p.add_argument("--all-slices", action="store_true", default=None,
                   help="keep CP / COVID-19 slices whose labels show no lesion (left out by default)")
    p.add_argument("--best-metric", choices=CLASSIFIER_BEST_METRICS, help="validation figure that picks best/")
    p.add_argument("--seed", type=int, help="random seed (0)")
    p.add_argument("--version", help="model version name written into the spec (default: the run folder name)")
    p.add_argument("--log-every", type=int, help="steps between lines of curves.jsonl (10)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N, mps")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from state.pt")
    p.add_argument("--progress-json", action="store_true", help="print one JSON object per event on stdout")
    p.add_argument("--stop-file", metavar="PATH", help="stop gracefully when this file appears")
    p.add_argument("--register", action="store_true", help="register the best (else last) model as a new version")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> ClassifierConfig:
    """A :class:`ClassifierConfig` from the command line (defaults where an option is not given)."""
    fields: dict[str, Any] = {"init": args.init or "", "data": args.data or [], "val": args.val or [],
                              "out": args.out, "device": args.device or "auto"}
    for name in ("epochs", "lr", "batch", "weight_decay", "roi_batch", "s_features", "variant", "s_only",
                 "best_metric", "seed", "version", "log_every"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.all_slices:
        fields["lesion_slices_only"] = False
    return ClassifierConfig(**fields)


def resumed_config(args: argparse.Namespace) -> ClassifierConfig:
    """The saved config of the run in ``--out`` (only the device may change)."""
    saved = saved_run_config(args, _TRAINING_OPTIONS, "a run config written by `lesionloop train-classifier`")
    config = ClassifierConfig.from_json(saved)
    config.out = args.out
    if args.device:
        config.device = args.device
    return config


class ClassifierProgressBar(ProgressBarCallback):
    """The terminal progress bar, with the classifier's figures after each epoch."""

    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        shown = ", ".join(f"{k} {metrics[k]:.3f}" for k in SHOWN if isinstance(metrics.get(k), float)
                          and metrics[k] == metrics[k])
        self.stream.write(f"\nepoch {epoch}/{self.epochs}: {shown}\n")
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    from training.classifier import train_classifier
    from training.cli.train import register_result

    config = resumed_config(args) if args.resume else config_from_args(args)
    with training_callbacks(args, ClassifierProgressBar) as callbacks:
        result = train_classifier(config, callbacks, resume=args.resume, command=command_line())
    to = sys.stderr if args.progress_json else sys.stdout
    _report(result, to)
    if args.register:
        register_result(result, to=to)
    return 0


def _report(result: Any, to: Any) -> None:
    matrix = result.metrics.get("confusion_matrix")
    extra = [f"validation confusion matrix (rows true Control / CP / COVID-19): {matrix}"] if matrix else []
    report_result(result, to, what="classifier training", command="train-classifier", extra=extra)
