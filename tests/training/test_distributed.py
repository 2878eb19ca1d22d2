"""Distributed training: two CPU processes under torchrun (gloo), and the single-process fall-back."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from tests.training.helpers import tiny_cli_args, write_phantom
from training import distributed

REPO = Path(__file__).resolve().parents[2]


def test_outside_torchrun_everything_is_local(monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = distributed.setup("cpu")
    assert not ctx.distributed and ctx.is_main and ctx.device == torch.device("cpu")
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap(model, ctx) is model and distributed.unwrap(model) is model
    assert distributed.any_rank(True, ctx) and not distributed.any_rank(False, ctx)
    assert distributed.broadcast({"a": 1}, ctx) == {"a": 1}
    assert distributed.mean_over_ranks({"loss": 2.0}, ctx) == {"loss": 2.0}
    assert distributed.env_rank() == 0


def test_two_cpu_processes_train_with_ddp(tmp_path: Path) -> None:
    # one case without lesions: ranks also meet batches with empty targets
    data = [write_phantom(tmp_path / "covid", slices=3, seed=7), write_phantom(tmp_path / "normal", slices=1,
                                                                              kind="normal")]
    out = tmp_path / "run"
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "training", *tiny_cli_args(out, data), "--batch", "1", "--log-every", "1",
            "--progress-json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    events = [json.loads(line) for line in res.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.count("start") == 1 and kinds.count("end") == 1  # rank 0 alone prints
    start = events[0]
    assert start["world_size"] == 2 and start["train_slices"] == 4
    assert start["steps_per_epoch"] == 2  # 4 slices over 2 ranks, batch 1
    assert kinds.count("step") == 4 and events[-1]["global_step"] == 4
    assert res.stderr.count("training finished") == 1
    config = json.loads((out / "config.json").read_text())
    assert config["world_size"] == 2
    lines = (out / "curves.jsonl").read_text().splitlines()
    steps = [json.loads(line) for line in lines]
    assert [s["step"] for s in steps if s["kind"] == "step"] == [1, 2, 3, 4]
    assert (out / "last" / "weights.safetensors").is_file() and (out / "state.pt").is_file()
