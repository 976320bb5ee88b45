"""Token grid: the codes of one file, one row per level, one column per frame.

Any number of levels and any codebook size: 8 RVQ levels x 1024 codes, or one FSQ level x
65,536 codes. Levels are numbered from 1 as shown on the axis ("L1" is the first quantizer,
drawn at the top); frames are numbered from 0. The image data is the codes array itself, row
i = level i + 1, column j = frame j, so ``view.image.image`` equals the codes; each code
value has its own colour (:func:`categorical_lut`).
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Signal
from PySide6.QtGui import QPalette

from app.views.base import TimePlot, palette_color
from app.views.timeline import Timeline

#: Golden-ratio hue steps give neighbouring codes far-apart colours.
GOLDEN_RATIO = (math.sqrt(5) - 1) / 2
#: Alpha of the veil over cells that :meth:`TokenGridView.highlight_code` dims.
DIM_ALPHA = 200


@functools.lru_cache(maxsize=4)
def categorical_lut(size: int) -> np.ndarray:
    """(size, 3) uint8 colours: hue stepped by the golden ratio, saturation and value varied,
    so that neighbouring codes get far-apart colours. Computed in numpy (65,536 codes of an
    FSQ codebook take milliseconds); cached (one table per codebook size) and read-only."""
    if size < 1:
        raise ValueError(f"a codebook needs at least one code, got size {size}")
    code = np.arange(size, dtype=np.float64)
    hue = (code * GOLDEN_RATIO) % 1.0
    saturation = 0.45 + 0.4 * (code % 3) / 2
    value = 0.95 - 0.3 * ((code // 3) % 3) / 2
    colors = np.round(_hsv_to_rgb(hue, saturation, value) * 255).astype(np.uint8)
    colors.flags.writeable = False
    return colors


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV in [0, 1] -> (N, 3) RGB in [0, 1] (the hexcone model, as QColor.fromHsvF)."""
    sector = np.floor(h * 6.0)
    f = h * 6.0 - sector
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    sector = sector.astype(np.int64) % 6
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    rgb = np.zeros(h.shape + (3,))
    for index, channels in enumerate(choices):
        mask = sector == index
        for c in range(3):
            rgb[mask, c] = channels[c][mask]
    return rgb


def cell_at(x_seconds: float, y: float, shape: tuple[int, int], frame_rate: float
            ) -> tuple[int, int] | None:
    """(level, frame) under view point (x_seconds, y) of a (k, T) grid, None outside.

    Row i spans y in [i, i + 1) and is level i + 1; frame j spans [j, j + 1) / frame_rate.
    """
    levels, frames = shape
    frame = math.floor(x_seconds * frame_rate)
    row = math.floor(y)
    if 0 <= frame < frames and 0 <= row < levels:
        return row + 1, frame
    return None


