"""``lesionloop infer INPUT --out OUT [--model M] [--device D] [--report R.json] [--[no-]lungs-only]``.

- a volume (DICOM folder, NIfTI, NRRD, MHA) in -> a label volume out
  (``.nii``/``.nii.gz``/``.nrrd``/``.seg.nrrd``/``.mha`` by extension) on the input's grid;
- one 2D image in -> a PNG label image of the same size;
- a folder of 2D images in -> a folder of PNG label images with the same file stems.

``--lungs-only`` / ``--no-lungs-only`` override the model spec's ``restrict_to_lungs``:
drop predicted lesions that lie mostly outside the lungs (HU volumes only).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from core_models.atomic import atomic_write_json
from core_models.checkpoints import load_model
from core_models.errors import InputError
from core_models.inference import run_inference, run_to_completion
from core_models.io import read_volume, write_labels
from core_models.model_store import resolve_model_dir
from core_models.prediction import Prediction
from core_models.volume import CTVolume
from training.cli.progress import ProgressBar

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".seg.nrrd", ".mha")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("infer", help="segment GGO and consolidation with a model",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="DICOM folder or file, NIfTI, NRRD, MHA, PNG/JPG slice or folder of slices")
    p.add_argument("--out", required=True, help="label output: a volume file, a .png, or a folder for 2D slices")
    p.add_argument("--model", help="model folder or registered version (default: the active version)")
    p.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--batch", type=int, default=4, help="slices per forward pass (default 4)")
    p.add_argument("--series", help="DICOM series index or UID when a folder holds several")
    p.add_argument("--report", help="write a JSON report (per-slice probabilities, detections, volumes, timings)")
    p.add_argument("--lungs-only", dest="lungs_only", action=argparse.BooleanOptionalAction, default=None,
                   help="drop predicted lesions mostly outside the lungs, HU volumes only "
                        "(default: the model spec's restrict_to_lungs)")
    p.set_defaults(func=run)


def output_kind(volume: CTVolume, out: Path) -> str:
    """``volume``, ``png`` or ``png-folder``; :class:`InputError` when OUT does not fit INPUT."""
    name = out.name.lower()
    image_folder = "slice_files" in volume.meta
    if not image_folder:
        if any(name.endswith(s) for s in VOLUME_SUFFIXES):
            return "volume"
        raise InputError(f"--out {out}: a volume input needs a .nii, .nii.gz, .nrrd, .seg.nrrd or .mha output")
    if len(volume.meta["slice_files"]) == 1 and name.endswith(".png"):
        return "png"
    if out.suffix == "" or out.is_dir():
        return "png-folder"
    if name.endswith(".png"):
        raise InputError(f"--out {out}: the input has {volume.shape[0]} slices; give a folder for their PNG labels")
    raise InputError(f"--out {out}: a 2D image input needs a .png output (one image) or a folder (several)")


def run(args: argparse.Namespace) -> int:
    volume = read_volume(args.input, series=args.series)
    out = Path(args.out)
    kind = output_kind(volume, out)
    model, spec = load_model(resolve_model_dir(args.model))
    bar = ProgressBar("infer")
    gen = run_inference(model, spec, volume, device=args.device, batch_size=args.batch,
                        restrict_to_lungs=args.lungs_only)
    prediction = run_to_completion(gen, lambda p: bar.update(p.done, p.total, p.message))
    if kind == "volume":
        written = write_labels(prediction.labels, out)
    else:
        stems = [Path(f).stem + ".png" for f in volume.meta["slice_files"]]
        written = write_labels(prediction.labels, out, slice_names=None if kind == "png" else stems)
    if args.report:
        report = prediction.to_report()
        report["input"] = {"path": str(args.input), "source": volume.source, "shape": list(volume.shape),
                           "spacing": list(volume.spacing), "hu": volume.is_hu}
        atomic_write_json(args.report, report)
    _summary(prediction, written)
    return 0



def _summary(prediction: Prediction, written: list[Path]) -> None:
    vols = prediction.volumes_ml()
    print(f"model {prediction.model_version} on {prediction.device}: "
          f"{len(prediction.slices)} slices in {prediction.timings.total:.1f} s")
    print(f"lesion volume: GGO {vols.get(1, 0.0):.2f} mL, consolidation {vols.get(2, 0.0):.2f} mL")
    probs = prediction.series_class_probs
    if probs is not None:
        print("series class probabilities: Control {:.2f}, common pneumonia {:.2f}, COVID-19 {:.2f}".format(*probs))
    for w in prediction.warnings:
        print(f"warning: {w}")
    for n in prediction.notes:
        print(n)
    where = written[0] if len(written) == 1 else f"{len(written)} files in {written[0].parent}"
    print(f"labels written to {where}")
