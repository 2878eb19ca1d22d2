"""Export a trained run as the bundled model in ``resources/models/default``.

``python -m training.bundle RUN_DIR [--out resources/models/default] [--checkpoint best|last]``
takes ``RUN_DIR/best`` (or ``last`` when there was no validation, or when
asked: a fine-tuning whose best epoch on the validation data came before it
learned what the rest of the run taught it), stores its weights
as fp16 safetensors (the bundled model must stay ≤ 25 MB), marks its spec as
the ``bundled`` version with ``restrict_to_lungs`` on (it is run on whole
chest CTs; it learned from slices cropped to the lungs), and writes
``TRAINING.md`` beside it with the training command, the validation
figures and the per-epoch curve summary.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core_models.atomic import atomic_write_text
from core_models.checkpoints import load_model, save_model
from core_models.errors import LesionLoopError
from core_models.model_store import BUNDLED_NAME, bundled_model_dir
from training.run_state import CURVES_NAME, read_curves

SIZE_LIMIT_MB = 25.0
FIGURES = ("dice_ggo", "dice_consolidation", "dice_binary", "map", "ap50", "ap75")


def export_bundled(run_dir: Path, out: Path, checkpoint: str = "best") -> Path:
    """Write the run's ``checkpoint`` model (``best`` or ``last``) into ``out`` as the bundled fp16 model.

    ``best`` falls back to ``last`` when the run had no validation. Returns ``out``.
    """
    if checkpoint not in ("best", "last"):
        raise LesionLoopError(f"checkpoint must be 'best' or 'last', not {checkpoint!r}")
    source = run_dir / checkpoint
    if checkpoint == "best" and not (source / "spec.json").exists():
        source = run_dir / "last"
    model, spec = load_model(source)
    spec.metadata.notes = (spec.metadata.notes + " " if spec.metadata.notes else "") + \
        f"bundled from {source.name} of run {run_dir.name}"
    spec.metadata.version = BUNDLED_NAME
    spec.restrict_to_lungs = True  # run on whole chest CTs: drop lesions outside the lungs
    save_model(model, spec, out, half=True)
    size_mb = sum(p.stat().st_size for p in out.iterdir() if p.is_file()) / 1e6
    if size_mb > SIZE_LIMIT_MB:
        raise LesionLoopError(f"bundled model is {size_mb:.1f} MB, over the {SIZE_LIMIT_MB:.0f} MB limit")
    atomic_write_text(out / "TRAINING.md", _training_notes(run_dir, spec, size_mb, source.name))
    return out


def _training_notes(run_dir: Path, spec, size_mb: float, checkpoint: str = "best") -> str:
    metrics = spec.metadata.metrics or {}
    lines = [f"# Bundled model ({spec.builder}, {spec.builder_args.get('backbone', '')}, "
             f"truncation {spec.builder_args.get('truncation', '')}, mask type {spec.mask_type})", "",
             f"Weights: fp16 safetensors, {size_mb:.1f} MB in all.", "", "Training command:", "",
             "```bash", spec.metadata.command or "(not recorded)", "```", "",
             "Validation (MedSeg split of BASELINES.md: files with index i % 5 == 0; Dice per class averaged "
             "over the validation slices whose ground truth holds the class):", ""]
    lines += [f"- {name}: {metrics[name]:.3f}" for name in FIGURES if isinstance(metrics.get(name), (int, float))]
    if (run_dir / CURVES_NAME).exists():
        epochs = [row for row in read_curves(run_dir) if row.get("kind") == "epoch"]
        lines += ["", f"Epochs run: {len(epochs)}."]
    which = "its best epoch on the validation data" if checkpoint == "best" else "its last epoch"
    lines += ["", f"Exported checkpoint: {checkpoint} ({which})."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.bundle", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=bundled_model_dir())
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="the run's best epoch on its validation data (default) or its last epoch")
    args = parser.parse_args(argv)
    try:
        out = export_bundled(args.run_dir, args.out, args.checkpoint)
    except LesionLoopError as exc:
        print(f"training.bundle: error: {exc}", file=sys.stderr)
        return 2
    print(f"bundled model written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