class TokenGridView(TimePlot):
    """Codes (k, T) as a k-row image on the time axis; hover tells the cell, a click seeks.

    Signals:
        hovered(int level, int frame, float time, int code): the mouse entered a cell
            (level from 1, frame from 0, time = frame / frame_rate seconds).
    """

    hovered = Signal(int, int, float, int)

    def __init__(self, timeline: Timeline, title: str = "", parent=None) -> None:
        self.label = pg.TextItem(anchor=(0, 1))
        self._codes: np.ndarray | None = None
        self._frame_rate = 1.0
        self._hover: tuple[int, int] | None = None
        self._highlight: tuple[int | None, int | None] = (None, None)
        self._levels_shown = 0              # rows on the axis (0 until the plot is built)
        super().__init__(timeline, title, parent)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.veil = pg.ImageItem(axisOrder="row-major")
        self.veil.setZValue(self.image.zValue() + 1)
        self.addItem(self.image)
        self.addItem(self.veil)
        self.addItem(self.label, ignoreBounds=True)
        self.label.setZValue(200)
        self.label.hide()
        self.getViewBox().invertY(True)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._empty_levels = 1
        self._show_levels(self._empty_levels)

    def set_empty_levels(self, levels: int) -> None:
        """Rows shown while there are no codes (the loaded model's levels)."""
        self._empty_levels = max(1, int(levels))
        if self._codes is None:
            self._show_levels(self._empty_levels)

    def _show_levels(self, levels: int) -> None:
        """Rows L1..Lk, L1 at the top."""
        self._levels_shown = levels
        self._label_levels()
        self.setLimits(yMin=0.0, yMax=float(levels))
        self.setYRange(0.0, float(levels), padding=0)

    def level_stride(self) -> int:
        """Every how many levels the axis names one: 1 while a row is as tall as a label,
        more when the view is too short for all (labels would overlap)."""
        levels = self._levels_shown
        row_pixels = self.height() / max(1, levels)    # the widget's height: the axis below is small
        label_pixels = self.fontMetrics().height()
        return 1 if row_pixels <= 0 or row_pixels >= label_pixels else math.ceil(label_pixels / row_pixels)

    def _label_levels(self) -> None:
        stride = self.level_stride()
        levels = self._levels_shown
        self.getPlotItem().getAxis("left").setTicks(
            [[(row + 0.5, f"L{row + 1}") for row in range(0, levels, stride)]])

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._levels_shown and self.plotItem is not None:     # None once pyqtgraph closed it
            self._label_levels()

    def set_codes(self, codes: np.ndarray, frame_rate: float, codebook_size: int) -> None:
        """Show ``codes``: (k, T) integers in [0, codebook_size), ``frame_rate`` frames/s."""
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] == 0 or not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(f"token grid needs a non-empty integer (k, T) array, got "
                             f"{codes.dtype} {codes.shape}")
        if codes.min() < 0 or codes.max() >= codebook_size:
            raise ValueError(f"codes must lie in [0, {codebook_size}), got "
                             f"[{codes.min()}, {codes.max()}]")
        self._codes = codes
        self._frame_rate = float(frame_rate)
        levels, frames = codes.shape
        self.image.setImage(codes, lut=categorical_lut(codebook_size), levels=(0, codebook_size))
        self.image.setRect(self._grid_rect())
        self._show_levels(levels)
        self.timeline.set_extent(self, frames / self._frame_rate)
        self._hover = None
        self.highlight_code(None, None)

    def clear_codes(self) -> None:
        """Show nothing; the timeline forgets this view's extent."""
        self._codes = None
        self.image.clear()
        self.veil.clear()
        self.label.hide()
        self._hover = None
        self._show_levels(self._empty_levels)
        self.timeline.set_extent(self, None)

    def codes(self) -> np.ndarray | None:
        """The shown codes (k, T), None when empty."""
        return self._codes

    @property
    def frame_rate(self) -> float:
        """Frames per second of the shown codes."""
        return self._frame_rate

    def _grid_rect(self) -> QRectF:
        """View rectangle of the grid: x from 0 to T / frame_rate seconds, y from 0 to k."""
        levels, frames = self._codes.shape
        return QRectF(0.0, 0.0, frames / self._frame_rate, levels)

    def cell_at(self, x_seconds: float, y: float) -> tuple[int, int] | None:
        """(level, frame) under view point (x_seconds, y), None outside the grid."""
        if self._codes is None:
            return None
        return cell_at(x_seconds, y, self._codes.shape, self._frame_rate)

    def seek_time(self, x: float) -> float:
        """A click seeks to the start of the frame under it."""
        if self._codes is None:
            return x
        frame = min(max(math.floor(x * self._frame_rate), 0), self._codes.shape[1] - 1)
        return frame / self._frame_rate

    def highlight_code(self, level: int | None, code: int | None) -> None:
        """Dim every cell except those of ``level`` (from 1) holding ``code``.

        ``code`` None keeps the whole level bright; ``level`` None removes the highlight. A
        level these codes do not have (a code picked among all files' levels while a file with
        fewer is shown) keeps no cell bright: nothing of it is here.
        """
        self._highlight = (level, code)
        if self._codes is None or level is None:
            self.veil.clear()
            self.veil.hide()
            return
        keep = np.zeros(self._codes.shape, dtype=bool)
        if 1 <= level <= self._codes.shape[0]:
            keep[level - 1] = True if code is None else self._codes[level - 1] == code
        veil = np.zeros(self._codes.shape + (4,), dtype=np.uint8)
        veil[~keep] = palette_color(self, QPalette.ColorRole.Base, DIM_ALPHA).getRgb()
        self.veil.setImage(veil, levels=(0, 255))
        self.veil.setRect(self._grid_rect())
        self.veil.show()

    def highlighted(self) -> tuple[int | None, int | None]:
        """The (level, code) last given to :meth:`highlight_code`."""
        return self._highlight

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        viewbox = self.getViewBox()
        point = viewbox.mapSceneToView(scene_pos)
        inside = viewbox.sceneBoundingRect().contains(scene_pos)
        cell = self.cell_at(point.x(), point.y()) if inside else None
        if cell is None:
            self.label.hide()
            self._hover = None
            return
        level, frame = cell
        code = int(self._codes[level - 1, frame])
        time = frame / self._frame_rate
        self.label.setText(f"L{level}  frame {frame}  {time:.2f} s  code {code}")
        low, high = self.x_range()
        self.label.setAnchor((0, 1) if point.x() < (low + high) / 2 else (1, 1))
        self.label.setPos(point)
        self.label.show()
        if cell != self._hover:
            self._hover = cell
            self.hovered.emit(level, frame, time, code)

    def leaveEvent(self, event) -> None:
        super().leaveEvent(event)
        self.label.hide()
        self._hover = None

    def apply_palette(self) -> None:
        super().apply_palette()
        self.label.setColor(palette_color(self, QPalette.ColorRole.ToolTipText))
        self.label.fill = pg.mkBrush(palette_color(self, QPalette.ColorRole.ToolTipBase, 230))
        if self._codes is not None:  # the veil is drawn in the palette's base colour
            self.highlight_code(*self._highlight)
