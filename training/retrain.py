"""Retraining from reviewers' corrections: what a run will use, a frozen copy of it, its command.

The viewer's "Retrain from corrections…" dialog and ``bench/loop_gain.py``
both go through this module, so both take the same path:

1. :func:`summarize_workspace` tells what each workspace holds (accepted and
   corrected slices, and per class how many of them hold it and how many pixels);
2. :func:`prepare_run` checks a :class:`RetrainPlan`, freezes the training
   data into the run folder (:func:`write_snapshot`: one small workspace per
   source workspace with a copy of its labels, so saving more corrections
   during training changes nothing) and returns the ``lesionloop train``
   arguments: ``--progress-json --stop-file … --register --compare-with …``;
3. the caller runs ``python -m training ARGS`` as a separate process.

Validation is either a held-out part of the corrected slices (drawn with the
plan's seed) or folders the user chose. Nothing in a source workspace is
written to.
"""
from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from core_models.atomic import atomic_write_json
from core_models.errors import InputError, LesionLoopError
from core_models.paths import user_home
from training.data.workspace import (TRAINING_STATUSES, WORKSPACE_FILE, WORKSPACE_FORMAT, WORKSPACE_SCHEMA,
                                     read_review)

#: label values counted in a summary
CLASS_VALUES: dict[str, int] = {"ggo": 1, "consolidation": 2}
DATA_FOLDER = "data"
STOP_FILE = "stop"


def check_schedule(epochs: int, lr: float | None) -> None:
    """Raise :class:`InputError` unless ``epochs`` is a whole number in 1..10000 and ``lr`` (if given) in (0, 1]."""
    if not isinstance(epochs, int) or not 1 <= epochs <= 10_000:
        raise InputError(f"epochs must be a whole number from 1 to 10000, got {epochs}")
    if lr is not None and not (math.isfinite(lr) and 0 < lr <= 1):
        raise InputError(f"learning rate must be in (0, 1], got {lr}")


@dataclass
class WorkspaceSummary:
    """What one workspace would give to training.

    Attributes
    ----------
    folder : Path
    statuses : dict
        Slice count per review status (``accepted``, ``corrected``, ``flagged``).
    slices_with : dict
        Training slices (accepted or corrected) holding each class (``ggo``, ``consolidation``).
    pixels : dict
        Pixels of each class over the training slices.
    problem : str or None
        Why the workspace cannot be used (one line); ``None`` when it can.
    """

    folder: Path
    statuses: dict[str, int] = field(default_factory=dict)
    slices_with: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASS_VALUES, 0))
    pixels: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASS_VALUES, 0))
    problem: str | None = None

    @property
    def training_slices(self) -> int:
        """Accepted plus corrected slices."""
        return sum(self.statuses.get(s, 0) for s in TRAINING_STATUSES)


def summarize_workspace(folder: str | Path) -> WorkspaceSummary:
    """Count a workspace's reviewed slices and, in its training slices, the pixels of each class.

    Never raises for a broken workspace: :attr:`WorkspaceSummary.problem` says what is wrong.
    """
    from core_models.io import read_labels

    summary = WorkspaceSummary(Path(folder))
    try:
        review = read_review(folder)
        for status in review["slices"].values():
            summary.statuses[status] = summary.statuses.get(status, 0) + 1
        chosen = sorted(z for z, s in review["slices"].items() if s in TRAINING_STATUSES)
        if not chosen:
            return summary
        if not review["ct"].exists():
            raise InputError(f"its CT {review['ct']} does not exist")
        labels = read_labels(review["labels"]).array
        if chosen[-1] >= labels.shape[0]:
            raise InputError(f"slice {chosen[-1]} is reviewed but the labels have {labels.shape[0]} slices")
        part = labels[chosen]
        for name, value in CLASS_VALUES.items():
            hits = (part == value).reshape(len(chosen), -1).sum(axis=1)
            summary.slices_with[name] = int((hits > 0).sum())
            summary.pixels[name] = int(hits.sum())
    except LesionLoopError as exc:
        summary.problem = str(exc)
    return summary


