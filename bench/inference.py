#!/usr/bin/env python
"""Inference speed: slices per second at 512² for our Mask R-CNN family, next to
torchvision's stock ``maskrcnn_resnet50_fpn`` on the same slices.

Runs on the CPU, and on the GPU too when there is one (batched, autocast fp16).
Targets: light model (resnet18, truncation 1) ≤ 0.25 s per slice on 2 CPU
cores; ≥ 300 slices/s on one H100. Prints figures; asserts nothing.

Slices are real when the bundled sample is present (HU through the lung window),
random otherwise. Weights are random (the timing does not depend on them, except
through the number of detections, which is capped at 100 per slice as in use),
except for ``bundled``: the shipped model (trained weights, its own 384-px resize,
semantic head, classifier S, lung filter), i.e. what users get.

    python bench/inference.py [--slices 16] [--batch 8] [--devices cpu,cuda] [--threads N]
                              [--models bundled,resnet18-trunc1,...,stock-torchvision]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torchvision.models.detection import maskrcnn_resnet50_fpn

from core_models.checkpoints import load_model
from core_models.inference import run_inference, run_to_completion
from core_models.io import read_volume
from core_models.model_spec import ModelSpec, Preprocessing
from core_models.volume import CTVolume, Geometry

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "sample" / "ricord_covid_419639_000082.nii.gz"
BUNDLED = Path(__file__).resolve().parents[1] / "resources" / "models" / "default"
CONFIGS = {
    "resnet18-trunc1": ("maskrcnn_light", {"backbone": "resnet18", "truncation": 1}),
    "resnet18-trunc1-rpn300": ("maskrcnn_light", {"backbone": "resnet18", "truncation": 1,
                                                  "rpn_post_nms_top_n_test": 300}),
    "resnet34-trunc1": ("maskrcnn_light", {"backbone": "resnet34", "truncation": 1}),
    "resnet50-fpn": ("maskrcnn_resnet50_fpn", {}),
}


def slices(n: int) -> CTVolume:
    if SAMPLE.exists():
        vol = read_volume(SAMPLE)
        idx = np.linspace(0, vol.shape[0] - 1, n).astype(int)
        return CTVolume(vol.array[idx], vol.geometry)
    rng = np.random.default_rng(0)
    return CTVolume(rng.normal(-600, 300, (n, 512, 512)).astype(np.int16), Geometry())


def time_ours(name: str, volume: CTVolume, device: str, batch: int, repeats: int) -> list[float]:
    if name == "bundled":
        model, spec = load_model(BUNDLED)
    else:
        builder, args = CONFIGS[name]
        spec = ModelSpec(builder=builder, builder_args=args, preprocessing=Preprocessing(input_kind="hu"))
        torch.manual_seed(0)
        model = spec.build()
    run_to_completion(run_inference(model, spec, CTVolume(volume.array[:batch], volume.geometry), device=device,
                                    batch_size=batch))  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run_to_completion(run_inference(model, spec, volume, device=device, batch_size=batch))
        times.append((time.perf_counter() - t0) / volume.shape[0])
    return times


def time_stock(volume: CTVolume, device: str, batch: int, repeats: int) -> list[float]:
    torch.manual_seed(0)
    dev = torch.device(device)
    model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=3, min_size=512).to(dev).eval()
    window = np.clip((volume.array.astype(np.float32) + 1350.0) / 1500.0, 0, 1)
    images = [torch.from_numpy(s)[None].expand(3, -1, -1).contiguous() for s in window]

    def one_pass() -> None:
        for i in range(0, len(images), batch):
            chunk = [im.to(dev) for im in images[i: i + batch]]
            with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.float16, enabled=dev.type == "cuda"):
                outs = model(chunk)
            [o["masks"].cpu() for o in outs]

    one_pass()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        one_pass()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) / len(images))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=16)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    parser.add_argument("--models", default=",".join(["bundled", *CONFIGS, "stock-torchvision"]))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    volume = slices(args.slices)
    print(f"{args.slices} slices {volume.shape[1]}x{volume.shape[2]}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads" + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    for device in args.devices.split(","):
        batch = args.batch if device == "cpu" else max(args.batch, 32)
        for name in args.models.split(","):
            if name == "stock-torchvision":
                times = time_stock(volume, device, batch, args.repeats)
            else:
                times = time_ours(name, volume, device, batch, args.repeats)
            med = statistics.median(times)
            print(f"{device:5s} {name:18s} batch {batch:3d}: {med * 1000:8.1f} ms/slice  {1 / med:8.1f} slices/s")


if __name__ == "__main__":
    main()
