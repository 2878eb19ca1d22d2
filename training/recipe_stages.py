"""The stages of :mod:`training.recipe` that are not child processes, and the checks that a stage is done.

Each check reads only what the stage writes, so a rerun of the recipe skips
finished work and redoes stale work; each action writes into a staging
folder beside its output and swaps it in only when complete (an interrupted
action leaves the previous output, and the next run clears the staging).
"""
from __future__ import annotations

import filecmp
import json
import shlex
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from core_models.errors import InputError, ModelError

WINDOW_LEVEL, WINDOW_WIDTH = -350.0, 1500.0
PHANTOM_SEED = 201
FIGURES = ("dice_ggo", "dice_consolidation", "dice_binary", "map")
#: TrainConfig fields a run folder may differ in from the recipe (hardware only)
HARDWARE_FIELDS = {"out", "device", "workers", "amp"}


def run_status(run_dir: Path, planned: Any = None) -> str:
    """``done``, ``resume`` or ``start`` for a training run folder.

    Finished: ``last/``'s spec was saved after the configured last epoch (a
    stopped run saves ``last/`` with the epochs it completed), ``curves.jsonl``
    has that epoch's line and, with validation data, ``best/`` exists.
    Unfinished with ``state.pt``: ``resume``. With ``planned`` (a TrainConfig),
    :class:`InputError` when the folder's run was made with other settings.
    """
    try:
        saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["config"]
    except FileNotFoundError:
        return "start"
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{run_dir / 'config.json'} is not a training config; remove {run_dir}") from None
    if planned is not None:
        want = json.loads(json.dumps(planned.to_json()))
        differ = [k for k in want if k in saved and k not in HARDWARE_FIELDS and saved[k] != want[k]]
        if differ:
            raise InputError(f"{run_dir} holds a run with other settings ({differ[0]} {saved.get(differ[0])!r}, "
                             f"the recipe's {want[differ[0]]!r}); remove it or choose another --out")
    if _finished(run_dir, saved):
        return "done"
    return "resume" if (run_dir / "state.pt").is_file() else "start"


def _finished(run_dir: Path, saved: dict[str, Any]) -> bool:
    from core_models.checkpoints import read_spec
    from training.run_state import read_curves

    epochs = saved.get("epochs")
    try:
        last_epoch = read_spec(run_dir / "last").metadata.metrics.get("epoch")
        rows = read_curves(run_dir)
    except (ModelError, OSError, UnicodeDecodeError):
        return False
    logged = any(r.get("kind") == "epoch" and r.get("epoch") == epochs for r in rows)
    return last_epoch == epochs and logged and (not saved.get("val") or (run_dir / "best" / "spec.json").is_file())


