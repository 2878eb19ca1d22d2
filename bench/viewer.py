#!/usr/bin/env python
"""Viewer responsiveness: slice change, event-loop delay during inference, brush strokes.

1. Slice change in the main window (CT + filled overlay of GGO and
   consolidation, RoI boxes, info text), against a bare pyqtgraph ImageItem
   update of the same slices in a view of the same size; both include the
   repaint. Target: ≤ 1.5× the bare update.
2. While inference runs in the worker, a 10 ms QTimer measures how late the
   GUI event loop serves it (jitter p50 / p95 / max). Target: p95 ≤ 30 ms.

3. Brush: a drag on the axial view (512², filled overlay) sent as mouse events;
   per mouse move, the live paint (capsule from the previous point, written
   into the corrected labels) plus the overlay repaint. Target: ≤ 5 ms. Also
   the commit on release (one undo step) and the undo memory per stroke.

Offscreen, on the bundled sample (72 slices of 512²). Prints figures; asserts nothing.

    python bench/viewer.py [--changes 200] [--infer-slices 16] [--model light|tiny]
                           [--strokes 50] [--parts slice,jitter,brush]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def _fake_prediction(session) -> None:
    """Fill every slice with lesion blobs and a few RoIs, as a finished run would."""
    from core_models.prediction import RoI, SliceResult

    nz, ny, nx = session.volume.shape
    yy, xx = np.mgrid[:ny, :nx]
    session.begin_prediction("bench")
    for z in range(nz):
        labels = np.zeros((ny, nx), np.uint8)
        labels[(yy - 200) ** 2 + (xx - 150) ** 2 < (30 + z % 20) ** 2] = 1
        labels[(yy - 260) ** 2 + (xx - 360) ** 2 < (20 + z % 15) ** 2] = 2
        rois = [RoI((120.0, 170.0, 180.0 + i, 230.0), 1 + i % 2, 0.9 - 0.1 * i,
                    np.zeros((28, 28), np.float16)) for i in range(5)]
        session.add_slice_result(SliceResult(z, rois, labels, np.array([0.2, 0.3, 0.5]), {1: 100.0}))


def _time_changes(app, change, n: int, nz: int) -> list[float]:
    times = []
    for i in range(n):
        z = (i * 7) % nz
        t0 = time.perf_counter()
        change(z)
        app.processEvents()
        times.append(time.perf_counter() - t0)
    return times


def _bare_view(size, top_size=None):
    """A bare GraphicsView + ImageItem of ``size``, alone or inside a top-level window of ``top_size``."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QHBoxLayout, QWidget

    view = pg.GraphicsView()
    box = pg.ViewBox(lockAspect=True, invertY=True)
    view.setCentralItem(box)
    item = pg.ImageItem(axisOrder="row-major")
    box.addItem(item)
    view.setFixedSize(size)
    top = view
    if top_size is not None:
        top = QWidget()
        layout = QHBoxLayout(top)
        layout.addWidget(view)
        layout.addStretch(1)
        top.resize(top_size)
    top.show()
    return top, item


def _report(label: str, times: list[float]) -> float:
    med = statistics.median(times) * 1e3
    print(f"  {label:<52} median {med:6.2f} ms, p95 {np.percentile(times, 95) * 1e3:6.2f} ms")
    return med


def bench_slice_change(app, n: int) -> None:
    from viewer.app import sample_path
    from viewer.main_window import MainWindow

    win = MainWindow()
    win.resize(1400, 900)
    win.show()
    win.open_path(sample_path())
    _fake_prediction(win.session)
    win.roi_panel.slider.setValue(0)
    app.processEvents()
    vol = win.session.volume
    size = win.views["axial"].graphics.size()
    levels = win.session.window.levels
    print(f"slice change, {vol.shape[1]}x{vol.shape[2]} slices, view {size.width()}x{size.height()} px, {n} changes")
    window_ms = _report("main window (CT + overlay + boxes + panels)", _time_changes(app, win.session.set_slice, n, vol.shape[0]))
    top, item = _bare_view(size, win.size())
    bare_top_ms = _report("bare ImageItem in a window of the same size",
                          _time_changes(app, lambda z: item.setImage(vol.array[z], levels=levels, autoLevels=False),
                                        n, vol.shape[0]))
    top.close()
    win.close()
    view_ms, bare_ms = _bench_view_alone(app, vol, size, levels, n)
    print(f"  ratio slice view / bare view: {view_ms / bare_ms:.2f}x; main window / bare window: "
          f"{window_ms / bare_top_ms:.2f}x (target <= 1.5x)")


def _bench_view_alone(app, vol, size, levels, n: int) -> tuple[float, float]:
    from viewer.session import ReviewSession
    from viewer.slice_view import SliceView

    session = ReviewSession()
    view = SliceView(session, "axial")
    view.graphics.setFixedSize(size)
    view.show()
    session.set_volume(vol)
    _fake_prediction(session)
    view.set_boxes([((120.0, 170.0, 180.0 + i, 230.0), (255, 196, 0), i == 0) for i in range(5)])
    app.processEvents()
    view_ms = _report("slice view alone (CT + overlay + boxes + text)", _time_changes(app, session.set_slice, n, vol.shape[0]))
    top, item = _bare_view(size)
    bare_ms = _report("bare ImageItem view alone",
                      _time_changes(app, lambda z: item.setImage(vol.array[z], levels=levels, autoLevels=False),
                                    n, vol.shape[0]))
    top.close()
    view.close()
    return view_ms, bare_ms


