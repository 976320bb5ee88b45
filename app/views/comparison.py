"""Original against reconstruction: waveforms, spectrograms and tokens on one time axis.

All five plots share one :class:`Timeline` (one playhead, one loop region) and are x-linked,
so zooming or panning any of them moves all. Both spectrograms use one colour scale.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from app.views.spectrogram import DYNAMIC_RANGE_DB, SpectrogramView
from app.views.timeline import Timeline
from app.views.token_grid import TokenGridView
from app.views.waveform import WaveformView

#: Waveform colours that read on light and dark backgrounds.
ORIGINAL_COLOR = "#339af0"
RECONSTRUCTION_COLOR = "#f08c00"
#: Relative heights of waveform, spectrogram and token rows.
STRETCH = {"waveform": 2, "spectrogram": 3, "tokens": 2}


class ComparisonView(QWidget):
    """Stacked views of one file: original and reconstruction, then the token grid.

    Attributes: ``timeline`` (shared), ``original_wave``, ``reconstruction_wave``,
    ``original_spec``, ``reconstruction_spec``, ``tokens`` and ``plots`` (all five, top to
    bottom).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.timeline = Timeline(self)
        self.original_wave = WaveformView(self.timeline, "Original", color=ORIGINAL_COLOR)
        self.reconstruction_wave = WaveformView(self.timeline, "Reconstruction",
                                                color=RECONSTRUCTION_COLOR)
        self.original_spec = SpectrogramView(self.timeline, "Original")
        self.reconstruction_spec = SpectrogramView(self.timeline, "Reconstruction")
        self.tokens = TokenGridView(self.timeline)
        self.plots = [self.original_wave, self.reconstruction_wave, self.original_spec,
                      self.reconstruction_spec, self.tokens]
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.setChildrenCollapsible(False)
        kinds = ["waveform", "waveform", "spectrogram", "spectrogram", "tokens"]
        for index, (plot, kind) in enumerate(zip(self.plots, kinds)):
            splitter.addWidget(plot)
            splitter.setStretchFactor(index, STRETCH[kind])
            plot.setMinimumHeight(60)
            if plot is not self.tokens:
                plot.setXLink(self.tokens)
                plot.getPlotItem().getAxis("bottom").setStyle(showValues=False)
        self.tokens.getPlotItem().setLabel("bottom", "Time", units="s")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def set_original(self, samples: np.ndarray, sr: int) -> None:
        """Show the original: samples (N,) at ``sr`` Hz."""
        self.original_wave.set_audio(samples, sr)
        self.original_spec.set_audio(samples, sr)
        self._share_levels()

    def set_reconstruction(self, samples: np.ndarray, sr: int, label: str = "Reconstruction") -> None:
        """Show the reconstruction: samples (N,) at ``sr`` Hz, titled ``label``."""
        self.reconstruction_wave.set_title(label)
        self.reconstruction_spec.set_title(label)
        self.reconstruction_wave.set_audio(samples, sr)
        self.reconstruction_spec.set_audio(samples, sr)
        self._share_levels()

    def set_codes(self, codes: np.ndarray, frame_rate: float, codebook_size: int) -> None:
        """Show the token grid: codes (k, T) in [0, codebook_size) at ``frame_rate`` frames per second."""
        self.tokens.set_codes(codes, frame_rate, codebook_size)

    def clear(self) -> None:
        """Empty every view; the timeline's duration returns to 0."""
        for view in (self.original_wave, self.reconstruction_wave,
                     self.original_spec, self.reconstruction_spec):
            view.clear_audio()
        self.tokens.clear_codes()
        self.timeline.set_region(None)
        self.timeline.set_position(0.0)

    def _share_levels(self) -> None:
        """Once both spectrograms are shown: common levels (loudest - range, loudest)."""
        peaks = [self.original_spec.peak_db(), self.reconstruction_spec.peak_db()]
        if None in peaks:
            return
        top = max(peaks)
        for view in (self.original_spec, self.reconstruction_spec):
            view.set_levels(top - DYNAMIC_RANGE_DB, top)
