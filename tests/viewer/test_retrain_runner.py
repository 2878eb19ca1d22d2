"""The training process runner: JSON progress, log, time left, crash, failure, cancel and kill."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from viewer.training_ui.runner import RunOutcome, TrainingRunner, format_seconds

PRELUDE = """
import json, os, signal, sys, time
from pathlib import Path
def emit(**event):
    print(json.dumps(event), flush=True)
"""


def _run(qtbot, runner: TrainingRunner, tmp_path: Path, body: str, stop_file: Path | None = None,
         while_running=None, timeout_ms: int = 30000) -> RunOutcome:
    script = tmp_path / "child.py"
    script.write_text(PRELUDE + textwrap.dedent(body), encoding="utf-8")
    with qtbot.waitSignal(runner.finished, timeout=timeout_ms) as blocker:
        assert runner.launch(sys.executable, [str(script)], stop_file)
        if while_running is not None:
            while_running()
    return blocker.args[0]


@pytest.fixture
def runner(qtbot) -> TrainingRunner:
    r = TrainingRunner()
    yield r
    r.kill()


def test_events_progress_time_left_and_log(qtbot, runner: TrainingRunner, tmp_path: Path) -> None:
    steps, epochs, logs, tables = [], [], [], []
    runner.stepped.connect(lambda s, t, left: steps.append((s, t, left)))
    runner.epochEnded.connect(lambda e, m: epochs.append((e, m)))
    runner.logLine.connect(logs.append)
    runner.compared.connect(tables.append)
    outcome = _run(qtbot, runner, tmp_path, """
        emit(event="start", total_steps=4, epochs=2, steps_per_epoch=2, train_slices=4, val_slices=1, device="CPU")
        for step in range(1, 5):
            time.sleep(0.05)
            emit(event="step", epoch=(step + 1) // 2, step=step, losses={"loss": 1.0 / step})
            if step % 2 == 0:
                emit(event="epoch_end", epoch=step // 2, metrics={"dice_binary": 0.1 * step})
        print("epoch 2/2: dice_binary 0.400\\r", file=sys.stderr, flush=True)
        print("a plain stdout line", flush=True)
        emit(event="end", stopped=False, epochs_done=2)
        emit(event="compare", n_slices=1, worse=False, rows=[], before={"version": "a"}, after={"version": "b"})
        emit(event="registered", version="v0002-x", table=True)
    """)
    assert outcome.ok and outcome.exit_code == 0 and not outcome.stopped
    assert outcome.version == "v0002-x" and outcome.table["before"]["version"] == "a"
    assert outcome.result["epochs_done"] == 2 and "registered as v0002-x" in outcome.message
    assert [s for s, _, _ in steps] == [1, 2, 3, 4] and all(t == 4 for _, t, _ in steps)
    assert steps[0][2] == -1 and steps[1][2] > 0 and steps[-1][2] == 0
    assert [(e, m["dice_binary"]) for e, m in epochs] == [(1, pytest.approx(0.2)), (2, pytest.approx(0.4))]
    assert len(tables) == 1
    assert "epoch 2/2: dice_binary 0.400" in logs and "a plain stdout line" in logs
    assert any(line.startswith("training 4 slices (1 validation) on CPU") for line in logs)
    assert not any(line.startswith('{"event"') for line in logs)  # events are not logged raw


def test_a_crashing_child_gives_a_message_and_nothing_else(qtbot, runner: TrainingRunner, tmp_path: Path) -> None:
    outcome = _run(qtbot, runner, tmp_path, """
        emit(event="start", total_steps=10, epochs=1)
        print("CUDA out of memory. Tried to allocate 2.00 GiB", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert not outcome.ok and not outcome.stopped and outcome.exit_code is None
    assert "crashed" in outcome.message and "out of memory" in outcome.message
    assert outcome.version is None and not runner.running


def test_a_failing_child_reports_its_error_line(qtbot, runner: TrainingRunner, tmp_path: Path) -> None:
    outcome = _run(qtbot, runner, tmp_path, """
        emit(event="error", message="no model at 'v9': give a model folder")
        print("lesionloop train: error: no model at 'v9': give a model folder", file=sys.stderr)
        sys.exit(2)
    """)
    assert outcome.exit_code == 2 and outcome.message == "no model at 'v9': give a model folder"
    outcome = _run(qtbot, runner, tmp_path, """
        print("first line", file=sys.stderr)
        print("lesionloop train: internal error: ValueError: bad", file=sys.stderr)
        sys.exit(3)
    """)
    assert outcome.exit_code == 3 and outcome.message == "lesionloop train: internal error: ValueError: bad"


def test_cancel_writes_the_stop_file_and_the_run_ends_gracefully(qtbot, runner: TrainingRunner,
                                                                 tmp_path: Path) -> None:
    stop = tmp_path / "run" / "stop"
    seen: list[int] = []
    runner.stepped.connect(lambda s, t, left: (seen.append(s), runner.cancel(grace_s=20)))
    outcome = _run(qtbot, runner, tmp_path, f"""
        stop = Path({str(stop)!r})
        emit(event="start", total_steps=1000, epochs=10)
        for step in range(1, 1000):
            if stop.exists():
                emit(event="end", stopped=True, epochs_done=0)
                sys.exit(0)
            emit(event="step", epoch=1, step=step, losses={{"loss": 1.0}})
            time.sleep(0.05)
        sys.exit(5)
    """, stop_file=stop)
    assert outcome.stopped and not outcome.killed and outcome.exit_code == 0 and not outcome.ok
    assert "cancelled" in outcome.message and "nothing was registered" in outcome.message
    assert seen and len(seen) < 200 and not stop.exists()  # the stop file is cleaned up


def test_a_child_ignoring_the_stop_file_is_killed_after_the_grace(qtbot, runner: TrainingRunner,
                                                                  tmp_path: Path) -> None:
    runner.started.connect(lambda: runner.cancel(grace_s=0.5))
    outcome = _run(qtbot, runner, tmp_path, """
        emit(event="start", total_steps=10, epochs=1)
        time.sleep(60)
    """, stop_file=tmp_path / "stop")
    assert outcome.killed and outcome.stopped and "ended" in outcome.message


def test_a_program_that_cannot_start_and_a_second_start(qtbot, runner: TrainingRunner, tmp_path: Path) -> None:
    with qtbot.waitSignal(runner.finished, timeout=10000) as blocker:
        runner.launch(str(tmp_path / "no-such-program"), [])
    assert "cannot start" in blocker.args[0].message and not runner.running
    script = tmp_path / "sleep.py"
    script.write_text("import time; time.sleep(30)")
    assert runner.launch(sys.executable, [str(script)])
    assert not runner.launch(sys.executable, [str(script)])  # one at a time
    with qtbot.waitSignal(runner.finished, timeout=10000):
        runner.kill()


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (4.4, 65, 3725)] == ["4 s", "1 min 05 s", "1 h 02 min"]
