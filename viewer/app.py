"""Starting the viewer: ``lesionloop``, ``lesionloop view PATH ...``, ``lesionloop demo``.

``view --screenshot OUT.png`` renders without a display (offscreen), waits
for inference when ``--infer`` is given, saves the window and exits.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from core_models.errors import LesionLoopError

SAMPLE_NAME = "ricord_covid_419639_000082.nii.gz"
INFER_TIMEOUT_S = 1800


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Parser for the viewer's own subcommands."""
    parser = _Parser(prog="lesionloop", description="LesionLoop viewer")
    sub = parser.add_subparsers(dest="command")
    view = sub.add_parser("view", help="open a CT in the viewer")
    view.add_argument("path", help="DICOM folder or file, NIfTI/NRRD/MHA, PNG/JPG slice or folder")
    view.add_argument("--infer", action="store_true", help="run the model at once")
    view.add_argument("--model", help="model folder or registered version (default: the active one)")
    view.add_argument("--slice", type=int, default=None, help="axial slice to show (0-based index)")
    view.add_argument("--layout", choices=("one", "three"), default="one", help="one view or three linked views")
    view.add_argument("--screenshot", metavar="OUT.png", help="save the window as a PNG and exit (no display needed)")
    view.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    sub.add_parser("demo", help="the bundled sample with the active model")
    return parser


def sample_path() -> Path:
    """The bundled sample CT."""
    from core_models.paths import resources_dir

    return resources_dir() / "sample" / SAMPLE_NAME


def _needs_offscreen(args: argparse.Namespace) -> bool:
    if not getattr(args, "screenshot", None) or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _application():
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "lesionloop"])
        app.setApplicationName("LesionLoop")
    return app


def run_viewer(argv: Sequence[str]) -> int:
    """Run the viewer for ``argv`` (``[]``, ``["view", PATH, ...]`` or ``["demo"]``); exit status."""
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as stop:
        return int(stop.code or 0)
    if _needs_offscreen(args):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = _application()
    from viewer.main_window import MainWindow

    window = MainWindow()
    if args.command == "view" and args.screenshot:
        return _screenshot_run(window, args)
    window.show()
    if args.command == "view":
        _open_for_view(window, args)
    elif args.command == "demo":
        start_demo(window)
    return int(app.exec())


def _open_for_view(window, args: argparse.Namespace) -> bool:
    """Open ``args.path`` and apply --model, --slice, --layout, --infer (errors shown by the window)."""
    window.inference.device = args.device
    if args.model:
        from core_models.model_store import resolve_model_dir

        try:
            window.inference.add_model(resolve_model_dir(args.model), args.model)
        except LesionLoopError as exc:
            window.show_error(str(exc))
            return False
    if not window.open_path(args.path, ask_series=args.screenshot is None):
        return False
    if args.slice is not None:
        window.session.set_slice(args.slice)
    window.set_layout(args.layout)
    if args.infer:
        return window.run_inference()
    return True


def _screenshot_run(window, args: argparse.Namespace) -> int:
    """Headless ``view ... --screenshot OUT.png``: errors go to stderr as one line."""
    errors: list[str] = []
    window.show_error = errors.append  # no dialogs without a user
    window.resize(1400, 900)
    window.show()
    ok = _open_for_view(window, args)
    if ok and args.infer:
        wait_for_inference(window, INFER_TIMEOUT_S)
    if errors:
        print(f"lesionloop: error: {errors[0]}", file=sys.stderr)
        return 2
    from viewer.screenshot import save_screenshot

    try:
        out = save_screenshot(window, args.screenshot)
    except LesionLoopError as exc:
        print(f"lesionloop: error: {exc}", file=sys.stderr)
        return 2
    finally:
        window.close()
    print(f"saved {out}")
    return 0


def wait_for_inference(window, timeout_s: float) -> bool:
    """Run the event loop until the window's inference stops; False on timeout."""
    from PySide6.QtCore import QEventLoop, QTimer

    if not window.inference.running:
        return True
    loop = QEventLoop()
    window.inference.runner.stopped.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    window.inference.runner.stopped.disconnect(loop.quit)
    return not window.inference.running


def start_demo(window) -> bool:
    """Open the bundled sample and run the active model (a status message when there is none)."""
    path = sample_path()
    if not path.exists():
        window.show_error(f"the bundled sample {path} is missing")
        return False
    if not window.open_path(path):
        return False
    if not window.inference.combo.currentData():
        window.statusBar().showMessage("No model available: the sample is shown without a prediction "
                                       "(train one with `lesionloop train`, or open a model folder).")
        return False
    return window.run_inference()
