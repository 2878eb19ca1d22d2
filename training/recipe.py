"""The bundled model's recipe in one command: ``python -m training.recipe [--out runs/recipe] [--install]``.

The bundled model is a light Mask R-CNN with a semantic head, trained from
scratch on the 40 MedSeg training slices, fine-tuned on MedSeg plus synthetic
phantoms (so the detector also sees lesions in Hounsfield-unit CT), exported
as fp16 and given classifier S trained on phantoms. Stages, each writing one
folder of ``--out`` (CPU times measured on the shared 2-core CPU):

==========  ==============  =================================================================  ========
stage       output          what it does                                                       CPU
==========  ==============  =================================================================  ========
scratch     stage1_scratch  ``training train`` on MedSeg (``medseg-split`` validation), 50       ~35 min
                            epochs, lr 1e-3, semantic head with skips, anchors 8-128 px
phantoms    phantoms_seg    12 mixed phantoms (series seed 201, 384 px, 6 slices)              < 1 min
window      stage1_init     stage 1's ``best/`` with the spec's HU window at L -350 / W 1500   seconds
mixed       stage2_mixed    ``training train --init stage1_init`` on MedSeg + phantoms, 16     ~20 min
                            epochs, lr 3e-4
export      bundled         :func:`training.bundle.export_bundled` of stage 2's LAST epoch     seconds
                            (fp16, <= 25 MB, TRAINING.md)
classifier  bundled         ``training.bundle_classifier`` adds S in place (phantom-trained;   ~15 min
                            on failure the model stays as it was)
install     ``--target``    only with ``--install``: ``bundled`` replaces                      seconds
                            resources/models/default (old one kept in previous_bundled/)
==========  ==============  =================================================================  ========

Why the window: the MedSeg JPEGs are display-windowed 8-bit images, so the
scratch model takes 8-bit grey; Hounsfield-unit input (phantoms, DICOM) is
windowed with the spec's window, and L -350 / W 1500 puts normal lung at grey
~40 and GGO at ~100, as in the training JPEGs. Why the LAST epoch, on
purpose: the best MedSeg epoch of the fine-tuning comes before the detector
has learned phantom lesions (and S is trained on phantoms); the last epoch's
MedSeg figures are within noise of the best's.

Every stage is resumable and idempotent: a stage whose output is complete
prints ``stage X: done, skipped``; a training run with ``state.pt`` that has
not finished continues with ``--resume``; a run folder made with other
settings is an error (remove it or choose another ``--out``). Training and S
run as child processes; Ctrl-C stops them after the current step with the
state saved, and the same command continues. ``--dry-run`` prints the plan;
``--quick`` is a tiny smoke run (1 epoch, 128 px, 3 phantoms, tiny S).
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from core_models.errors import InputError, LesionLoopError
from training.recipe_stages import (FIGURES, PHANTOM_SEED, WINDOW_LEVEL, WINDOW_WIDTH, before_classifier,
                                    classifier_done, export_done, export_last, figures, fmt, install,
                                    phantoms_ready, run_status, same_folder, set_window, window_done,
                                    write_training_phantoms)

STAGE_NAMES = ("scratch", "phantoms", "window", "mixed", "export", "classifier", "install")
BUILDER_ARGS = ('{"anchor_sizes": [8,16,32,64,128], "anchor_ratios": [0.5,1,2], "rpn_post_nms_top_n_test": 300, '
                '"rpn_pre_nms_top_n_train": 1000, "rpn_post_nms_top_n_train": 600, "semantic_skips": true}')
#: epochs (scratch, mixed), image size, phantoms (cases, px, slices), bundle_classifier options
FULL = {"epochs": (50, 16), "image_size": None, "phantoms": (12, 384, 6), "classifier": ()}
QUICK = {"epochs": (1, 1), "image_size": 128, "phantoms": (3, 128, 2),
         "classifier": ("--cases", "3", "3", "3", "--slices", "2", "--size", "128", "--epochs", "1",
                        "--min-accuracy", "0")}


@dataclass(frozen=True)
class Stage:
    """One step: a child process (``command``, and ``resume_command`` for training) or an in-process ``action``.

    ``call`` shows the action as text; ``is_done`` says whether the output is
    complete (training stages use :func:`run_status`); ``prepare`` runs first.
    """

    name: str
    description: str
    out: Path
    command: tuple[str, ...] = ()
    resume_command: tuple[str, ...] = ()
    action: Callable[[], None] | None = None
    call: str = ""
    is_done: Callable[[], bool] | None = None
    prepare: Callable[[], None] | None = None

    def shown(self) -> str:
        """The command or call as the user would type it."""
        return shlex.join(["python", *self.command[1:]]) if self.command else self.call


def _train(*args: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "training", "train", *args)


def plan(args: argparse.Namespace) -> list[Stage]:
    """The stages for parsed arguments (``out``, ``data``, ``device``, ``quick``, ``install``, ``target``).

    Pure: nothing is read or written; the stages' callables do that when run.
    """
    if not args.data:
        raise InputError("no MedSeg folder given (--data)")
    p, out, dev, data = QUICK if args.quick else FULL, Path(args.out), args.device, str(args.data)
    size = ("--image-size", str(p["image_size"])) if p["image_size"] else ()
    common = (*size, "--min-area", "30", "--seed", "0", "--device", dev, "--log-every", "10")
    s1, s2 = out / "stage1_scratch", out / "stage2_mixed"
    scratch = _train("--data", data, "--val", "medseg-split", "--out", str(s1), "--semantic-head", "--builder-args",
                     BUILDER_ARGS, "--epochs", str(p["epochs"][0]), *common, "--version", "recipe-scratch")
    mixed = _train("--data", data, str(out / "phantoms_seg"), "--val", "medseg-split", "--init",
                   str(out / "stage1_init"), "--out", str(s2), "--epochs", str(p["epochs"][1]), "--lr", "3e-4",
                   *common, "--version", "recipe-mixed")
    return [Stage("scratch", "train from scratch on MedSeg", s1, scratch, _train("--out", str(s1), "--resume",
                                                                                "--device", dev)),
            _phantom_stage(out / "phantoms_seg", *p["phantoms"]), _window_stage(s1 / "best", out / "stage1_init"),
            Stage("mixed", "fine-tune on MedSeg + phantoms", s2, mixed, _train("--out", str(s2), "--resume",
                                                                              "--device", dev)),
            *_model_stages(args, s2, (scratch, mixed), p["classifier"])]


def _phantom_stage(folder: Path, cases: int, px: int, slices: int) -> Stage:
    return Stage("phantoms", f"write {cases} training phantoms", folder,
                 action=partial(write_training_phantoms, folder, cases, px, slices),
                 call=f"write_phantoms({str(folder)!r}, {cases}, {PHANTOM_SEED}, "
                      f"PhantomConfig(size={px}, slices={slices}, kind='mixed'))",
                 is_done=partial(phantoms_ready, folder, cases, px, slices))


def _window_stage(source: Path, dest: Path) -> Stage:
    return Stage("window", f"stage 1's best model with the HU window L {WINDOW_LEVEL:g} / W {WINDOW_WIDTH:g}", dest,
                 action=partial(set_window, source, dest), call=f"set_window({str(source)!r}, {str(dest)!r})",
                 is_done=partial(window_done, source, dest))


def _model_stages(args: argparse.Namespace, run: Path, commands: tuple[tuple[str, ...], ...],
                  tiny: tuple[str, ...]) -> list[Stage]:
    """export, classifier and (with ``--install``) install."""
    out, bundled = Path(args.out), Path(args.out) / "bundled"
    backup = out / "classifier" / "bundled_before_s"
    device = args.device
    if device.lower() == "auto":  # bundle_classifier takes a concrete device
        from core_models.devices import select_device

        device = select_device("auto").type
    classify = (sys.executable, "-m", "training.bundle_classifier", "--model", str(bundled), "--work",
                str(out / "classifier"), "--device", device, "--backup", str(backup), *tiny)
    stages = [Stage("export", "export stage 2's last epoch as the fp16 bundled model", bundled,
                    action=partial(export_last, run, bundled, commands),
                    call=f"export_bundled({str(run)!r}, {str(bundled)!r}, checkpoint='last')",
                    is_done=partial(export_done, run, bundled)),
              Stage("classifier", "add classifier S trained on phantoms", bundled, classify,
                    is_done=partial(classifier_done, bundled), prepare=partial(before_classifier, bundled, backup))]
    if args.install:
        target = Path(args.target)
        stages.append(Stage("install", f"install the bundled model as {target}", target,
                            action=partial(install, bundled, target, out / "previous_bundled"),
                            call=f"install({str(bundled)!r}, {str(target)!r})",
                            is_done=partial(same_folder, bundled, target)))
    return stages


# ----------------------------------------------------------------------------- running
def planned_config(stage: Stage) -> Any:
    """The :class:`~training.config.TrainConfig` a training stage's command gives."""
    from training.cli import build_parser
    from training.cli.train import config_from_args

    return config_from_args(build_parser("train").parse_args(list(stage.command[3:])))


