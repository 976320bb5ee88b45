"""What every time view shares: a plot on the timeline's axis with playhead and loop region.

:class:`TimePlot` is the base of the waveform, spectrogram and token grid views. Its x axis
is time in seconds limited to the timeline's duration; the y axis does not pan or zoom.
A left click seeks the timeline, a shift+left drag selects the loop region, a plain drag
pans and the wheel zooms. Colours follow the widget palette (light or dark theme).
"""
from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPalette

from app.views.timeline import Timeline

#: Width of every left axis, so stacked views line their time axes up.
AXIS_WIDTH = 72
#: Narrowest visible time span when zooming in (seconds).
MIN_X_RANGE = 0.002
#: Time span the axes show while no audio is loaded.
EMPTY_SECONDS = 1.0
#: Playhead colour: readable on light and dark backgrounds and on the colormaps.
PLAYHEAD_COLOR = "#f03e3e"
#: Distance of the title badge from the plot's top-left corner (pixels).
TITLE_MARGIN = 4


class TimeViewBox(pg.ViewBox):
    """ViewBox that reports left clicks and shift+left drags in view (time) coordinates.

    Signals:
        clicked(float): x of a left click.
        regionDragged(float, float): x where a shift+drag started and where it is now.
    """

    clicked = Signal(float)
    regionDragged = Signal(float, float)

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.clicked.emit(self.mapToView(ev.pos()).x())
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:
        shift = bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if ev.button() == Qt.MouseButton.LeftButton and shift:
            ev.accept()
            start = self.mapToView(QPointF(ev.buttonDownPos())).x()
            self.regionDragged.emit(start, self.mapToView(ev.pos()).x())
        else:
            super().mouseDragEvent(ev, axis)


class ArrayCache:
    """What a view computed from an array (spectrogram, peak pyramid), kept while that array
    lives, so selecting a file again redraws without recomputing. Keyed by the array's
    identity (held weakly) and the extra ``key``; at most ``size`` entries (a cached value
    may itself hold its array, as a peak pyramid does: then that many arrays stay alive)."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._items: OrderedDict[tuple, tuple[weakref.ref, Any]] = OrderedDict()

    def get(self, samples: np.ndarray, key: Any, compute: Callable[[], Any]) -> Any:
        slot = (id(samples), key)
        hit = self._items.get(slot)
        if hit is not None and hit[0]() is samples:
            self._items.move_to_end(slot)
            return hit[1]
        value = compute()
        self._items[slot] = (weakref.ref(samples), value)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value


def palette_color(widget, role: QPalette.ColorRole, alpha: int = 255) -> QColor:
    """Colour of ``role`` in the widget's palette with the given alpha."""
    color = QColor(widget.palette().color(role))
    color.setAlpha(alpha)
    return color


class TimePlot(pg.PlotWidget):
    """Plot whose x axis is the timeline's time (seconds), with playhead and loop region.

    Subclasses show content and report its length with ``timeline.set_extent(self, s)``;
    the x limits and the full range follow the timeline's duration.
    """

    def __init__(self, timeline: Timeline, title: str = "", parent=None) -> None:
        self._viewbox = TimeViewBox()
        self._styled = False  # palette changes during construction come before the items
        super().__init__(parent=parent, viewBox=self._viewbox)
        self.timeline = timeline
        plot = self.getPlotItem()
        self.title_item = pg.TextItem(title, anchor=(0, 0))
        self.title_item.setParentItem(plot.getViewBox())
        self.title_item.setPos(TITLE_MARGIN, TITLE_MARGIN)
        self.title_item.setZValue(300)
        self.title_item.setVisible(bool(title))
        plot.hideButtons()
        plot.setMouseEnabled(x=True, y=False)
        plot.getAxis("left").setWidth(AXIS_WIDTH)
        plot.getAxis("bottom").enableAutoSIPrefix(False)  # time stays in seconds at any zoom
        self.playhead = pg.InfiniteLine(pos=timeline.position, angle=90, movable=False)
        self.playhead.setZValue(100)
        plot.addItem(self.playhead, ignoreBounds=True)
        self.region_item = pg.LinearRegionItem(orientation="vertical")
        self.region_item.setZValue(90)
        self.region_item.hide()
        plot.addItem(self.region_item, ignoreBounds=True)

        timeline.positionChanged.connect(self.playhead.setValue)
        timeline.durationChanged.connect(self._on_duration)
        timeline.regionChanged.connect(self._show_region)
        self._viewbox.clicked.connect(lambda x: timeline.request_seek(self.seek_time(x)))
        self._viewbox.regionDragged.connect(lambda a, b: timeline.set_region((a, b)))
        self.region_item.sigRegionChanged.connect(
            lambda item: timeline.set_region(item.getRegion()) if item.isVisible() else None)
        self._on_duration(timeline.duration)
        self._show_region(timeline.region)
        self.apply_palette()
        self._styled = True

    def set_title(self, title: str) -> None:
        """Text of the badge in the top-left corner of the plot (empty hides it)."""
        self.title_item.setText(title)
        self.title_item.setVisible(bool(title))

    def title(self) -> str:
        """Text of the title badge."""
        return self.title_item.toPlainText()

    def seek_time(self, x: float) -> float:
        """Time (seconds) a click at view x seeks to; subclasses may snap it."""
        return x

    def x_range(self) -> tuple[float, float]:
        """Visible time span (seconds)."""
        low, high = self.getViewBox().viewRange()[0]
        return float(low), float(high)

    def _on_duration(self, duration: float) -> None:
        if duration > 0:
            self.setLimits(xMin=0.0, xMax=duration, minXRange=min(MIN_X_RANGE, duration))
            self.setXRange(0.0, duration, padding=0)
        else:
            self.setLimits(xMin=0.0, xMax=None, minXRange=None)
            self.setXRange(0.0, EMPTY_SECONDS, padding=0)

    def _show_region(self, region: tuple[float, float] | None) -> None:
        if region is None:
            self.region_item.hide()
            return
        if tuple(self.region_item.getRegion()) != tuple(region):
            self.region_item.blockSignals(True)
            self.region_item.setRegion(region)
            self.region_item.blockSignals(False)
        self.region_item.show()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if self._styled and event.type() == QEvent.Type.PaletteChange:
            self.apply_palette()

    def apply_palette(self) -> None:
        """Colour background, axes, playhead and region from the palette."""
        text = palette_color(self, QPalette.ColorRole.Text)
        self.setBackground(palette_color(self, QPalette.ColorRole.Base))
        plot = self.getPlotItem()
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            axis.setPen(pg.mkPen(palette_color(self, QPalette.ColorRole.Text, 150)))
            axis.setTextPen(pg.mkPen(text))
        self.playhead.setPen(pg.mkPen(PLAYHEAD_COLOR, width=2))
        self.title_item.setColor(text)
        self.title_item.fill = pg.mkBrush(palette_color(self, QPalette.ColorRole.Base, 200))
        highlight = QPalette.ColorRole.Highlight
        self.region_item.setBrush(pg.mkBrush(palette_color(self, highlight, 50)))
        self.region_item.setHoverBrush(pg.mkBrush(palette_color(self, highlight, 80)))
        for line in self.region_item.lines:
            line.setPen(pg.mkPen(palette_color(self, highlight, 200), width=1))
