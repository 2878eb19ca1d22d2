"""``lesionloop import-checkpoint``: turn a COVID-CT-Mask-Net (seed) checkpoint into a model folder.

The seed's ``.pth`` file is read without running any pickled code (see
:mod:`core_models.seed_import`); the weights are renamed to ours, checked
against the model the flags describe, and written as ``weights.safetensors``
+ ``spec.json``.
"""
from __future__ import annotations

import argparse
import shlex
import sys

from core_models.nets import MASK_TYPES
from core_models.seed_import import SEED_BUILDERS, import_seed_checkpoint


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``import-checkpoint`` subcommand."""
    parser = subparsers.add_parser(
        "import-checkpoint", help="convert a COVID-CT-Mask-Net checkpoint into a LesionLoop model",
        description="Convert a COVID-CT-Mask-Net (seed) .pth checkpoint into a LesionLoop model folder, "
                    "without executing any code stored in the file.")
    parser.add_argument("checkpoint", help="the seed's .pth file (zip format, torch >= 1.6)")
    parser.add_argument("--backbone", required=True, choices=sorted(SEED_BUILDERS), help="backbone it was trained with")
    parser.add_argument("--truncation", type=int, choices=(0, 1, 2),
                        help="ResNet18/34 truncation: 0 = layer4, 1 = layer3, 2 = layer2 (not for resnet50)")
    parser.add_argument("--mask-type", default="both", choices=MASK_TYPES,
                        help="classes it was trained on: both (GGO + consolidation), ggo, merge (default: both)")
    parser.add_argument("--roi-batch", type=int, metavar="R", help="RoIs per image of module S (read from the file)")
    parser.add_argument("--s-features", type=int, metavar="S", help="hidden width of module S (read from the file)")
    parser.add_argument("--out", required=True, help="model folder to write")
    parser.add_argument("--force", action="store_true", help="replace a model already in --out")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Import the checkpoint and print what was done; errors are raised as ``ModelError``."""
    command = "lesionloop import-checkpoint " + " ".join(shlex.quote(a) for a in _argv_of(args))
    report = import_seed_checkpoint(
        args.checkpoint, args.out, backbone=args.backbone, truncation=args.truncation, mask_type=args.mask_type,
        roi_batch=args.roi_batch, s_features=args.s_features, command=command, force=args.force)
    for line in report.summary_lines():
        print(line, file=sys.stdout)
    return 0


def _argv_of(args: argparse.Namespace) -> list[str]:
    argv = [str(args.checkpoint), "--backbone", args.backbone, "--mask-type", args.mask_type, "--out", str(args.out)]
    for flag, value in (("--truncation", args.truncation), ("--roi-batch", args.roi_batch),
                        ("--s-features", args.s_features)):
        if value is not None:
            argv += [flag, str(value)]
    return argv + (["--force"] if args.force else [])
