"""Live training curves: losses per step, validation figures per epoch (pyqtgraph)."""
from __future__ import annotations

import math
from typing import Any

import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

#: loss terms drawn (when the run reports them) and their colours
LOSS_PENS: dict[str, tuple[int, int, int]] = {"loss": (30, 30, 30), "loss_classifier": (31, 119, 180),
                                              "loss_box_reg": (44, 160, 44), "loss_mask": (214, 39, 40),
                                              "loss_objectness": (148, 103, 189),
                                              "loss_rpn_box_reg": (140, 86, 75), "loss_semantic": (227, 119, 194),
                                              "loss_image_class": (23, 190, 207)}
#: validation figures drawn per epoch
METRIC_PENS: dict[str, tuple[str, tuple[int, int, int]]] = {
    "dice_ggo": ("Dice GGO", (0, 150, 60)), "dice_consolidation": ("Dice consolidation", (220, 120, 0)),
    "dice_binary": ("binary Dice", (30, 30, 200)), "map": ("mask mAP", (150, 0, 150))}
#: validation figures of classification module S
CLASSIFIER_PENS: dict[str, tuple[str, tuple[int, int, int]]] = {
    "accuracy": ("accuracy", (30, 30, 200)), "mean_sensitivity": ("mean sensitivity", (0, 150, 60))}


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


class CurvesWidget(QWidget):
    """Two plots: loss terms against the step, and validation figures against the epoch.

    ``metrics`` maps the epoch figures drawn to (legend name, colour).
    """

    def __init__(self, metrics: dict[str, tuple[str, tuple[int, int, int]]] = METRIC_PENS,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.metric_pens = dict(metrics)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground("w")
        self.plots.setMinimumHeight(260)
        self.loss_plot = self.plots.addPlot(row=0, col=0, title="training loss")
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.addLegend(offset=(-10, 10), labelTextSize="8pt")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.2)
        self.metric_plot = self.plots.addPlot(row=0, col=1, title="validation")
        self.metric_plot.setLabel("bottom", "epoch")
        self.metric_plot.setYRange(0, 1)
        self.metric_plot.addLegend(offset=(-10, -10), labelTextSize="8pt")
        self.metric_plot.showGrid(x=True, y=True, alpha=0.2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plots)
        self.loss_curves: dict[str, pg.PlotDataItem] = {}
        self.metric_curves: dict[str, pg.PlotDataItem] = {}
        self.loss_data: dict[str, tuple[list[float], list[float]]] = {}
        self.metric_data: dict[str, tuple[list[float], list[float]]] = {}

    def clear(self) -> None:
        """Forget every curve (a new run)."""
        for plot, curves in ((self.loss_plot, self.loss_curves), (self.metric_plot, self.metric_curves)):
            for item in curves.values():
                plot.removeItem(item)
                if plot.legend is not None:
                    plot.legend.removeItem(item)
            curves.clear()
        self.loss_data.clear()
        self.metric_data.clear()

    def add_step(self, step: int, losses: dict[str, Any]) -> None:
        """Append one step's loss terms."""
        for key, colour in LOSS_PENS.items():
            value = _finite(losses.get(key))
            if value is None:
                continue
            xs, ys = self.loss_data.setdefault(key, ([], []))
            xs.append(float(step))
            ys.append(value)
            if key not in self.loss_curves:
                width = 2 if key == "loss" else 1
                self.loss_curves[key] = self.loss_plot.plot([], [], pen=pg.mkPen(colour, width=width), name=key)
            self.loss_curves[key].setData(xs, ys)

    def add_epoch(self, epoch: int, metrics: dict[str, Any]) -> None:
        """Append one epoch's validation figures."""
        for key, (name, colour) in self.metric_pens.items():
            value = _finite(metrics.get(key))
            if value is None:
                continue
            xs, ys = self.metric_data.setdefault(key, ([], []))
            xs.append(float(epoch))
            ys.append(value)
            if key not in self.metric_curves:
                self.metric_curves[key] = self.metric_plot.plot([], [], pen=pg.mkPen(colour, width=2), symbol="o",
                                                                symbolSize=6, symbolBrush=colour, name=name)
            self.metric_curves[key].setData(xs, ys)