class StageFailed(LesionLoopError):
    """A stage failed; the message is the one line the user sees."""


def stage_status(stage: Stage) -> str:
    """``done``, ``resume`` (training stages) or ``start``."""
    if stage.resume_command:
        return run_status(stage.out, planned_config(stage))
    return "done" if stage.is_done is not None and stage.is_done() else "start"


def run_child(command: Sequence[str], name: str) -> None:
    """Run a stage's child process, its output passed straight through; :class:`StageFailed` on a non-zero exit.

    The child runs in its own session, so Ctrl-C reaches only the recipe,
    which asks the child to stop (SIGTERM: training saves its state after the
    current step); a second Ctrl-C kills it. The interrupt then propagates.
    """
    print(f"stage {name}: $ {shlex.join(['python', *command[1:]])}", flush=True)
    proc = subprocess.Popen(list(command), start_new_session=os.name == "posix")
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        print(f"stage {name}: stopping (Ctrl-C again to kill it)", file=sys.stderr, flush=True)
        proc.terminate()
        try:
            proc.wait()
        except KeyboardInterrupt:
            proc.kill()
            proc.wait()
        raise
    if code != 0:
        raise StageFailed(f"stage {name} failed (exit {code}); see the message above, then run the same command again")


def run_stage(stage: Stage) -> None:
    """Skip, resume or run one stage; :class:`StageFailed` when its output is not complete afterwards."""
    status = stage_status(stage)
    if status == "done":
        print(f"stage {stage.name}: done, skipped", flush=True)
        return
    print(f"stage {stage.name}: {stage.description}" + (" (resuming)" if status == "resume" else ""), flush=True)
    start = time.perf_counter()
    if stage.prepare is not None:
        stage.prepare()
    if stage.command:
        run_child(stage.resume_command if status == "resume" else stage.command, stage.name)
    elif stage.action is not None:
        try:
            stage.action()
        except LesionLoopError as exc:
            raise StageFailed(f"stage {stage.name} failed: {exc}") from None
    if stage_status(stage) != "done":
        raise StageFailed(f"stage {stage.name} stopped before it finished; run the same command again to continue")
    print(f"stage {stage.name}: finished in {(time.perf_counter() - start) / 60:.1f} min", flush=True)