@dataclass
class RetrainPlan:
    """The settings of one retraining run (what the dialog collects).

    Attributes
    ----------
    workspaces : list of str
        Workspace folders whose accepted and corrected slices train.
    out : str
        Run folder (created; must not hold a run yet). Default: :func:`default_run_dir`.
    base : str or None
        Model folder or registered version to fine-tune (``--init``); ``None`` trains from scratch.
    compare_with : str or None
        The model of the "before" column (the active version); ``None``: no table.
    epochs : int
    lr : float or None
        Peak learning rate; ``None``: the default (1e-4 fine-tuning, 1e-3 from scratch).
    val_fraction : float
        Share of the corrected slices held out for validation (when ``val_paths`` is empty).
    val_paths : list of str
        Validation data folders (any ``lesionloop train`` layout) instead of a held-out part.
    device : str
        ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    seed : int
        Seed of the held-out draw and of training.
    extra_args : list of str
        Further ``lesionloop train`` options (e.g. the network of a run from scratch).
    extra_data : list of str
        Further training data (any ``lesionloop train`` layout) trained on beside the corrections,
        e.g. the base model's own training set, so fine-tuning does not forget it.
    """

    workspaces: list[str]
    out: str = ""
    base: str | None = None
    compare_with: str | None = None
    epochs: int = 5
    lr: float | None = None
    val_fraction: float = 0.2
    val_paths: list[str] = field(default_factory=list)
    device: str = "auto"
    seed: int = 0
    extra_args: list[str] = field(default_factory=list)
    extra_data: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Raise :class:`InputError` on settings that cannot work."""
        if not self.workspaces:
            raise InputError("no workspace chosen: add the workspace folders whose corrections should train")
        check_schedule(self.epochs, self.lr)
        if not self.val_paths and not 0 < self.val_fraction < 1:
            raise InputError(f"the held-out share must be between 0 and 1, got {self.val_fraction}")
        for path in self.val_paths:
            if not Path(path).exists():
                raise InputError(f"validation folder {path} does not exist")
        for path in self.extra_data:
            if not Path(path).exists():
                raise InputError(f"training data folder {path} does not exist")


def default_run_dir(when: datetime | None = None) -> Path:
    """``$LESIONLOOP_HOME/runs/retrain-<UTC time>`` (a suffix makes it unique)."""
    stamp = (when or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S")
    base = user_home() / "runs" / f"retrain-{stamp}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


def training_slices(workspaces: Sequence[str | Path]) -> list[tuple[Path, int]]:
    """(workspace, z) of every accepted or corrected slice, workspaces in the given order."""
    out: list[tuple[Path, int]] = []
    for folder in workspaces:
        review = read_review(folder)
        out += [(Path(folder), z) for z in sorted(review["slices"]) if review["slices"][z] in TRAINING_STATUSES]
    return out


def hold_out(slices: Sequence[tuple[Path, int]], fraction: float,
             seed: int) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """Split slices into (train, validation): ``round(fraction * n)`` drawn with ``seed``, at least one each."""
    n = len(slices)
    if n < 2:
        raise InputError(f"{n} corrected or accepted slice(s): hold-out validation needs at least 2 "
                         "(review more slices, or choose a validation folder)")
    n_val = min(max(1, round(fraction * n)), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    chosen = set(order[:n_val].tolist())
    return ([s for i, s in enumerate(slices) if i not in chosen], [s for i, s in enumerate(slices) if i in chosen])


def write_snapshot(slices: Sequence[tuple[Path, int]], dest: Path) -> list[Path]:
    """One workspace per source under ``dest`` with only ``slices`` and a copy of its labels.

    The copies keep the source folder's name (its slices' ids in the data
    hash), with ``-2``, ``-3``... when two sources share a name.
    """
    by_source: dict[Path, list[int]] = {}
    for folder, z in slices:
        by_source.setdefault(folder, []).append(z)
    written: list[Path] = []
    used: set[str] = set()
    for source, zs in by_source.items():
        review = read_review(source)
        name, n = source.name, 1
        while name in used:
            n += 1
            name = f"{source.name}-{n}"
        used.add(name)
        target = dest / name
        target.mkdir(parents=True, exist_ok=False)
        labels = review["labels"]
        if not labels.is_file():
            raise InputError(f"workspace {source}: its labels {labels} do not exist (save the workspace first)")
        shutil.copy2(labels, target / labels.name)
        atomic_write_json(target / WORKSPACE_FILE, {
            "format": WORKSPACE_FORMAT, "schema": WORKSPACE_SCHEMA, "ct": str(review["ct"].resolve()),
            "labels": labels.name, "slices": {str(z): review["slices"][z] for z in sorted(zs)},
            "source": str(source.resolve())})
        written.append(target)
    return written


def train_args(plan: RetrainPlan, train_dirs: Sequence[Path], val_dirs: Sequence[str | Path]) -> list[str]:
    """The ``lesionloop train`` arguments of a prepared plan (what follows ``python -m training``)."""
    out = Path(plan.out)
    data = [*map(str, train_dirs), *(str(Path(p).absolute()) for p in plan.extra_data)]
    args = ["train", "--data", *data, "--val", *map(str, val_dirs), "--out", str(out),
            "--epochs", str(plan.epochs), "--device", plan.device, "--seed", str(plan.seed),
            "--progress-json", "--stop-file", str(out / STOP_FILE), "--register"]
    if plan.lr is not None:
        args += ["--lr", repr(float(plan.lr))]
    if plan.base:
        args += ["--init", str(plan.base)]
    if plan.compare_with:
        args += ["--compare-with", str(plan.compare_with)]
    return args + list(plan.extra_args)


def prepare_run(plan: RetrainPlan) -> list[str]:
    """Check the plan, freeze its data into ``plan.out/data`` and return the ``lesionloop train`` arguments.

    Raises
    ------
    InputError
        No usable slices, an unreadable workspace, a taken run folder, bad settings.
    """
    plan.check()
    if not plan.out:
        plan.out = str(default_run_dir())
    out = Path(plan.out)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"run folder {out} is not empty; choose another")
    slices = training_slices(plan.workspaces)
    if not slices:
        raise InputError("no corrections yet: the chosen workspaces have no accepted or corrected slices "
                         "(review some slices and save first)")
    if plan.val_paths:
        train, val = list(slices), []
    else:
        train, val = hold_out(slices, plan.val_fraction, plan.seed)
    data = out / DATA_FOLDER
    train_dirs = write_snapshot(train, data / "train")
    val_dirs: list[str | Path] = list(plan.val_paths) or write_snapshot(val, data / "val")
    return train_args(plan, train_dirs, val_dirs)


# -- classification module S ("Train classifier S…") ---------------------------------------------


def class_counts(folder: str | Path) -> dict[str, int]:
    """Slices per image class (``Control``, ``Common pneumonia``, ``COVID-19``) of a classification data folder.

    Raises :class:`InputError` when the folder gives no class for its slices.
    """
    from core_models.prediction import CLASS_NAMES
    from training.data.classification import records_with_classes

    counts = dict.fromkeys(CLASS_NAMES, 0)
    for record in records_with_classes(folder):
        counts[CLASS_NAMES[int(record.class_id)]] += 1
    return counts


@dataclass
class ClassifierPlan:
    """The settings of one ``lesionloop train-classifier`` run started from the viewer.

    Attributes
    ----------
    data : list of str
        Folders of slices with image classes (seed-named images, phantom folders).
    init : str
        The segmentation model S is put on (the active version).
    out : str
        Run folder (default :func:`default_run_dir` with a ``classifier`` prefix).
    epochs : int
    lr : float or None
        ``None``: the command's default (1e-4).
    val_paths : list of str
        Validation folders (pick ``best/``); empty: none.
    s_only : bool
        Train S alone, so segmentation stays exactly the init model's.
    device : str
    extra_args : list of str
        Further ``lesionloop train-classifier`` options.
    """

    data: list[str]
    init: str
    out: str = ""
    epochs: int = 10
    lr: float | None = None
    val_paths: list[str] = field(default_factory=list)
    s_only: bool = True
    device: str = "auto"
    extra_args: list[str] = field(default_factory=list)


def classifier_args(plan: ClassifierPlan) -> list[str]:
    """Check ``plan`` and return its ``train-classifier`` arguments (what follows ``python -m training``)."""
    if not plan.data:
        raise InputError("no classification data chosen: add folders of slices with image classes")
    if not plan.init:
        raise InputError("no segmentation model to put classifier S on (activate a model version first)")
    check_schedule(plan.epochs, plan.lr)
    for path in [*plan.data, *plan.val_paths]:
        if not Path(path).exists():
            raise InputError(f"data folder {path} does not exist")
    if not plan.out:
        plan.out = str(default_run_dir()).replace("retrain-", "classifier-")
    out = Path(plan.out)
    args = ["train-classifier", "--init", plan.init, "--data", *plan.data, "--out", str(out),
            "--epochs", str(plan.epochs), "--device", plan.device, "--progress-json",
            "--stop-file", str(out / STOP_FILE), "--register"]
    if plan.val_paths:
        args += ["--val", *plan.val_paths]
    if plan.lr is not None:
        args += ["--lr", repr(float(plan.lr))]
    if plan.s_only:
        args.append("--s-only")
    return args + list(plan.extra_args)