def _model_dir(kind: str) -> Path:
    from core_models.checkpoints import save_model
    from core_models.model_spec import ModelMetadata, ModelSpec, Preprocessing

    import torch

    torch.manual_seed(0)
    if kind == "tiny":
        prep = Preprocessing(input_kind="hu", min_size=64, max_size=96)
        args = {"backbone": "resnet18", "truncation": 2, "norm": "group", "anchor_sizes": (8, 16, 32)}
    else:
        prep = Preprocessing(input_kind="hu")
        args = {"backbone": "resnet18", "truncation": 1}
    spec = ModelSpec(builder="maskrcnn_light", builder_args=args, preprocessing=prep,
                     metadata=ModelMetadata(version=f"bench-{kind}"))
    folder = Path(tempfile.mkdtemp(prefix="lesionloop_bench_model_"))
    save_model(spec.build(), spec, folder)
    return folder


def bench_jitter(app, n_slices: int, kind: str) -> None:
    from PySide6.QtCore import QElapsedTimer, QTimer

    from core_models.io import read_volume
    from core_models.volume import CTVolume
    from viewer.app import sample_path, wait_for_inference
    from viewer.main_window import MainWindow

    vol = read_volume(sample_path())
    start = max((vol.shape[0] - n_slices) // 2, 0)
    sub = CTVolume(vol.array[start:start + n_slices].copy(), vol.geometry, source="bench")
    win = MainWindow()
    win.resize(1400, 900)
    win.show()
    win.session.set_volume(sub)
    win.inference.add_model(_model_dir(kind), f"bench-{kind}")
    clock = QElapsedTimer()
    late: list[float] = []
    last = [0.0]

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        late.append(now - last[0] - 10.0)
        last[0] = now
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    win.run_inference()
    clock.start()
    timer.start()
    t0 = time.perf_counter()
    wait_for_inference(win, 1800)
    took = time.perf_counter() - t0
    timer.stop()
    late = late[1:]
    print(f"GUI event loop during inference ({kind} model, {n_slices} slices of 512², {took:.1f} s, "
          f"{win.device_label.text()}): {len(late)} ticks of 10 ms")
    print(f"  lateness p50 {np.percentile(late, 50):.1f} ms, p95 {np.percentile(late, 95):.1f} ms, "
          f"max {max(late):.1f} ms (target p95 <= 30 ms)")
    win.close()


def _brush_rig(app):
    """Session + axial view (about the main window's size) + edit controller on the sample."""
    from core_models.io import read_volume
    from viewer.app import sample_path
    from viewer.editing.controller import EditController
    from viewer.session import ReviewSession
    from viewer.slice_view import SliceView

    session = ReviewSession()
    view = SliceView(session, "axial")
    view.resize(800, 800)
    view.show()
    session.set_volume(read_volume(sample_path()))
    _fake_prediction(session)
    view.set_overlay_style(replace(view.style_, source="corrected"))
    controller = EditController(session, view)
    controller.set_tool("brush")
    controller.set_size_mm(6.0)
    app.processEvents()
    return session, view, controller


def _send(app, viewport, kind, pixel, view, buttons) -> None:
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent

    row_mm, col_mm = view._pixel_mm
    pos = view.graphics.mapFromScene(view.viewbox.mapViewToScene(QPointF(pixel[1] * col_mm, pixel[0] * row_mm)))
    left = Qt.MouseButton.LeftButton
    button = Qt.MouseButton.NoButton if kind.name == "MouseMove" else left
    event = QMouseEvent(kind, QPointF(pos), QPointF(viewport.mapToGlobal(pos)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    app.sendEvent(viewport, event)


def bench_brush(app, n_strokes: int) -> None:
    from PySide6.QtCore import QEvent, Qt

    session, view, controller = _brush_rig(app)
    viewport = view.graphics.viewport()
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    rng = np.random.default_rng(0)
    moves, commits = [], []
    for i in range(n_strokes):
        session.set_slice(int(rng.integers(session.n_slices)))
        app.processEvents()
        # 40 moves of about 6 px (a 60 Hz mouse at ~360 px/s), 6 mm brush
        path = np.cumsum(rng.normal(0, 4, (41, 2)), axis=0) + rng.uniform(120, 390, 2)
        _send(app, viewport, QEvent.Type.MouseButtonPress, path[0], view, left)
        app.processEvents()
        for p in path[1:]:
            t0 = time.perf_counter()
            _send(app, viewport, QEvent.Type.MouseMove, p, view, left)
            app.processEvents()
            moves.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        _send(app, viewport, QEvent.Type.MouseButtonRelease, path[-1], view, none)
        app.processEvents()
        commits.append(time.perf_counter() - t0)
    stack = session.undo_stack
    held = [stack.command(i).nbytes for i in range(stack.count())]
    changed = [stack.command(i).edit.count for i in range(stack.count())]
    vol = session.volume
    print(f"brush, {vol.shape[1]}x{vol.shape[2]} slices, 6 mm brush, view {viewport.width()}x{viewport.height()} px, "
          f"{n_strokes} strokes of 40 moves")
    _report("per mouse move: paint + overlay repaint (target <= 5 ms)", moves)
    _report("per release: commit one undo step", commits)
    print(f"  undo memory per stroke: mean {np.mean(held) / 1e3:.1f} kB for {np.mean(changed):.0f} changed voxels "
          f"(max {max(held) / 1e3:.1f} kB); {stack.count()} steps hold {sum(held) / 1e6:.2f} MB")
    view.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--infer-slices", type=int, default=16)
    parser.add_argument("--model", choices=("light", "tiny"), default="light")
    parser.add_argument("--strokes", type=int, default=50)
    parser.add_argument("--parts", default="slice,jitter,brush", help="comma-separated: slice, jitter, brush")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    if "slice" in parts:
        bench_slice_change(app, args.changes)
    if "jitter" in parts:
        bench_jitter(app, args.infer_slices, args.model)
    if "brush" in parts:
        bench_brush(app, args.strokes)


if __name__ == "__main__":
    main()