@contextmanager
def _staged(target: Path, backup: Path | None = None) -> Iterator[Path]:
    """A staging folder beside ``target`` that replaces it (backed up first to ``backup``) when the block succeeds."""
    from training.bundle_classifier import swap_in

    staging = target.with_name(f".{target.name}.incoming")  # a fixed name: a rerun clears an interrupted one
    shutil.rmtree(staging, ignore_errors=True)
    try:
        yield staging
        target.parent.mkdir(parents=True, exist_ok=True)
        swap_in(staging, target, backup)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def phantoms_ready(folder: Path, cases: int, size: int, slices: int) -> bool:
    """True when ``folder/cases.json`` was written with these settings (seed, grid, number of cases)."""
    from core_models.phantom import PhantomConfig

    try:
        manifest = json.loads((folder / "cases.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    config = json.loads(json.dumps(PhantomConfig(size=size, slices=slices, kind="mixed").to_json()))
    return (manifest.get("seed"), manifest.get("config"), len(manifest.get("cases", []))) == (PHANTOM_SEED, config,
                                                                                             cases)


def write_training_phantoms(folder: Path, cases: int, size: int, slices: int) -> None:
    """Write ``cases`` mixed phantoms (series :data:`PHANTOM_SEED`) into ``folder``, replacing what was there."""
    from core_models.phantom import PhantomConfig, write_phantoms

    with _staged(folder) as staging:
        write_phantoms(staging, cases, PHANTOM_SEED, PhantomConfig(size=size, slices=slices, kind="mixed"))


def window_done(source: Path, dest: Path) -> bool:
    """True when ``dest`` holds ``source``'s weights with the recipe's HU window."""
    from core_models.checkpoints import WEIGHTS_NAME, read_spec

    try:
        prep = read_spec(dest).preprocessing
        same = filecmp.cmp(source / WEIGHTS_NAME, dest / WEIGHTS_NAME, shallow=False)
    except (ModelError, OSError):
        return False
    return same and (prep.window_level, prep.window_width) == (WINDOW_LEVEL, WINDOW_WIDTH)


def set_window(source: Path, dest: Path, level: float = WINDOW_LEVEL, width: float = WINDOW_WIDTH) -> None:
    """Copy the model folder ``source`` to ``dest`` with the spec's HU window (``level``, ``width`` in HU).

    ``source`` is not changed; ``dest`` is replaced as a whole.
    """
    from core_models.checkpoints import SPEC_NAME, read_spec, write_spec

    if not (source / SPEC_NAME).is_file():
        raise InputError(f"{source} holds no model: stage scratch has not finished")
    with _staged(dest) as staging:
        shutil.copytree(source, staging)
        spec = read_spec(staging)
        spec.preprocessing = replace(spec.preprocessing, window_level=float(level), window_width=float(width))
        note = f"HU window set to L {level:g} / W {width:g} by training.recipe"
        spec.metadata.notes = "; ".join(n for n in (spec.metadata.notes, note) if n)
        write_spec(staging, spec)


def export_done(run_dir: Path, bundled: Path) -> bool:
    """True when ``bundled`` was exported from ``run_dir/last`` as it is now (same creation time, data and step)."""
    from core_models.checkpoints import read_spec

    try:
        a, b = read_spec(run_dir / "last").metadata, read_spec(bundled).metadata
    except ModelError:
        return False
    same = (a.created, a.data_hash, a.metrics.get("step")) == (b.created, b.data_hash, b.metrics.get("step"))
    return same and (bundled / "TRAINING.md").is_file()


def export_last(run_dir: Path, bundled: Path, commands: Sequence[Sequence[str]] = ()) -> None:
    """Export ``run_dir``'s LAST epoch as the bundled model, with the recipe added to its TRAINING.md.

    The last epoch on purpose: see :mod:`training.recipe`.
    """
    from core_models.atomic import atomic_write_text
    from training.bundle import export_bundled

    with _staged(bundled) as staging:
        export_bundled(run_dir, staging, checkpoint="last")
        notes = (staging / "TRAINING.md").read_text(encoding="utf-8").rstrip("\n")
        recipe = ["## Recipe", "", "Made by `python -m training.recipe` (`training/recipe.py`): from scratch on "
                  f"MedSeg, HU window set to L {WINDOW_LEVEL:g} / W {WINDOW_WIDTH:g}, fine-tuned on MedSeg + "
                  "phantoms, exported from the fine-tuning's last epoch (its best MedSeg epoch comes before the "
                  "detector has learned phantom lesions; the last epoch's MedSeg figures are within noise of the "
                  "best's).", ""]
        recipe += ["```bash", *(shlex.join(["python", *c[1:]]) for c in commands), "```", ""] if commands else []
        atomic_write_text(staging / "TRAINING.md", notes + "\n\n" + "\n".join(recipe))


def classifier_done(bundled: Path) -> bool:
    """True when the bundled model has classifier S with held-out figures."""
    from core_models.checkpoints import read_spec

    try:
        spec = read_spec(bundled)
    except ModelError:
        return False
    return spec.classifier is not None and "accuracy" in spec.metadata.metrics.get("classifier", {}).get("test", {})


def before_classifier(bundled: Path, backup: Path) -> None:
    """Clear what an interrupted ``bundle_classifier`` left in ``--out`` (its staging folders, its backup).

    ``--backup`` must be a free path; this one is the recipe's own, and the
    model it copied had no S yet (else the stage would be done).
    """
    shutil.rmtree(backup, ignore_errors=True)
    for leftover in bundled.parent.glob(f".{bundled.name}.incoming-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def same_folder(a: Path, b: Path) -> bool:
    """True when both folders hold the same files with the same bytes."""
    if not (a.is_dir() and b.is_dir()):
        return False
    names = sorted(p.name for p in a.iterdir() if p.is_file())
    if names != sorted(p.name for p in b.iterdir() if p.is_file()):
        return False
    return all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def figures(folder: Path) -> dict[str, Any]:
    """A model folder's validation figures and S's held-out accuracy (``{}`` when it holds no model)."""
    from core_models.checkpoints import read_spec

    try:
        metrics = read_spec(folder).metadata.metrics or {}
    except ModelError:
        return {}
    return {**{k: metrics.get(k) for k in FIGURES},
            "classifier_accuracy": (metrics.get("classifier") or {}).get("test", {}).get("accuracy")}


def fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def install(bundled: Path, target: Path, backups: Path) -> None:
    """Replace ``target`` with a copy of ``bundled`` (the old one kept in ``backups/TIME``); print old vs new."""
    if not (bundled / "spec.json").is_file():
        raise InputError(f"{bundled} holds no model: run the recipe's earlier stages first")
    old = figures(target) if target.exists() else {}
    backup = backups / time.strftime("%Y%m%dT%H%M%S") if target.exists() else None
    with _staged(target, backup) as staging:
        shutil.copytree(bundled, staging)
    new = figures(target)
    print(f"installed {bundled} as {target}" + (f" (the previous model is kept in {backup})" if backup else ""))
    for key in (*FIGURES, "classifier_accuracy"):
        print(f"  {key:<20} {fmt(old.get(key)):>6} -> {fmt(new.get(key))}")
