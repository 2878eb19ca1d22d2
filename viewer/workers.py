"""One worker pattern: a core generator run on a thread pool, reported by signals.

A job is a factory ``f(cancel) -> generator``; the generator yields
:class:`~core_models.prediction.Progress` (reported as ``progress``) and
anything else (reported as ``yielded``), and its return value is reported as
``finished``. ``cancel()`` sets the :class:`threading.Event` passed to the
factory; the core checks it between slices. A :class:`JobRunner` numbers its
runs (generation id) and drops every signal of a superseded run on the GUI
thread, so a stale slice never reaches the session. Workers never touch
widgets or the live label arrays.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from core_models.errors import LesionLoopError
from core_models.prediction import Progress

#: workers whose job has not ended yet (so no Python wrapper dies under a running thread)
_LIVE: set[GeneratorWorker] = set()
JobFactory = Callable[[threading.Event], Generator[Any, None, Any]]


def one_line(exc: BaseException) -> str:
    """A one-line message for the user; unexpected errors are named as such."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, LesionLoopError):
        return text or type(exc).__name__
    if isinstance(exc, MemoryError):
        return f"out of memory ({text})" if text else "out of memory"
    return f"unexpected error ({type(exc).__name__}: {text[:200]})"


class _Runnable(QRunnable):
    def __init__(self, worker: GeneratorWorker) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python owns it (kept by its worker until done)
        self._worker = worker

    def run(self) -> None:  # noqa: D401 - Qt override
        self._worker.work()


class GeneratorWorker(QObject):
    """Runs one job on a pool thread; its signals arrive queued on the GUI thread."""

    progress = Signal(int, int, str)
    yielded = Signal(object)
    finished = Signal(object)
    errored = Signal(str)
    done = Signal()  # always last, after finished or errored

    def __init__(self, factory: JobFactory, generation: int = 0) -> None:
        super().__init__()
        self.factory = factory
        self.generation = generation
        self.cancel_event = threading.Event()
        self.running = False
        self._runnable: _Runnable | None = None

    def cancel(self) -> None:
        """Ask the job to stop at its next check (it returns what it has)."""
        self.cancel_event.set()

    def start(self, pool: QThreadPool | None = None) -> None:
        """Queue the job on ``pool`` (default: the global pool); kept alive until ``done``."""
        self.running = True
        self._runnable = _Runnable(self)
        _LIVE.add(self)
        self.done.connect(self._release)
        (pool or QThreadPool.globalInstance()).start(self._runnable)

    def _release(self) -> None:
        _LIVE.discard(self)

    def work(self) -> None:
        """Drain the generator (pool thread): emit every event, then the result."""
        try:
            gen = self.factory(self.cancel_event)
            while True:
                try:
                    item = next(gen)
                except StopIteration as stop:
                    self.finished.emit(stop.value)
                    break
                if isinstance(item, Progress):
                    self.progress.emit(int(item.done), int(item.total), str(item.message))
                else:
                    self.yielded.emit(item)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes one line for the user
            self.errored.emit(one_line(exc))
        finally:
            self.running = False
            self.done.emit()


class JobRunner(QObject):
    """Runs one job at a time; a new job supersedes (and cancels) the running one.

    Its signals carry only the current generation's events.
    """

    progress = Signal(int, int, str)
    yielded = Signal(object)
    finished = Signal(object)
    errored = Signal(str)
    started = Signal()
    stopped = Signal()  # the current job ended (finished, errored or cancelled)

    def __init__(self, parent: QObject | None = None, max_threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self.generation = 0
        self.dropped = 0
        self.worker: GeneratorWorker | None = None
        self._alive: set[GeneratorWorker] = set()

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def start(self, factory: JobFactory) -> GeneratorWorker:
        """Cancel the current job (its late results are dropped) and start ``factory``."""
        self.cancel()
        self.generation += 1
        worker = GeneratorWorker(factory, self.generation)
        gen = self.generation
        worker.progress.connect(lambda d, t, m: self._forward(gen, self.progress, d, t, m))
        worker.yielded.connect(lambda item: self._forward(gen, self.yielded, item))
        worker.finished.connect(lambda result: self._forward(gen, self.finished, result))
        worker.errored.connect(lambda msg: self._forward(gen, self.errored, msg))
        worker.done.connect(lambda: self._on_done(worker))
        self._alive.add(worker)
        self.worker = worker
        worker.start(self.pool)
        self.started.emit()
        return worker

    def cancel(self) -> None:
        """Ask the current job to stop; what it did so far is still delivered."""
        if self.worker is not None:
            self.worker.cancel()

    def supersede(self) -> None:
        """Cancel the current job and drop everything it still sends."""
        self.cancel()
        self.generation += 1
        self._end_current()

    def _forward(self, gen: int, signal: Signal, *args: Any) -> None:
        if gen != self.generation:
            self.dropped += 1
            return
        signal.emit(*args)

    def _on_done(self, worker: GeneratorWorker) -> None:
        self._alive.discard(worker)
        if worker is self.worker and worker.generation == self.generation:
            self._end_current()

    def _end_current(self) -> None:
        if self.worker is not None:
            self.worker = None
            self.stopped.emit()

    def wait(self, msecs: int = 30000) -> bool:
        """Block until every job has left the pool (for shutdown and tests)."""
        return self.pool.waitForDone(msecs)
