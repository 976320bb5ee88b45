"""Waveform of one signal, fast to pan and zoom on hours of audio.

:class:`PeakPyramid` computes min/max envelopes once, at block sizes growing by
:data:`PYRAMID_FACTOR`; on every view change :class:`WaveformView` draws the coarsest
envelope that still has at least one block per pixel of the visible span (or the raw
samples when zoomed in far enough), so a redraw touches a few thousand points whatever the
length of the file, and a single-sample peak stays visible at any zoom.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QPalette

from app.views.base import ArrayCache, TimePlot, palette_color
from app.views.timeline import Timeline

#: Samples per block of the finest envelope; spans below this many samples per pixel
#: are drawn from the raw samples.
FIRST_BLOCK = 16
#: Each envelope level has blocks this many times longer than the one below (both
#: constants are powers of two: levels are built by halving).
PYRAMID_FACTOR = 4
#: Pixel width assumed before the view is laid out.
DEFAULT_PIXELS = 1024


def halve(mins: np.ndarray, maxs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min of ``mins`` and max of ``maxs`` over pairs of neighbours.

    mins, maxs: (N,) -> two (ceil(N / 2),) arrays; an odd last value is kept as it is.
    (Pairwise passes are several times faster than ``reshape(-1, b).min(axis=1)``.)
    """
    even = len(mins) // 2 * 2
    low = np.minimum(mins[0:even:2], mins[1:even:2])
    high = np.maximum(maxs[0:even:2], maxs[1:even:2])
    if even < len(mins):
        low, high = np.append(low, mins[-1]), np.append(high, maxs[-1])
    return low, high


class PeakPyramid:
    """Min/max envelopes of a signal at block sizes ``FIRST_BLOCK * PYRAMID_FACTOR**i``.

    samples: (N,) float. ``levels`` holds ``(block, mins, maxs)`` from finest to coarsest;
    the coarsest has a single block.
    """

    def __init__(self, samples: np.ndarray) -> None:
        self.samples = samples
        self.levels: list[tuple[int, np.ndarray, np.ndarray]] = []
        block, low, high = 1, samples, samples
        kept = FIRST_BLOCK
        while not self.levels or len(self.levels[-1][1]) > 1:
            low, high = halve(low, high)
            block *= 2
            if block == kept:
                self.levels.append((block, low, high))
                kept *= PYRAMID_FACTOR

    @property
    def peak(self) -> float:
        """Largest absolute sample value."""
        _, low, high = self.levels[-1]
        return float(max(abs(low[0]), abs(high[0])))

    def envelope(self, start: int, stop: int, pixels: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample positions and values to draw samples [start, stop) on ``pixels`` pixels.

        Returns (x, y) with x in samples (float64), non-decreasing. Raw samples when there
        are fewer than FIRST_BLOCK samples per pixel; otherwise, for each block of the
        coarsest level with at least one block per pixel, its min at the block start and
        its max at the block end.
        """
        n = len(self.samples)
        start, stop = max(0, start), min(n, stop)
        if stop <= start:
            return np.zeros(0), np.zeros(0)
        per_pixel = (stop - start) / max(1, pixels)
        if per_pixel < FIRST_BLOCK:
            return np.arange(start, stop, dtype=np.float64), self.samples[start:stop]
        block, low, high = next(
            level for level in reversed(self.levels) if level[0] <= per_pixel)
        first, last = start // block, math.ceil(stop / block)
        edges = np.arange(first, last + 1, dtype=np.float64) * block
        edges[-1] = min(edges[-1], n)
        x = np.empty(2 * (last - first))
        x[0::2], x[1::2] = edges[:-1], edges[1:]
        y = np.empty(2 * (last - first), dtype=low.dtype)
        y[0::2], y[1::2] = low[first:last], high[first:last]
        return x, y


#: Peak pyramids of recently shown audio (shared by all waveform views).
_PYRAMIDS = ArrayCache()

class WaveformView(TimePlot):
    """Waveform of one signal on the timeline's time axis.

    Shift+drag selects the loop region, a click seeks, drag pans, the wheel zooms.
    """

    def __init__(self, timeline: Timeline, title: str = "", parent=None, color: str | None = None) -> None:
        self._color = color
        self._curve = pg.PlotDataItem(antialias=False, skipFiniteCheck=True)
        self._pyramid: PeakPyramid | None = None
        self._sample_rate = 1
        super().__init__(timeline, title, parent)
        self._curve.setClipToView(True)
        self.addItem(self._curve)
        self.getPlotItem().getAxis("left").enableAutoSIPrefix(False)
        self._redraw = QTimer(self, singleShot=True, interval=0)
        self._redraw.timeout.connect(self.refresh)
        self.getViewBox().sigXRangeChanged.connect(self._redraw.start)
        self.setYRange(-1.0, 1.0, padding=0.02)

    @property
    def curve(self) -> pg.PlotDataItem:
        """The drawn envelope or samples (x in seconds)."""
        return self._curve

    def set_audio(self, samples: np.ndarray, sample_rate: int) -> None:
        """Show ``samples``: (N,) float, at ``sample_rate`` Hz; the full range becomes N / rate."""
        samples = np.asarray(samples)
        if samples.ndim != 1 or len(samples) == 0:
            raise ValueError(f"a waveform needs a non-empty (N,) array, got shape {samples.shape}")
        self._pyramid = _PYRAMIDS.get(samples, None, lambda: PeakPyramid(samples))
        self._sample_rate = int(sample_rate)
        peak = self._pyramid.peak or 1.0
        self.setYRange(-peak, peak, padding=0.05)
        self.timeline.set_extent(self, len(samples) / self._sample_rate)
        self.refresh()

    def clear_audio(self) -> None:
        """Show nothing; the timeline forgets this view's extent."""
        self._pyramid = None
        self._curve.setData([], [])
        self.setYRange(-1.0, 1.0, padding=0.02)
        self.timeline.set_extent(self, None)

    def refresh(self) -> None:
        """Redraw the envelope for the visible range and the current pixel width."""
        if self._pyramid is None or self.plotItem is None:  # no plot item: closed
            return
        low, high = self.x_range()
        rate = self._sample_rate
        pixels = int(self.getViewBox().width()) or DEFAULT_PIXELS
        x, y = self._pyramid.envelope(int(math.floor(low * rate)), int(math.ceil(high * rate)) + 1, pixels)
        self._curve.setData(x / rate, y)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._pyramid is not None:
            self._redraw.start()

    def apply_palette(self) -> None:
        super().apply_palette()
        color = self._color or palette_color(self, QPalette.ColorRole.Highlight)
        self._curve.setPen(pg.mkPen(color, width=1))
