"""Log-magnitude spectrogram of one signal on the timeline's time axis.

:func:`compute_spectrogram` is plain numpy. Long signals get a longer hop so the image
stays at most ``max_columns`` wide; each column then averages the power of all the windows
inside it, so no stretch of audio is skipped.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import scipy.fft
from PySide6.QtCore import QRectF

from app.views.base import ArrayCache, TimePlot
from app.views.timeline import Timeline

#: Analysis window length in seconds (rounded up to a power of two in samples).
WINDOW_SECONDS = 0.025
#: Hop of short signals, as a fraction of the window.
MIN_HOP_FRACTION = 4
#: Default displayed dynamic range below the loudest bin (dB).
DYNAMIC_RANGE_DB = 80.0
#: Power floor before the log (-200 dB).
POWER_FLOOR = 1e-20
#: Samples processed per chunk of columns, to bound memory on long signals.
CHUNK_SAMPLES = 1 << 22
COLORMAP = "viridis"
#: Frequency band (Hz) an empty view shows: wideband speech.
EMPTY_BAND_HZ = 8000.0


def fft_size(sample_rate: int) -> int:
    """Power-of-two window of at least WINDOW_SECONDS (512 at 16 kHz, 1024 at 24/32 kHz)."""
    return 1 << math.ceil(math.log2(WINDOW_SECONDS * sample_rate))


def compute_spectrogram(samples: np.ndarray, sr: int, max_columns: int = 8000
                        ) -> tuple[np.ndarray, float, float]:
    """Power spectrogram in dB re full scale (a full-scale sine peaks near 0 dB).

    samples: (N,) float. Returns ``(db, duration, nyquist)``: db (F, T) float32 with
    F = n_fft // 2 + 1 bins from 0 to sr / 2 and T = ceil(N / hop) <= max_columns columns,
    column t covering samples [t * hop, (t + 1) * hop); duration N / sr seconds; nyquist
    sr / 2 Hz. Short signals: one window per column, hop n_fft / 4. Long ones: the hop is
    a multiple of n_fft / 2 and a column averages the half-overlapping windows centred in
    it, whose Hann weights add up to one, so every sample counts.
    """
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError(f"a spectrogram needs a non-empty (N,) array, got shape {x.shape}")
    n_fft = fft_size(sr)
    hop = max(n_fft // MIN_HOP_FRACTION, math.ceil(len(x) / max_columns))
    stride = hop
    if hop > n_fft // MIN_HOP_FRACTION:
        stride = n_fft // 2
        hop = math.ceil(hop / stride) * stride
    per_column = hop // stride
    columns = math.ceil(len(x) / hop)
    # Window g starts at g * stride in `padded`: its centre is at g * stride + stride / 2
    # of the signal, so column t averages windows t * per_column ... + per_column - 1.
    front = n_fft // 2 - stride // 2
    padded = np.zeros(front + columns * hop + n_fft, dtype=np.float32)
    padded[front:front + len(x)] = x
    windows = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::stride]
    taper = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    scale = (2.0 / taper.sum()) ** 2
    db = np.empty((n_fft // 2 + 1, columns), dtype=np.float32)
    step = max(1, CHUNK_SAMPLES // (per_column * n_fft))
    for first in range(0, columns, step):
        count = min(step, columns - first)
        frames = windows[first * per_column:(first + count) * per_column] * taper
        spectrum = scipy.fft.rfft(frames, axis=-1)
        power = spectrum.real ** 2 + spectrum.imag ** 2
        power = power.reshape(count, per_column, -1).mean(axis=1)
        db[:, first:first + count] = (10 * np.log10(power * scale + POWER_FLOOR)).T
    return db, len(x) / sr, sr / 2


#: Spectrograms of recently shown audio (shared by all spectrogram views).
_SPECTROGRAMS = ArrayCache()

class SpectrogramView(TimePlot):
    """Spectrogram image: x in seconds, y in Hz from 0 to sr / 2, colour in dB."""

    def __init__(self, timeline: Timeline, title: str = "", parent=None) -> None:
        super().__init__(timeline, title, parent)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get(COLORMAP))
        self.addItem(self.image)
        self.getPlotItem().setLabel("left", "Frequency", units="Hz")
        self._peak_db: float | None = None
        self._levels = (-DYNAMIC_RANGE_DB, 0.0)
        self._show_band(EMPTY_BAND_HZ)

    def _show_band(self, nyquist: float) -> None:
        self.setLimits(yMin=0.0, yMax=nyquist)
        self.setYRange(0.0, nyquist, padding=0)

    def set_audio(self, samples: np.ndarray, sample_rate: int) -> None:
        """Show the spectrogram of ``samples``: (N,) at ``sample_rate`` Hz.

        Levels become (loudest - DYNAMIC_RANGE_DB, loudest).
        """
        db, duration, nyquist = _SPECTROGRAMS.get(samples, sample_rate,
                                                  lambda: compute_spectrogram(samples, sample_rate))
        self._peak_db = float(db.max())
        self.image.setImage(db, autoLevels=False)
        self.image.setRect(QRectF(0.0, 0.0, duration, nyquist))
        self._show_band(nyquist)
        self.set_levels(self._peak_db - DYNAMIC_RANGE_DB, self._peak_db)
        self.timeline.set_extent(self, duration)

    def clear_audio(self) -> None:
        """Show nothing; the timeline forgets this view's extent."""
        self.image.clear()
        self._peak_db = None
        self._show_band(EMPTY_BAND_HZ)
        self.timeline.set_extent(self, None)

    def peak_db(self) -> float | None:
        """Loudest bin of the shown spectrogram (dB), None when empty."""
        return self._peak_db

    def set_levels(self, lo_db: float, hi_db: float) -> None:
        """Map ``lo_db`` to the bottom of the colormap and ``hi_db`` to the top."""
        self._levels = (float(lo_db), float(hi_db))
        self.image.setLevels(self._levels)

    def levels(self) -> tuple[float, float]:
        """Current colour scale ``(lo_db, hi_db)``."""
        return self._levels

    def db(self) -> np.ndarray | None:
        """The shown image: (F, T) dB, row 0 = 0 Hz; None when empty."""
        return self.image.image
