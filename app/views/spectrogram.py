"""Log-magnitude spectrogram of one signal on the timeline's time axis.

Colours are dB: :meth:`SpectrogramView.set_levels` sets the top and bottom of the scale
(the studio's controls: top dB and dynamic range). The frequency axis is linear, or
logarithmic (:meth:`SpectrogramView.set_log_frequency`: rows resampled onto
:data:`LOG_ROWS` log-spaced frequencies from :data:`LOG_MIN_HZ` to Nyquist).
:class:`DifferenceSpectrogramView` shows one signal's dB minus another's on a diverging map.

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
#: Log-frequency display: lowest frequency shown (Hz), rows of the resampled image, tick marks (Hz).
LOG_MIN_HZ = 50.0
LOG_ROWS = 256
LOG_TICKS_HZ = (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
#: Difference spectrogram: diverging colormap and default half range (dB either side of 0).
DIFF_COLORMAP = "CET-D1"
DIFF_RANGE_DB = 30.0


def log_frequency_rows(db: np.ndarray, nyquist: float, rows: int = LOG_ROWS,
                       low_hz: float = LOG_MIN_HZ) -> np.ndarray:
    """``db`` (F, T) on linear bins 0..nyquist resampled to ``rows`` log-spaced frequencies
    from ``low_hz`` to ``nyquist`` (linear interpolation between bins): (rows, T) float32."""
    bins = db.shape[0]
    freqs = np.geomspace(low_hz, nyquist, rows)
    position = freqs / nyquist * (bins - 1)
    lower = np.clip(np.floor(position).astype(np.int64), 0, bins - 2)
    weight = (position - lower)[:, None].astype(np.float32)
    return (db[lower] * (1 - weight) + db[lower + 1] * weight).astype(np.float32)


def _tick_label(hz: float) -> str:
    return f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:g}"


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

    #: Name of the frequency axis (short views use a shorter one).
    axis_name = "Frequency"

    def __init__(self, timeline: Timeline, title: str = "", parent=None) -> None:
        super().__init__(timeline, title, parent)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get(COLORMAP))
        self.addItem(self.image)
        self.getPlotItem().setLabel("left", "Frequency", units="Hz")
        self._peak_db: float | None = None
        self._levels = (-DYNAMIC_RANGE_DB, 0.0)
        self._log = False
        self._shown: tuple[np.ndarray, float, float] | None = None     # (db (F, T), duration, nyquist)
        self._show_band(EMPTY_BAND_HZ)

    def _show_band(self, nyquist: float) -> None:
        axis = self.getPlotItem().getAxis("left")
        if self._log:
            low, high = math.log10(LOG_MIN_HZ), math.log10(nyquist)
            axis.setTicks([[(math.log10(f), _tick_label(f)) for f in LOG_TICKS_HZ if LOG_MIN_HZ <= f <= nyquist]])
            self.getPlotItem().setLabel("left", f"{self.axis_name} (log)", units="Hz")
        else:
            low, high = 0.0, nyquist
            axis.setTicks(None)
            self.getPlotItem().setLabel("left", self.axis_name, units="Hz")
        self.setLimits(yMin=low, yMax=high)
        self.setYRange(low, high, padding=0)

    def set_log_frequency(self, on: bool) -> None:
        """Show the frequency axis logarithmic (``on``) or linear; the image is redrawn."""
        if bool(on) == self._log:
            return
        self._log = bool(on)
        if self._shown is not None:
            self._draw()
        else:
            self._show_band(EMPTY_BAND_HZ)

    def log_frequency(self) -> bool:
        return self._log

    def _draw(self) -> None:
        db, duration, nyquist = self._shown
        if self._log:
            image = log_frequency_rows(db, nyquist)
            rect = QRectF(0.0, math.log10(LOG_MIN_HZ), duration, math.log10(nyquist) - math.log10(LOG_MIN_HZ))
        else:
            image, rect = db, QRectF(0.0, 0.0, duration, nyquist)
        self.image.setImage(image, autoLevels=False)
        self.image.setRect(rect)
        self._show_band(nyquist)
        self.image.setLevels(self._levels)

    def show_db(self, db: np.ndarray, duration: float, nyquist: float) -> None:
        """Show a computed spectrogram: ``db`` (F, T) over ``duration`` s and 0..``nyquist`` Hz."""
        self._shown = (db, float(duration), float(nyquist))
        self._draw()
        self.timeline.set_extent(self, duration)

    def set_audio(self, samples: np.ndarray, sample_rate: int) -> None:
        """Show the spectrogram of ``samples``: (N,) at ``sample_rate`` Hz.

        Levels become (loudest - DYNAMIC_RANGE_DB, loudest).
        """
        db, duration, nyquist = _SPECTROGRAMS.get(samples, sample_rate,
                                                  lambda: compute_spectrogram(samples, sample_rate))
        self._peak_db = float(db.max())
        self._levels = (self._peak_db - DYNAMIC_RANGE_DB, self._peak_db)
        self.show_db(db, duration, nyquist)

    def clear_audio(self) -> None:
        """Show nothing; the timeline forgets this view's extent."""
        self.image.clear()
        self._peak_db = None
        self._shown = None
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
        """The shown image: (F, T) dB, row 0 = 0 Hz (log display: (LOG_ROWS, T) from LOG_MIN_HZ); None when empty."""
        return self.image.image


class DifferenceSpectrogramView(SpectrogramView):
    """One signal's spectrogram minus another's, in dB, on a diverging colormap centred on 0.

    Red: the reconstruction has more energy than the original there; blue: less. Bins more
    than ``floor_db`` below the original's loudest bin are raised to that floor in both before
    subtracting, so silence does not read as huge differences.
    """

    def __init__(self, timeline: Timeline, title: str = "", parent=None) -> None:
        super().__init__(timeline, title, parent)
        self.image.setColorMap(pg.colormap.get(DIFF_COLORMAP))
        self._levels = (-DIFF_RANGE_DB, DIFF_RANGE_DB)

    def set_pair(self, reference: np.ndarray, other: np.ndarray, sample_rate: int,
                 floor_db: float = DYNAMIC_RANGE_DB) -> np.ndarray:
        """Show ``other`` minus ``reference`` (both (N,) at ``sample_rate``, cut to the shorter);
        returns the difference (F, T) in dB."""
        n = min(len(reference), len(other))
        if n == 0:
            raise ValueError("a difference spectrogram needs two non-empty signals")
        ref_db, duration, nyquist = _SPECTROGRAMS.get(reference, ("diff", sample_rate, n),
                                                      lambda: compute_spectrogram(reference[:n], sample_rate))
        other_db, _, _ = _SPECTROGRAMS.get(other, ("diff", sample_rate, n),
                                           lambda: compute_spectrogram(other[:n], sample_rate))
        floor = float(ref_db.max()) - floor_db
        difference = (np.maximum(other_db, floor) - np.maximum(ref_db, floor)).astype(np.float32)
        self._peak_db = float(np.abs(difference).max())
        self.show_db(difference, duration, nyquist)
        return difference

    def set_range(self, half_range_db: float) -> None:
        """Colour scale from ``-half_range_db`` (blue) to ``+half_range_db`` (red)."""
        self.set_levels(-abs(half_range_db), abs(half_range_db))
