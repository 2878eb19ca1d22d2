"""Label editing in the viewer: undo commands, the edit controller, cursors and their installation.

``install_editing(window)`` (one line in the main window) adds the Tools dock,
the Edit menu (Undo / Redo from the session's undo stack, tool shortcuts) and
connects the RoI panel's Accept / Reject buttons.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

if TYPE_CHECKING:
    from viewer.main_window import MainWindow

#: shortcut keys (1-4 stay window presets; A and F belong to review)
TOOL_SHORTCUTS = {"brush": "B", "eraser": "E", "hu_brush": "H", "fill": "G", "polygon": "P", "islands": "I"}
LABEL_SHORTCUTS = {1: "Q", 2: "W"}


def install_editing(window: MainWindow) -> None:
    """Add editing to ``window``: ``window.editing`` (controller), Tools dock, Edit menu, RoI buttons."""
    from viewer.editing.controller import EditController
    from viewer.panels.tools_panel import ToolsPanel

    controller = EditController(window.session, window.views["axial"], window)
    window.editing = controller
    window.tools_panel = ToolsPanel(controller)
    window.tools_dock = window._dock("Tools", window.tools_panel, Qt.DockWidgetArea.RightDockWidgetArea)
    window.tabifyDockWidget(window.display_dock, window.tools_dock)  # the window keeps fitting 820 px
    window.tools_dock.raise_()
    window.resizeDocks([window.tools_dock], [340], Qt.Orientation.Horizontal)  # room for the views
    _add_edit_menu(window, controller)
    controller.editStarted.connect(lambda: _show_corrected(window))
    controller.message.connect(lambda text: window.statusBar().showMessage(text, 6000))
    window.roi_panel.roiAcceptRequested.connect(controller.accept_roi)
    window.roi_panel.roiRejectRequested.connect(controller.reject_roi)


def _add_edit_menu(window: MainWindow, controller) -> None:
    stack = window.session.undo_stack
    window.undo_action = stack.createUndoAction(window, "Undo")
    window.undo_action.setShortcuts(QKeySequence.StandardKey.Undo)
    window.redo_action = stack.createRedoAction(window, "Redo")
    window.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    menu = window.menuBar().addMenu("&Edit")
    menus = [a for a in window.menuBar().actions() if a.menu() is not None]
    if len(menus) > 1:  # Edit right after File
        window.menuBar().insertAction(menus[1], menu.menuAction())
    menu.addActions([window.undo_action, window.redo_action])
    menu.addSeparator()
    from viewer.panels.tools_panel import TOOL_LABELS

    window.tool_actions = {}
    for tool, key in TOOL_SHORTCUTS.items():
        action = _action(window, TOOL_LABELS[tool][0], key, lambda _=False, t=tool: controller.set_tool(t))
        window.tool_actions[tool] = action
        menu.addAction(action)
    menu.addAction(_action(window, "Navigate (no editing)\tEsc", None, lambda: controller.set_tool("navigate")))
    menu.addSeparator()
    menu.addAction(_action(window, "Label: GGO", LABEL_SHORTCUTS[1], lambda: controller.set_label(1)))
    menu.addAction(_action(window, "Label: consolidation", LABEL_SHORTCUTS[2], lambda: controller.set_label(2)))
    menu.addAction(_action(window, "Smaller brush", "[", lambda: controller.step_size(-1)))
    menu.addAction(_action(window, "Larger brush", "]", lambda: controller.step_size(1)))


def _action(window: MainWindow, text: str, key: str | None, slot) -> QAction:
    action = QAction(text, window)
    if key:
        action.setShortcut(QKeySequence(key))
    action.triggered.connect(slot)
    return action


def _show_corrected(window: MainWindow) -> None:
    """Edits change the corrected labels: show those if the prediction is on screen."""
    combo = window.display_panel.source
    if combo.currentData() != "corrected":
        combo.setCurrentIndex(combo.findData("corrected"))
