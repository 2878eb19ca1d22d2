"""Add classifier S, trained on synthetic phantoms, to the bundled model: one reproducible command.

``python -m training.bundle_classifier [--model resources/models/default] [--work runs/bundle_classifier]``

1. writes ``lesionloop phantom`` cases of the three classes (normal → Control,
   cap → common pneumonia, covid → COVID-19) for training, validation and a
   held-out test set (different series seeds, so different patients);
2. trains S on the model with ``train-classifier --s-only`` (the detector is
   frozen: segmentation stays bit-identical);
3. scores the best S on the held-out test phantoms; below ``--min-accuracy``
   it stops and ships nothing;
4. builds the new model folder in a staging copy of ``--model`` (fp16
   weights, spec declaring S with ``trained_on: phantom``, the classifier
   section of ``TRAINING.md`` rewritten), checks that every detector tensor is
   bit-identical to the original's and that inference gives the same label
   map and detections, the size limit, and the test figures again with the
   stored fp16 weights;
5. only then backs the original up (``--backup``, default under /tmp) and
   swaps the new folder in. On any failure the original is untouched.

No real Control or common-pneumonia CT is available here: the notes say
plainly that S was trained and tested on phantoms only.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

from core_models.atomic import atomic_write_text
from core_models.checkpoints import load_model, read_spec, read_weights, save_model, write_spec
from core_models.errors import LesionLoopError, ModelError
from core_models.inference import run_inference, run_to_completion
from core_models.io import read_volume
from core_models.model_store import bundled_model_dir
from core_models.phantom import PhantomConfig, write_phantoms
from training.bundle import SIZE_LIMIT_MB
from training.classifier import train_classifier
from training.classifier_setup import ClassifierConfig, evaluate_classifier
from training.data.classification import ClassImageLoader, collect_class_data
from training.data.records import SliceReader

SEEDS = {"train": 101, "val": 102, "test": 103}
BEGIN, END = "<!-- classifier-s:begin -->", "<!-- classifier-s:end -->"
CLASS_LABELS = ("Control", "CP", "COVID-19")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.bundle_classifier", description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=bundled_model_dir(), help="segmentation model folder (bundled)")
    p.add_argument("--out", type=Path, help="where the model with S goes (default: --model, replaced)")
    p.add_argument("--work", type=Path, default=Path("runs/bundle_classifier"), help="phantoms and the run")
    p.add_argument("--backup", type=Path, help="copy of the original (default /tmp/lesionloop-bundled-backup-TIME)")
    p.add_argument("--size", type=int, default=384, help="phantom slice side in pixels (384)")
    p.add_argument("--slices", type=int, default=16, help="slices per phantom case (16)")
    p.add_argument("--cases", type=int, nargs=3, default=(30, 9, 9), metavar=("TRAIN", "VAL", "TEST"),
                   help="phantom cases per split, cycling covid, cap, normal (30 9 9)")
    p.add_argument("--epochs", type=int, default=8, help="epochs of S (8; held-out accuracy levels off after about 4)")
    p.add_argument("--lr", type=float, default=1e-4, help="peak learning rate of S (1e-4)")
    p.add_argument("--min-accuracy", type=float, default=0.6, help="held-out accuracy needed to ship (0.6)")
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


def make_phantoms(work: Path, cases: tuple[int, int, int], size: int, slices: int) -> dict[str, Path]:
    """Train / val / test phantom folders (mixed classes), reused when already written with these settings."""
    folders = {}
    for split, count in zip(SEEDS, cases):
        folder = work / f"phantoms_{split}_{size}px_{slices}sl_{count}"
        if not (folder / "cases.json").is_file():
            write_phantoms(folder, count, SEEDS[split], PhantomConfig(size=size, slices=slices, kind="mixed"))
        folders[split] = folder
    return folders


def evaluate_folder(model_dir: Path, folder: Path, device: str) -> dict[str, Any]:
    """S's figures on one phantom folder (lesion-free CP / COVID-19 slices left out, as in training)."""
    model, spec = load_model(model_dir, device)
    loader = ClassImageLoader(spec.preprocessing, SliceReader(spec.preprocessing))
    data = collect_class_data([folder], loader.reader)
    report = evaluate_classifier(model, data.records, loader, device=device)
    report.pop("predictions")
    return {**report, "slices": len(data.records), "class_counts": data.class_counts(), "dropped": data.dropped}


def _detector_tensors(folder: Path) -> dict[str, torch.Tensor]:
    """A model folder's detector weights by their detector-relative names (S left out)."""
    state = read_weights(folder)[0]
    return {k.removeprefix("detector."): v for k, v in state.items() if not k.startswith("s_module.")}


