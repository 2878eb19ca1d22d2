#!/usr/bin/env python
"""Loop gain: how much a model improves when an annotator's corrections are fed back.

1. Split the MedSeg training slices: the BASELINES validation split (10 slices,
   ``medseg-split``) is the validation set; of the other 40, every second one
   (20) trains the initial model, the remaining 20 play the annotator's slices.
2. Train the initial model (``python -m training train``), register and activate it.
3. The annotator: for each of the 20 further slices the initial model predicts,
   a workspace is created with that prediction (:class:`core_models.workspace.Workspace`),
   the ground truth is applied as one correction edit, the slice is marked
   ``corrected`` and the workspace is saved - as the viewer does.
4. Retrain through the menu's path: a :class:`training.retrain.RetrainPlan`
   (fine-tune the active version, the validation folder chosen, the new model
   compared with the active one), :func:`training.retrain.prepare_run`, and
   ``python -m training ARGS`` as a separate process, its JSON events read as
   the viewer reads them.
5. Report the before/after table on the validation slices (target: binary Dice
   +0.05 or more) and the wall times.

Everything goes into a private ``LESIONLOOP_HOME`` inside the work folder.

    python bench/loop_gain.py --quick                  # minutes on a CPU (tiny epochs, 256 px)
    python bench/loop_gain.py --device cpu [--fold 1]  # the measured setting (30 + 40 epochs; ~40 min on 2 cores)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from core_models.errors import InputError
from training.data.locate import find_medseg

#: the bundled model's network (resources/models/default/TRAINING.md)
FULL_NETWORK = ["--semantic-head", "--builder-args",
                '{"anchor_sizes": [8,16,32,64,128], "anchor_ratios": [0.5,1,2], "rpn_post_nms_top_n_test": 300}',
                "--min-area", "30"]
QUICK = {"initial_epochs": 6, "retrain_epochs": 6, "image_size": 256, "retrain_lr": 3e-4}
#: the measured setting (README): 30 epochs for the initial model, then the retrain dialog's fine-tuning defaults
FULL = {"initial_epochs": 30, "retrain_epochs": 40, "image_size": None, "retrain_lr": 3e-4}


def split(medseg: Path, fold: int = 0) -> tuple[list[Any], list[Any], list[Any]]:
    """(initial, annotator, validation) records: the medseg-split, then alternating halves of the rest.

    ``fold`` 1 swaps the halves (the annotator's slices train the initial model), for a second estimate.
    """
    from training.data.sources import collect_records
    from training.data.splits import medseg_split

    rest, val = medseg_split(collect_records([medseg]))
    first, second = rest[0::2], rest[1::2]
    return (second, first, val) if fold else (first, second, val)


def subset_folder(records: list[Any], folder: Path) -> Path:
    """A MedSeg-layout folder of links to ``records``' images and masks."""
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True)
    for r in records:
        (folder / "images" / Path(r.image_path).name).symlink_to(Path(r.image_path).resolve())
        (folder / "masks" / Path(r.label_path).name).symlink_to(Path(r.label_path).resolve())
    return folder


def run_training(args: list[str], label: str) -> dict[str, Any]:
    """``python -m training ARGS`` as the viewer runs it; returns the last event of each kind."""
    cmd = [sys.executable, "-m", "training", *args]
    print(f"[{label}] $ {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    events: dict[str, Any] = {}
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, bufsize=1) as proc:
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            events[event.get("event")] = event
            if event.get("event") == "epoch_end":
                m = event["metrics"]
                print(f"[{label}] epoch {event['epoch']}: loss {m.get('train_loss') or float('nan'):.3f} "
                      f"binary Dice {m.get('dice_binary') or 0:.3f}", file=sys.stderr, flush=True)
    if proc.returncode != 0:
        sys.exit(f"loop_gain: {label} failed: {events.get('error', {}).get('message', f'exit {proc.returncode}')}")
    return events


