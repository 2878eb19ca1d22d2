"""Crash recovery for real: SIGKILL a process that is editing, reopen, every committed stroke is back.

A child process opens the workspace and applies seeded random brush and
eraser strokes with ``Workspace.apply_edit``, printing each stroke's number
after the call returns (and in some rounds saving every few strokes, so kills
also land inside ``save``). The parent kills it at a random moment, reopens,
recovers, and compares with the strokes painted directly: the labels must equal
strokes 1..N or 1..N+1 (N = last number printed; N+1 may have been committed
but not printed yet), nothing else.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core_models.workspace import Workspace
from tests.core_models.workspace_helpers import paint, prediction, small_volume

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import sys
from core_models.workspace import Workspace
from tests.core_models.workspace_helpers import stroke_edit
folder, seed, save_every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ws = Workspace.open(folder)
assert ws.pending_recovery() == 0, "the parent saves between rounds"
for n in range(1, 100000):
    edit = stroke_edit(ws.corrected.array, seed, n)
    if edit is not None:
        ws.apply_edit(edit)
    print(n, flush=True)
    if save_every and n % save_every == 0:
        ws.save()
"""


def _run_and_kill(folder: Path, seed: int, save_every: int, rng: random.Random) -> int:
    """Start the child, SIGKILL it after a random number of strokes and delay; the last stroke number printed."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(folder), str(seed), str(save_every)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    target = rng.randint(3, 60)
    seen = 0
    try:
        while seen < target:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"the editing child ended on its own: {proc.stderr.read().decode()[-2000:]}")
            seen = int(line)
        time.sleep(rng.uniform(0.0, 0.02))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    full_lines = [ln for ln in rest.split(b"\n")[:-1] if ln.strip()]  # a torn last line is not a promise
    return int(full_lines[-1]) if full_lines else seen


@pytest.mark.slow
def test_sigkill_while_editing_loses_no_committed_stroke(tmp_path):
    volume = small_volume((5, 64, 64))
    ws = Workspace.create(tmp_path / "ws", tmp_path / "scan.nii.gz", volume, prediction(volume))
    ws.close()
    rng = random.Random(2024)
    saved = ws.corrected.array.copy()
    for round_no, save_every in enumerate((0, 5, 2, 0)):
        seed = 100 + round_no
        last = _run_and_kill(ws.folder, seed, save_every, rng)
        back = Workspace.open(ws.folder, volume)
        back.recover()
        got = back.corrected.array
        matches = [n for n in (last, last + 1) if np.array_equal(got, paint(saved, seed, 1, n))]
        assert matches, f"round {round_no}: labels are neither strokes 1..{last} nor 1..{last + 1}"
        assert last >= 3
        back.save()  # the next round starts from here
        saved = got.copy()
        back.close()
