"""FSQ tokens as their digits: one row per dimension of the code, one column per frame.

An FSQ code of a NeuCodec / X-Codec2 style codec is a base-:data:`FSQ_BASE` number of
``D = log4(codebook_size)`` digits (65,536 codes: 8 digits), digit ``d`` being
``(code // 4**d) % 4`` -- the quantised value of dimension ``d``. Showing the digits as ``D``
rows (d0 at the top, four colours) shows which dimensions move; the code value itself is in
the hover label and in the row under them (its own colour per code).
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QPalette

from app.views.base import TimePlot, palette_color
from app.views.timeline import Timeline
from app.views.token_grid import categorical_lut

#: Values per FSQ dimension (NeuCodec, X-Codec2: 4).
FSQ_BASE = 4
#: Colours of the digit values 0..3 (dark to light, readable on both themes).
DIGIT_COLORS = np.array([[37, 52, 148], [44, 127, 184], [127, 205, 187], [255, 237, 160]], dtype=np.uint8)


def fsq_digit_count(codebook_size: int, base: int = FSQ_BASE) -> int | None:
    """Digits of a code when ``codebook_size`` is a power of ``base`` (65,536 -> 8), else None."""
    if codebook_size < base:
        return None
    digits = round(math.log(codebook_size, base))
    return digits if base ** digits == codebook_size else None


def fsq_digits(codes: np.ndarray, digits: int, base: int = FSQ_BASE) -> np.ndarray:
    """(T,) codes -> (digits, T) digits, row d = ``(code // base**d) % base``."""
    codes = np.asarray(codes, dtype=np.int64).reshape(-1)
    powers = base ** np.arange(digits, dtype=np.int64)
    return ((codes[None, :] // powers[:, None]) % base).astype(np.int64)


class FsqDigitView(TimePlot):
    """Rows d0..d{D-1} of each code's digits and a last row "code" with the code's own colour."""

    def __init__(self, timeline: Timeline, title: str = "", parent=None) -> None:
        super().__init__(timeline, title, parent)
        self.digit_image = pg.ImageItem(axisOrder="row-major")
        self.code_image = pg.ImageItem(axisOrder="row-major")
        self.addItem(self.digit_image)
        self.addItem(self.code_image)
        self.label = pg.TextItem(anchor=(0, 1))
        self.label.setZValue(200)
        self.label.hide()
        self.addItem(self.label, ignoreBounds=True)
        self.getViewBox().invertY(True)
        self._codes: np.ndarray | None = None
        self._digits: np.ndarray | None = None
        self._frame_rate = 1.0
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)

    def set_codes(self, codes: np.ndarray, frame_rate: float, codebook_size: int) -> np.ndarray:
        """Show ``codes`` (1, T) or (T,) in [0, codebook_size) (a power of 4); returns the digits (D, T)."""
        digits_count = fsq_digit_count(codebook_size)
        codes = np.asarray(codes)
        if digits_count is None:
            raise ValueError(f"an FSQ digit view needs a codebook of 4**D codes, got {codebook_size}")
        if codes.ndim == 2 and codes.shape[0] != 1:
            raise ValueError(f"an FSQ digit view shows one level of codes, got shape {codes.shape}")
        codes = codes.reshape(-1)
        if codes.size == 0:
            raise ValueError("no codes to show")
        self._codes = codes
        self._frame_rate = float(frame_rate)
        self._digits = fsq_digits(codes, digits_count)
        frames = codes.size
        self.digit_image.setImage(self._digits, lut=DIGIT_COLORS, levels=(0, FSQ_BASE))
        self.digit_image.setRect(QRectF(0.0, 0.0, frames / self._frame_rate, digits_count))
        self.code_image.setImage(codes[None, :], lut=categorical_lut(codebook_size), levels=(0, codebook_size))
        self.code_image.setRect(QRectF(0.0, digits_count, frames / self._frame_rate, 1))
        rows = digits_count + 1
        self.getPlotItem().getAxis("left").setTicks(
            [[(d + 0.5, f"d{d}") for d in range(digits_count)] + [(digits_count + 0.5, "code")]])
        self.setLimits(yMin=0.0, yMax=float(rows))
        self.setYRange(0.0, float(rows), padding=0)
        self.timeline.set_extent(self, frames / self._frame_rate)
        return self._digits

    def digits(self) -> np.ndarray | None:
        return self._digits

    def clear_codes(self) -> None:
        self._codes = self._digits = None
        self.digit_image.clear()
        self.code_image.clear()
        self.label.hide()
        self.timeline.set_extent(self, None)

    def describe(self, x_seconds: float) -> str | None:
        """Hover text of the frame at ``x_seconds``: frame, time, code and its digits."""
        if self._codes is None:
            return None
        frame = math.floor(x_seconds * self._frame_rate)
        if not 0 <= frame < self._codes.size:
            return None
        digits = " ".join(str(int(d)) for d in self._digits[:, frame])
        return f"frame {frame}  {frame / self._frame_rate:.2f} s  code {int(self._codes[frame])}  digits d0..: {digits}"

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        viewbox = self.getViewBox()
        point = viewbox.mapSceneToView(scene_pos)
        text = self.describe(point.x()) if viewbox.sceneBoundingRect().contains(scene_pos) else None
        if text is None:
            self.label.hide()
            return
        self.label.setText(text)
        low, high = self.x_range()
        self.label.setAnchor((0, 1) if point.x() < (low + high) / 2 else (1, 1))
        self.label.setPos(point)
        self.label.show()

    def apply_palette(self) -> None:
        super().apply_palette()
        if hasattr(self, "label"):
            self.label.setColor(palette_color(self, QPalette.ColorRole.ToolTipText))
            self.label.fill = pg.mkBrush(palette_color(self, QPalette.ColorRole.ToolTipBase, 230))