def annotate(records: list[Any], model_version: str, root: Path, device: str) -> list[Path]:
    """One saved workspace per slice: the model's prediction, corrected to the ground truth."""
    from core_models.checkpoints import load_model
    from core_models.editing import LabelEdit
    from core_models.inference import run_inference, run_to_completion
    from core_models.io import read_volume
    from core_models.model_store import resolve_model_dir
    from core_models.volume import LabelMap
    from core_models.workspace import Workspace
    from training.data.records import SliceReader

    model, spec = load_model(resolve_model_dir(model_version))
    reader = SliceReader(spec.preprocessing)
    folders = []
    for r in records:
        volume = read_volume(r.image_path)
        prediction = run_to_completion(run_inference(model, spec, volume, device=device))
        predicted = LabelMap(prediction.labels.array.copy(), volume.geometry, source="prediction")
        ws = Workspace.create(root / f"{Path(r.image_path).stem}.lesionloop", r.image_path, volume,
                              predicted=predicted, model_version=model_version)
        truth = reader.labels(r)[None]
        edit = LabelEdit.from_arrays(ws.corrected.array, truth, (0, 0, 0))
        if edit is not None:
            ws.apply_edit(edit)
        ws.set_status(0, "corrected" if edit is not None else "accepted")
        ws.save()
        ws.close()
        folders.append(ws.folder)
    return folders


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny epochs and 256-px images (a few CPU minutes)")
    p.add_argument("--data", help="MedSeg training slices (images/ + masks/); default: the shared data")
    p.add_argument("--work", help="work folder (default: a new temporary folder)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    p.add_argument("--initial-epochs", type=int, help="epochs of the initial model (quick 6, full 30)")
    p.add_argument("--retrain-epochs", type=int, help="epochs of the retraining (quick 6, full 40)")
    p.add_argument("--retrain-lr", type=float, help="learning rate of the retraining (default 3e-4, the retrain dialog's default for fine-tuning)")
    p.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    p.add_argument("--corrections-only", action="store_true",
                   help="retrain on the 20 corrected slices alone (default: corrections + the initial 20 slices, "
                        "the dialog's 'also train on' folder)")
    p.add_argument("--fold", type=int, choices=(0, 1), default=0,
                   help="0: every other non-validation slice trains the initial model, the rest are corrected; "
                        "1: the halves swapped (a second estimate)")
    p.add_argument("--initial", metavar="MODEL", help="reuse this model folder as the initial model (e.g. an earlier "
                   "run's WORK/run_initial/best, trained on the same 20 slices) instead of training it")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    preset = dict(QUICK if args.quick else FULL)
    epochs0 = args.initial_epochs or preset["initial_epochs"]
    epochs1 = args.retrain_epochs or preset["retrain_epochs"]
    work = Path(args.work or tempfile.mkdtemp(prefix="loop_gain-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ["LESIONLOOP_HOME"] = str(work / "home")  # a private registry, for us and the child processes
    from training.registry import activate
    from training.retrain import RetrainPlan, prepare_run

    try:
        initial, annotated, val = split(find_medseg(args.data), args.fold)
    except InputError as exc:
        sys.exit(f"loop_gain: {exc}")
    train_dir, val_dir = subset_folder(initial, work / "medseg_initial"), subset_folder(val, work / "medseg_val")
    size = ["--image-size", str(preset["image_size"])] if preset["image_size"] else []
    times: dict[str, float] = {}

    t0 = time.perf_counter()
    if args.initial:
        from training.registry import register_model

        base = register_model(args.initial, notes="loop_gain: initial model reused")
    else:
        first = run_training(["train", "--data", str(train_dir), "--val", str(val_dir), "--out",
                              str(work / "run_initial"), "--epochs", str(epochs0), "--device", args.device, "--seed",
                              "0", "--progress-json", "--register", *FULL_NETWORK, *size], "initial")
        base = first["registered"]["version"]
        times["initial_training_s"] = time.perf_counter() - t0
    activate(base)

    t0 = time.perf_counter()
    workspaces = annotate(annotated, base, work / "workspaces", args.device)
    times["annotating_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    plan = RetrainPlan([str(w) for w in workspaces], out=str(work / "run_retrain"), base=base, compare_with=base,
                       epochs=epochs1, lr=args.retrain_lr or preset["retrain_lr"], val_paths=[str(val_dir)],
                       device=args.device,
                       extra_args=["--min-area", "30"], extra_data=[] if args.corrections_only else [str(train_dir)])
    second = run_training(prepare_run(plan), "retrain")
    times["retrain_s"] = time.perf_counter() - t0
    last = (second.get("epoch_end") or {}).get("metrics", {})
    return report(second["compare"], second["registered"]["version"], times, len(initial), len(workspaces),
                  {"quick": args.quick, "corrections_only": args.corrections_only, "fold": args.fold,
                   "initial_epochs": None if args.initial else epochs0,
                   "initial_model": args.initial, "retrain_epochs": epochs1, "work": str(work)},
                  args.json, last)


def report(table: dict[str, Any], version: str, times: dict[str, float], n_initial: int, n_corrected: int,
           settings: dict[str, Any], json_out: str | None, last: dict[str, Any] | None = None) -> int:
    """Print the before/after table, the gain and the times; ``last``: the retraining's last-epoch metrics."""
    from training.compare import format_table

    print(format_table(table))
    gain = {row["key"]: row["change"] for row in table["rows"]}
    print(f"initial model: {n_initial} slices; corrections: {n_corrected} slices saved through workspaces; "
          f"new version {version}")
    print(f"binary Dice gain {gain['dice_binary']:+.3f} (target +0.05): "
          f"{'met' if (gain['dice_binary'] or 0) >= 0.05 else 'not met'}")
    before = next(row["before"] for row in table["rows"] if row["key"] == "dice_binary")
    if last and last.get("dice_binary") is not None and before is not None:
        # "after" is the best epoch, chosen on these validation slices; the last epoch is not chosen on them
        print(f"last epoch of the retraining: binary Dice {last['dice_binary']:.3f} ({last['dice_binary'] - before:+.3f}), "
              f"GGO {last.get('dice_ggo') or 0:.3f}, consolidation {last.get('dice_consolidation') or 0:.3f}")
    print("wall time: " + ", ".join(f"{k[:-2].replace('_', ' ')} {v:.0f} s" for k, v in times.items())
          + f"; total {sum(times.values()):.0f} s")
    if json_out:
        Path(json_out).write_text(json.dumps({"table": table, "gain": gain, "times_s": times, "settings": settings,
                                              "new_version": version, "last_epoch": last or {}}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
