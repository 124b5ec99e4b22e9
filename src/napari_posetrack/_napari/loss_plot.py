"""A lightweight live loss plot (QPainter): train and validation loss per epoch, log scale."""

from __future__ import annotations

import math

from qtpy.QtCore import QPointF, Qt
from qtpy.QtGui import QColor, QPainter, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget

__all__ = ["LossPlot"]

COLORS = {"train": QColor(80, 160, 255), "val": QColor(255, 150, 60)}


class LossPlot(QWidget):
    """Draws ``series`` name -> list of (epoch, value) on a log-y axis; cheap to update."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.series: dict[str, list[tuple[float, float]]] = {"train": [], "val": []}
        self.title = ""
        self.setMinimumHeight(140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def clear(self) -> None:
        for v in self.series.values():
            v.clear()
        self.title = ""
        self.update()

    def add_point(self, name: str, x: float, y: float) -> None:
        if y is None or not math.isfinite(y) or y <= 0:
            return
        self.series.setdefault(name, []).append((float(x), float(y)))
        self.update()

    def set_title(self, text: str) -> None:
        self.title = text
        self.update()

    def paintEvent(self, event):  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h = self.width(), self.height()
        left, right, top, bottom = 44, 8, 18, 18
        p.fillRect(0, 0, w, h, QColor(38, 41, 48))
        p.setPen(QColor(200, 200, 200))
        p.drawText(left, 13, self.title or "loss (log scale)")
        pts = [pt for s in self.series.values() for pt in s]
        if not pts:
            p.drawText(left, h // 2, "no epochs yet")
            p.end()
            return
        xs = [x for x, _ in pts]
        ys = [math.log10(y) for _, y in pts]
        x0, x1 = min(xs), max(max(xs), min(xs) + 1)
        y0, y1 = min(ys), max(ys)
        if y1 - y0 < 1e-6:
            y0, y1 = y0 - 0.5, y1 + 0.5

        def to_px(x, y):
            fx = left + (x - x0) / (x1 - x0) * (w - left - right)
            fy = top + (1 - (math.log10(y) - y0) / (y1 - y0)) * (h - top - bottom)
            return QPointF(fx, fy)

        p.setPen(QColor(90, 90, 90))
        p.drawRect(left, top, w - left - right, h - top - bottom)
        p.setPen(QColor(170, 170, 170))
        p.drawText(2, top + 10, f"{10 ** y1:.2g}")
        p.drawText(2, h - bottom, f"{10 ** y0:.2g}")
        p.drawText(w - right - 60, h - 3, f"epoch {int(max(xs))}")  # the last epoch run (x1 is padded)
        for i, (name, s) in enumerate(self.series.items()):
            color = COLORS.get(name, QColor(160, 220, 120))
            p.setPen(QPen(color, 2))
            for a, b in zip(s, s[1:]):
                p.drawLine(to_px(*a), to_px(*b))
            if len(s) == 1:
                p.drawEllipse(to_px(*s[0]), 2, 2)
            p.drawText(w - right - 50, top + 14 + 14 * i, name)
        p.setPen(Qt.PenStyle.NoPen)
        p.end()