def select(stages: list[Stage], args: argparse.Namespace) -> list[Stage]:
    """The stages ``--from-stage`` / ``--only`` choose (all by default)."""
    names = [s.name for s in stages]
    wanted = set(args.only or ([args.from_stage] if args.from_stage else names))
    if "install" in wanted and "install" not in names:
        raise InputError("stage install runs only with --install")
    if args.from_stage:
        wanted = set(names[names.index(args.from_stage):])
    return [s for s in stages if s.name in wanted]


def print_plan(stages: list[Stage]) -> None:
    """``--dry-run``: each stage, its state and its command."""
    for stage in stages:
        try:
            status = stage_status(stage)
        except LesionLoopError as exc:
            status = f"blocked: {exc}"
        print(f"{stage.name} [{status}]: {stage.description}\n    {stage.shown()}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.recipe", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, help="work folder (default runs/recipe; runs/recipe_quick with --quick)")
    p.add_argument("--data", help="MedSeg training slices (images/ + masks/); default: the shared copy")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N, mps")
    p.add_argument("--quick", action="store_true", help="tiny smoke run: 1 epoch, 128 px, 3 phantoms, tiny S")
    chosen = p.add_mutually_exclusive_group()
    chosen.add_argument("--from-stage", choices=STAGE_NAMES, metavar="NAME", help="run from this stage on")
    chosen.add_argument("--only", nargs="+", choices=STAGE_NAMES, metavar="NAME", help="run only these stages")
    p.add_argument("--install", action="store_true", help="finally replace --target with the new bundled model")
    p.add_argument("--target", type=Path, help="install destination (default resources/models/default)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and its commands, run nothing")
    return p.parse_args(argv)


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """Absolute ``out``, the MedSeg folder (:func:`training.data.locate.find_medseg`) and the install target."""
    from core_models.model_store import bundled_model_dir
    from training.data.locate import find_medseg

    out = args.out or Path("runs/recipe_quick" if args.quick else "runs/recipe")
    data = Path(args.data) if args.data else find_medseg()
    return argparse.Namespace(**{**vars(args), "out": out.resolve(), "data": str(data.resolve()),
                                 "target": (args.target or bundled_model_dir()).resolve()})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the recipe; 0 when done, 1 when a stage fails, 130 when interrupted."""
    args = parse_args(argv)
    try:
        args = resolve(args)
        stages = select(plan(args), args)
        if args.dry_run:
            print_plan(stages)
            return 0
        for stage in stages:
            run_stage(stage)
    except LesionLoopError as exc:
        print(f"training.recipe: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"training.recipe: error: {exc.strerror or exc} {exc.filename or ''}".rstrip(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("training.recipe: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
    found = figures(args.out / "bundled")
    if found:
        print(f"bundled model {args.out / 'bundled'}: " + ", ".join(f"{k} {fmt(found[k])}" for k in FIGURES)
              + f"; classifier S held-out (phantom) accuracy {fmt(found['classifier_accuracy'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
