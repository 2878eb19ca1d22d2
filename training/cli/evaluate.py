"""lesionloop evaluate --model M --data PATH ... [--split medseg-split] [--json]

Runs the model on every labelled slice (through the same inference users
get) and prints Dice, IoU, sensitivity, specificity and precision per class
(mean over the slices whose ground truth holds the class, as BASELINES.md),
HD95 in mm, and mask mAP@[.50:.05:.95] / AP50 / AP75 (COCO 101-point) -
as a table, or as one JSON object with ``--json``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from core_models.atomic import json_safe
from training.config import MEDSEG_SPLIT

SPLITS = ("all", MEDSEG_SPLIT, "medseg-train")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a model on labelled slices", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="model folder or registered version (default: the active version)")
    p.add_argument("--data", nargs="+", required=True, metavar="PATH",
                   help="labelled data: MedSeg, seed PNG, phantom, workspace folders or CT::LABELS pairs")
    p.add_argument("--split", choices=SPLITS, default="all",
                   help=f"all slices (default), {MEDSEG_SPLIT} (the BASELINES validation slices) or medseg-train")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N, mps")
    p.add_argument("--batch", type=int, default=4, help="slices per forward pass (4)")
    p.add_argument("--min-area", type=int, default=101, help="smallest ground-truth instance in pixels (101)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core_models.checkpoints import load_model
    from core_models.errors import InputError
    from core_models.model_store import resolve_model_dir
    from training.data.records import SliceReader
    from training.data.sources import collect_records
    from training.data.splits import medseg_split
    from training.evaluate import evaluate_samples

    if args.batch < 1 or args.min_area < 1:
        raise InputError("--batch and --min-area must be at least 1")
    folder = resolve_model_dir(args.model)
    model, spec = load_model(folder)
    records = collect_records(args.data)
    if args.split != "all":
        train, val = medseg_split(records)
        records = val if args.split == MEDSEG_SPLIT else train
    reader = SliceReader(spec.preprocessing)
    samples = [reader.load(r) for r in records]
    report = evaluate_samples(model, spec, samples, device=args.device, batch_size=args.batch,
                              min_area=args.min_area, distances=True)
    body = {"model": str(folder), "model_version": spec.metadata.version, "data": list(args.data),
            "split": args.split, "min_area": args.min_area, **report}
    if args.json:
        print(json.dumps(json_safe(body)))
    else:
        print_table(body, sys.stdout)
    return 0



def _fmt(value: Any, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def print_table(body: dict[str, Any], out: Any) -> None:
    """The report as a fixed-width table."""
    print(f"model {body['model_version']} ({body['model']}) on {body['n_slices']} slices", file=out)
    print(f"{'class':<15}{'Dice':>7}{'IoU':>7}{'Sens':>7}{'Spec':>7}{'Prec':>7}{'HD95 mm':>9}{'slices':>8}", file=out)
    for name in ("ggo", "consolidation", "binary"):
        m = body["overlap"]["slice_mean"][name]
        hd = body.get("hd95", {}).get(name, {}).get("hd95_mm")
        row = "".join(f"{_fmt(m[k]):>7}" for k in ("dice", "iou", "sensitivity", "specificity", "precision"))
        print(f"{name:<15}{row}{_fmt(hd, 1):>9}{m['n_slices']:>8}", file=out)
    ap = body["ap"]
    print(f"mask mAP@[.50:.95] {_fmt(ap['map'])}  AP50 {_fmt(ap['ap50'])}  AP75 {_fmt(ap['ap75'])}  "
          f"(COCO 101-point; instances >= {body['min_area']} px)", file=out)
    print("Dice etc.: mean over slices whose ground truth holds the class; HD95: slices where both hold it", file=out)
