"""The worker pattern: streaming, cancel, errors, superseded runs dropped."""
from __future__ import annotations

import threading
import time

from core_models.errors import InputError
from core_models.prediction import Progress
from viewer.workers import GeneratorWorker, JobRunner, one_line


def _counting(n: int, tag: str, delay: float = 0.0):
    def factory(cancel: threading.Event):
        done = 0
        for i in range(n):
            if cancel.is_set():
                break
            time.sleep(delay)
            yield f"{tag}{i}"
            done += 1
            yield Progress(done, n, f"{done}/{n}")
        return (tag, done)
    return factory


def test_worker_streams_then_finishes(qtbot):
    worker = GeneratorWorker(_counting(3, "a"))
    items: list[str] = []
    progress: list[tuple[int, int]] = []
    worker.yielded.connect(items.append)
    worker.progress.connect(lambda d, t, m: progress.append((d, t)))
    with qtbot.waitSignal(worker.finished, timeout=5000) as blocker:
        worker.start()
    assert items == ["a0", "a1", "a2"]
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert blocker.args == [("a", 3)]


def test_cancel_returns_partial_result(qtbot):
    runner = JobRunner()
    got: list[str] = []

    def stop_after_two(item: str) -> None:
        got.append(item)
        if len(got) == 2:
            runner.cancel()
    runner.yielded.connect(stop_after_two)
    with qtbot.waitSignal(runner.finished, timeout=5000) as blocker:
        runner.start(_counting(200, "a", delay=0.01))
    tag, done = blocker.args[0]
    assert 2 <= done < 200 and len(got) == done


def test_error_becomes_one_line(qtbot):
    def failing(cancel):
        yield Progress(0, 1, "start")
        raise InputError("that file is not a CT")

    runner = JobRunner()
    with qtbot.waitSignal(runner.errored, timeout=5000) as blocker:
        runner.start(failing)
    assert blocker.args == ["that file is not a CT"]
    assert one_line(ValueError("a\nb")) == "unexpected error (ValueError: a)"


def test_superseded_run_is_dropped(qtbot):
    runner = JobRunner()
    got: list[str] = []
    runner.yielded.connect(got.append)
    first_seen = threading.Event()

    def slow_a(cancel):
        for i in range(100):
            first_seen.set()
            yield f"a{i}"
            time.sleep(0.005)  # ignores cancel on purpose: its late items must still be dropped
        return "a-done"

    runner.start(slow_a)
    qtbot.waitUntil(lambda: len(got) >= 1, timeout=5000)
    n_before = len(got)
    with qtbot.waitSignal(runner.finished, timeout=10000) as blocker:
        runner.start(_counting(3, "b"))
    assert blocker.args == [("b", 3)]
    runner.wait(10000)
    qtbot.wait(50)
    after = got[n_before:]
    late_a = [x for x in after if x.startswith("a") and got.index(x) > got.index("b0")]
    assert late_a == []
    assert runner.dropped > 0
    assert [x for x in got if x.startswith("b")] == ["b0", "b1", "b2"]