def check_detector_unchanged(original: Path, new: Path) -> int:
    """Number of detector tensors compared; :class:`ModelError` unless all are bit-identical."""
    before, after = _detector_tensors(original), _detector_tensors(new)
    differing = sorted(set(before) ^ set(after)) + [
        k for k, v in before.items() if k in after and not (after[k].dtype == v.dtype and torch.equal(after[k], v))]
    if differing:
        raise ModelError(f"{len(differing)} segmentation tensor(s) changed (e.g. {differing[0]}); nothing shipped")
    return len(before)


def check_segmentation_unchanged(original: Path, new: Path, volume_path: Path, slices: int = 4) -> int:
    """Slices compared; :class:`ModelError` unless both models give the same labels and detections."""
    volume = read_volume(volume_path)
    first = max(0, volume.shape[0] // 2 - slices // 2)
    indices = list(range(first, min(volume.shape[0], first + slices)))
    results = []
    for folder in (original, new):
        model, spec = load_model(folder)
        results.append(run_to_completion(run_inference(model, spec, volume, device="cpu", slice_indices=indices)))
    a, b = results
    for z in indices:
        same = (a.labels.array[z] == b.labels.array[z]).all() and len(a.slices[z].rois) == len(b.slices[z].rois) \
            and all(r.box == s.box and r.score == s.score for r, s in zip(a.slices[z].rois, b.slices[z].rois))
        if not same:
            raise ModelError(f"segmentation of slice {z} differs after adding S; nothing shipped")
    if b.slices[indices[0]].class_probs is None:
        raise ModelError("the new model gives no class probabilities; nothing shipped")
    return len(indices)


def _matrix_table(matrix: list[list[int]]) -> list[str]:
    lines = ["| true \\ predicted | " + " | ".join(CLASS_LABELS) + " |", "| --- | --- | --- | --- |"]
    lines += [f"| {name} | " + " | ".join(str(v) for v in row) + " |" for name, row in zip(CLASS_LABELS, matrix)]
    return lines


def notes_section(figures: dict[str, Any], command: str) -> str:
    """The ``TRAINING.md`` section on S (between the classifier-s markers)."""
    test, val = figures["test"], figures["val"]
    sens = ", ".join(f"{n} {test[f'sensitivity_{k}']:.2f}" for n, k in zip(CLASS_LABELS, ("control", "cp", "covid19")))
    lines = [BEGIN, "", "## Classifier S: trained on synthetic phantoms only", "",
             "**Not validated on real CT.** No real Control or common-pneumonia CT was available, so S was trained "
             "and tested on `lesionloop phantom` cases only (normal → Control, cap → common pneumonia, covid → "
             "COVID-19). Its probabilities say how much a slice looks like these phantom classes, not like patients; "
             "the viewer and `lesionloop infer` show this note beside them.", "",
             f"S (R = {figures['R']} ranked RoIs, s = {figures['s']}, seed rows) was trained alone "
             "(`train-classifier --s-only`): the segmentation weights above are bit-identical "
             f"({figures['tensors_checked']} tensors compared, and inference on {figures['slices_checked']} phantom "
             "slices gives the same label map and detections).", "",
             "Command (re-run it after replacing the segmentation weights):", "", "```bash", command, "```", "",
             f"Data: {figures['train_slices']} training slices (Control / CP / COVID-19: "
             f"{' / '.join(map(str, figures['train_counts']))}), {val['slices']} validation slices, "
             f"{test['slices']} held-out test slices from other phantom patients; {figures['size']}² px, "
             "CP / COVID-19 slices without a lesion left out.", "",
             f"Held-out test (fp16 weights as shipped): accuracy {test['accuracy']:.3f}, sensitivity {sens}.", ""]
    lines += _matrix_table(test["confusion_matrix"])
    lines += ["", f"Validation accuracy of the chosen epoch ({figures['best_epoch']} of {figures['epochs']}): "
              f"{val['accuracy']:.3f}. Wall time {figures['minutes']:.1f} min on {figures['device']}.", "", END]
    return "\n".join(lines) + "\n"


def with_section(text: str, section: str) -> str:
    """``text`` with its classifier section replaced (or appended)."""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + section.rstrip("\n") + rest.split(END, 1)[1]
    return text.rstrip("\n") + "\n\n" + section


def assemble(model_dir: Path, best: Path, staging: Path) -> None:
    """A copy of ``model_dir`` in ``staging`` with S added (fp16 when the original is), keeping its metadata."""
    shutil.copytree(model_dir, staging)
    original = read_spec(model_dir)
    model, spec = load_model(best)
    spec.metadata = original.metadata
    spec.metadata.notes = "; ".join(n for n in (original.metadata.notes, "classifier S added by "
                                    "training.bundle_classifier, trained on synthetic phantoms only") if n)
    half = any(v.dtype == torch.float16 for v in read_weights(model_dir)[0].values())
    save_model(model, spec, staging, half=half)  # the original's precision: its tensors stay bit-identical


def record_figures(staging: Path, figures: dict[str, Any]) -> None:
    """Write S's figures into the staged spec (``metrics["classifier"]``) and its ``TRAINING.md`` section."""
    spec = read_spec(staging)
    spec.metadata.metrics = {**(spec.metadata.metrics or {}), "classifier": {
        "trained_on": "phantom", "test": figures["test"], "validation_accuracy": figures["val"]["accuracy"],
        "train_slices": figures["train_slices"], "train_class_counts": figures["train_counts"]}}
    write_spec(staging, spec)
    notes = (staging / "TRAINING.md").read_text(encoding="utf-8") if (staging / "TRAINING.md").exists() else ""
    atomic_write_text(staging / "TRAINING.md", with_section(notes, notes_section(figures, figures["command"])))


def swap_in(staging: Path, target: Path, backup: Path | None) -> None:
    """Back ``target`` up (when it exists) and put ``staging`` in its place."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        if backup is not None:
            shutil.copytree(target, backup)
        os.rename(target, old)
    os.rename(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def _folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 1e6


def _train(args: argparse.Namespace, folders: dict[str, Path], run: Path) -> Any:
    config = ClassifierConfig(init=str(args.model), data=[str(folders["train"])], val=[str(folders["val"])],
                              out=str(run), epochs=args.epochs, lr=args.lr, s_only=True, device=args.device,
                              version="bundled-s")
    result = train_classifier(config, command=args.command)
    if result.best_dir is None:
        raise LesionLoopError("the classifier run produced no validated model; nothing shipped")
    return result


def _figures(args: argparse.Namespace, result: Any) -> dict[str, Any]:
    spec = read_spec(result.best_dir)
    c = spec.metadata.metrics["classifier"]
    return {"R": spec.classifier["R"], "s": spec.classifier["s"], "train_slices": c["train_slices"],
            "train_counts": c["train_class_counts"], "val": {"accuracy": c["accuracy"], "slices": c["val_slices"]},
            "best_epoch": result.best_epoch, "epochs": args.epochs, "size": args.size, "device": args.device,
            "command": args.command}


def _stage_and_check(args: argparse.Namespace, best: Path, staging: Path, figures: dict[str, Any],
                     test_volume: Path, test_folder: Path) -> None:
    assemble(args.model, best, staging)
    figures["tensors_checked"] = check_detector_unchanged(args.model, staging)
    figures["slices_checked"] = check_segmentation_unchanged(args.model, staging, test_volume)
    figures["test"] = evaluate_folder(staging, test_folder, args.device)  # the fp16 weights as shipped
    if not figures["test"]["accuracy"] >= args.min_accuracy:
        raise LesionLoopError(f"fp16 accuracy {figures['test']['accuracy']:.3f} is below {args.min_accuracy}")


def bundle_classifier(args: argparse.Namespace) -> dict[str, Any]:
    """Steps 1-5 of the module docstring; returns the figures."""
    start = time.perf_counter()
    target = args.out or args.model
    folders = make_phantoms(args.work, tuple(args.cases), args.size, args.slices)
    run = args.work / "run"
    shutil.rmtree(run, ignore_errors=True)
    result = _train(args, folders, run)
    test = evaluate_folder(Path(result.best_dir), folders["test"], args.device)
    if not test["accuracy"] >= args.min_accuracy:
        raise LesionLoopError(f"held-out phantom accuracy {test['accuracy']:.3f} is below {args.min_accuracy} "
                              f"(confusion matrix {test['confusion_matrix']}); nothing shipped")
    figures = _figures(args, result)
    staging = target.with_name(f".{target.name}.incoming-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _stage_and_check(args, Path(result.best_dir), staging, figures, folders["test"] / "case_000.nii.gz",
                         folders["test"])
        figures["minutes"] = (time.perf_counter() - start) / 60.0
        record_figures(staging, figures)
        figures["size_mb"] = _folder_mb(staging)
        if figures["size_mb"] > SIZE_LIMIT_MB:
            raise LesionLoopError(f"the model folder would be {figures['size_mb']:.1f} MB, over {SIZE_LIMIT_MB:.0f} MB")
        backup = (args.backup or Path(f"/tmp/lesionloop-bundled-backup-{time.strftime('%Y%m%dT%H%M%S')}")
                  if target.exists() else None)
        swap_in(staging, target, backup)
        figures["backup"] = str(backup) if backup else None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    args.command = shlex.join(["python", "-m", "training.bundle_classifier", *argv])
    try:
        figures = bundle_classifier(args)
    except LesionLoopError as exc:
        print(f"training.bundle_classifier: error: {exc}", file=sys.stderr)
        return 2
    test = figures["test"]
    print(f"S added to {args.out or args.model}: held-out phantom accuracy {test['accuracy']:.3f}, confusion matrix "
          f"{test['confusion_matrix']}, {figures['size_mb']:.1f} MB; backup of the original: {figures['backup']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
