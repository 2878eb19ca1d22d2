#!/usr/bin/env python
"""Training throughput: images per second of our loop (``training.loop.train``) next to a
bare torchvision-style loop on the same model, data, batch and optimiser.

The bare loop is: DataLoader over the same augmented slices → forward → sum of
losses → zero_grad → backward → AdamW step, nothing else (no scheduler,
clipping, stop polling, logging, curves, checkpoints or validation). Ours is
the real thing with validation off. Both time only the steady state: the
interval from the end of step ``--warmup`` to the end of the last step.
Target: ours within 1.25× of the bare loop (ratio ≥ 0.8).

Data: the real MedSeg slices when ``/work/shared/data`` (or ``$LESIONLOOP_DATA``)
holds them, else 12 synthetic phantom cases. Weights are random.

    python bench/train_throughput.py [--steps 20] [--batch 2] [--crop 256] [--devices cpu,cuda] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from training.augment import Augmenter
from training.callbacks import Callback
from training.config import AugmentConfig, TrainConfig
from training.data.records import SliceReader
from training.data.sources import collect_records
from training.data.torch_dataset import ResumableSampler, SliceDataset, collate
from training.loop import _Amp, set_training_resize, train
from training.optim import make_optimizer
from training.prepare import prime_roi_pool_scales, spec_from_config


class StepClock(Callback):
    """Times of the end of each step."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_step(self, epoch: int, step: int, losses: dict) -> None:
        self.times.append(time.perf_counter())


def find_data(tmp: Path) -> Path:
    for root in (os.environ.get("LESIONLOOP_DATA"), "/work/shared/data", Path(__file__).resolve().parents[2] / "shared" / "data"):
        if root and (Path(root) / "medseg_covid_slices" / "train" / "images").is_dir():
            return Path(root) / "medseg_covid_slices" / "train"
    from core_models.phantom import PhantomConfig, write_phantoms

    write_phantoms(tmp / "phantoms", 12, 0, PhantomConfig(size=384, slices=4, kind="covid"))
    return tmp / "phantoms"


def steady_rate(times: list[float], warmup: int, batch: int) -> float:
    """Images per second between the end of step ``warmup`` and the last step."""
    span = times[-1] - times[warmup - 1]
    return batch * (len(times) - warmup) / span


def config_for(data: Path, out: Path, args: argparse.Namespace, device: str) -> tuple[TrainConfig, int]:
    slices = args.steps * args.batch
    return TrainConfig(data=[str(data)], out=str(out), epochs=1, batch=args.batch, device=device, log_every=10**6,
                       image_size=384, seed=0, augment=AugmentConfig(crop=args.crop)), slices


def ours(data: Path, out: Path, args: argparse.Namespace, device: str) -> float:
    config, slices = config_for(data, out, args, device)
    clock = StepClock()
    # train on exactly steps × batch slices: a folder of links to that many
    config.data = [_subset_folder(collect_records(config.data)[:slices], out.parent / "subset")]
    train(config, [clock], command="bench")
    return steady_rate(clock.times, args.warmup, args.batch)


def _subset_folder(records: list, folder: Path) -> str:
    """A MedSeg-layout folder of links to the chosen slices (or a phantom folder, which is used whole)."""
    if records[0].layout != "medseg":
        return str(Path(records[0].image_path).parent)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    for r in records:
        for src, sub in ((Path(r.image_path), "images"), (Path(r.label_path), "masks")):
            link = folder / sub / src.name
            if not link.exists():
                link.symlink_to(src)
    return str(folder)


def bare(data: Path, out: Path, args: argparse.Namespace, device: str) -> float:
    config, slices = config_for(data, out, args, device)
    config.data = [_subset_folder(collect_records(config.data)[:slices], out.parent / "subset")]
    records = collect_records(config.data)
    torch.manual_seed(0)
    spec = spec_from_config(config, "8bit")
    dev = torch.device(device)
    model = spec.build().to(dev).train()
    set_training_resize(model)
    prime_roi_pool_scales(model)
    reader = SliceReader(spec.preprocessing)
    dataset = SliceDataset(records, reader, Augmenter(config.augment, 384), mask_type="both",
                           min_area=config.min_area, semantic=False, seed=0)
    loader = DataLoader(dataset, batch_size=args.batch, sampler=ResumableSampler(dataset, seed=0),
                        collate_fn=collate)
    optimizer = make_optimizer(model, 1e-3, config.weight_decay)
    amp = _Amp(dev, True)
    times = []
    for images, targets in loader:
        images = [i.to(dev) for i in images]
        targets = [{k: v.to(dev) for k, v in t.items()} for t in targets]
        with amp.autocast():
            loss = sum(model(images, targets).values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter())
    return steady_rate(times, args.warmup, args.batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [d for d in args.devices.split(",") if d == "cpu" or (d.startswith("cuda") and torch.cuda.is_available())]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = find_data(tmp)
        print(f"data {data}; {args.steps} steps of batch {args.batch}, {args.crop}² crops of 384-px slices, "
              f"light Mask R-CNN (resnet18, truncation 1), steady state after {args.warmup} steps")
        for device in devices:
            rate_bare = bare(data, tmp / f"bare-{device}" / "run", args, device)
            rate_ours = ours(data, tmp / f"ours-{device}" / "run", args, device)
            threads = f", {torch.get_num_threads()} threads" if device == "cpu" else ""
            print(f"{device}{threads}: bare loop {rate_bare:.2f} img/s, ours {rate_ours:.2f} img/s, "
                  f"ours/bare {rate_ours / rate_bare:.2f} (target >= 0.80)")


if __name__ == "__main__":
    main()
