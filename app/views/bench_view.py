"""The comparison bench's views: the original and every codec's reconstruction stacked on one
time axis, a difference spectrogram, and the tokens of one codec in the form that suits it.

Every plot is on the studio's shared :class:`~app.views.timeline.Timeline` (one playhead, one
loop region) and x-linked to the others: zooming or panning one moves all. Per source (1: the
original, 2..: the codecs, in key order) a waveform and a spectrogram; all spectrograms share
one dB scale, set by the controls (top dB -- "auto" is the loudest bin of all -- and dynamic
range) and an optional log-frequency axis. The difference view shows a chosen codec's dB minus
the original's (diverging colours, +/- a chosen range). The token view adapts to the chosen
codec: an RVQ codec's levels x frames grid (:class:`~app.views.token_grid.TokenGridView`), an
FSQ codec's 8 base-4 digits per code plus the code
(:class:`~app.views.fsq_digits.FsqDigitView`); its title gives frame rate and bitrate.

Signals are the views' own; :meth:`BenchView.set_stimuli` takes what
:func:`xy_tokenizer.analysis.listening.listening_stimuli` made (all at one rate, aligned).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QScrollArea,
                               QVBoxLayout, QWidget)

from app.views.fsq_digits import FsqDigitView, fsq_digit_count
from app.views.spectrogram import DIFF_RANGE_DB, DYNAMIC_RANGE_DB, DifferenceSpectrogramView, SpectrogramView
from app.views.timeline import Timeline
from app.views.token_grid import TokenGridView
from app.views.waveform import WaveformView

#: Waveform colours: the original, then the codecs in turn.
SOURCE_COLORS = ("#339af0", "#f08c00", "#2f9e44", "#ae3ec9", "#e03131", "#1098ad", "#f59f00", "#7048e8", "#c2255c")
#: Heights (pixels) of a waveform, a spectrogram, the difference and the token rows.
WAVE_HEIGHT, SPEC_HEIGHT, DIFF_HEIGHT, TOKEN_HEIGHT = 50, 85, 85, 90
#: The top-dB spin box's lowest value means "auto" (the loudest bin).
AUTO_TOP = -200.0


def codec_caption(codec: Any) -> str:
    """``"700 bit/s, 12.5 frames/s"`` of a CodecDescription (what is known)."""
    parts = []
    if codec is not None and math.isfinite(getattr(codec, "bitrate", math.nan)):
        bitrate = codec.bitrate
        parts.append(f"{bitrate / 1000:g} kbit/s" if bitrate >= 1000 else f"{bitrate:g} bit/s")
    if codec is not None and math.isfinite(getattr(codec, "frame_rate", math.nan)):
        parts.append(f"{codec.frame_rate:g} frames/s")
    return ", ".join(parts)


class BenchView(QWidget):
    """Stacked views of the shown file's original and reconstructions (see the module docstring).

    Attributes after :meth:`set_stimuli`: ``waves`` and ``specs`` (label -> view; the original
    under ``"reference"``), ``difference`` and ``token_view`` (the view in use, or None).
    """

    def __init__(self, timeline: Timeline, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.timeline = timeline
        self.waves: dict[str, WaveformView] = {}
        self.specs: dict[str, SpectrogramView] = {}
        self.difference: DifferenceSpectrogramView | None = None
        self.token_view: TokenGridView | FsqDigitView | None = None
        self._stimuli: dict[str, Any] = {}
        self._codecs: dict[str, Any] = {}
        self._recs: dict[str, Any] = {}
        self._plots: list = []

        self.top_db = QDoubleSpinBox()
        self.top_db.setObjectName("topDb")
        self.top_db.setRange(AUTO_TOP, 40.0)
        self.top_db.setSingleStep(5.0)
        self.top_db.setSuffix(" dB")
        self.top_db.setSpecialValueText("auto")
        self.top_db.setValue(AUTO_TOP)
        self.top_db.setToolTip("Top of the spectrogram colour scale (auto: the loudest bin of all sources)")
        self.range_db = QDoubleSpinBox()
        self.range_db.setObjectName("rangeDb")
        self.range_db.setRange(10.0, 160.0)
        self.range_db.setSingleStep(10.0)
        self.range_db.setSuffix(" dB")
        self.range_db.setValue(DYNAMIC_RANGE_DB)
        self.range_db.setToolTip("Dynamic range of the spectrograms: the scale's bottom is top minus this")
        self.show_waves = QCheckBox("Waveforms")
        self.show_waves.setObjectName("showWaveforms")
        self.show_waves.setChecked(True)
        self.show_waves.setToolTip("Show a waveform above each spectrogram (off: more room for spectrograms)")
        self.log_freq = QCheckBox("Log frequency")
        self.log_freq.setObjectName("logFrequency")
        self.diff_codec = QComboBox()
        self.diff_codec.setObjectName("differenceCodec")
        self.diff_codec.setToolTip("Codec whose spectrogram minus the original's is shown (dB)")
        self.diff_range = QDoubleSpinBox()
        self.diff_range.setObjectName("differenceRange")
        self.diff_range.setRange(3.0, 80.0)
        self.diff_range.setValue(DIFF_RANGE_DB)
        self.diff_range.setPrefix("\u00b1")
        self.diff_range.setSuffix(" dB")
        self.token_codec = QComboBox()
        self.token_codec.setObjectName("tokenCodec")
        self.token_codec.setToolTip("Codec whose tokens are shown")
        for control in (self.top_db, self.range_db, self.log_freq, self.show_waves, self.diff_codec,
                        self.diff_range, self.token_codec):
            control.setFocusPolicy(Qt.FocusPolicy.ClickFocus)   # never take focus unasked: keys 1..9 stay with the window
        for combo in (self.diff_codec, self.token_codec):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
        controls = QVBoxLayout()                  # two short rows: the window stays narrow
        controls.setContentsMargins(4, 2, 4, 2)
        controls.setSpacing(2)
        for widgets in ((QLabel("Spectrogram top"), self.top_db, QLabel("range"), self.range_db, self.log_freq,
                         self.show_waves),
                        (QLabel("Difference"), self.diff_codec, self.diff_range, QLabel("Tokens"),
                         self.token_codec)):
            row = QHBoxLayout()
            for widget in widgets:
                row.addWidget(widget)
            row.addStretch(1)
            controls.addLayout(row)
        self.status = QLabel("Add codecs in the Codecs panel, select files and press Reconstruct with codecs (Ctrl+K).")
        self.status.setObjectName("benchStatus")
        self.status.setWordWrap(True)
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(0, 0, 0, 0)
        self.body_layout.setSpacing(2)
        self.body_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.body)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll = scroll
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addWidget(scroll, 1)

        self.top_db.valueChanged.connect(lambda _v: self._apply_levels())
        self.range_db.valueChanged.connect(lambda _v: self._apply_levels())
        self.log_freq.toggled.connect(self._apply_log)
        self.show_waves.toggled.connect(lambda on: [w.setVisible(on) for w in self.waves.values()])
        self.diff_codec.currentTextChanged.connect(lambda _t: self._show_difference())
        self.diff_range.valueChanged.connect(lambda v: self.difference is not None and self.difference.set_range(v))
        self.token_codec.currentTextChanged.connect(lambda _t: self._show_tokens())

    # content ---------------------------------------------------------------------------------
    def set_entry(self, entry: Any) -> None:
        """Show the per-codec status of a file's :class:`~app.comparison_model.ComparisonEntry` (None: none)."""
        if entry is None or not entry.reconstructions:
            self.status.setText("Not compared yet: select it and press Reconstruct with codecs (Ctrl+K).")
            return
        parts = []
        for label, rec in entry.reconstructions.items():
            text = f"{label}: {rec.status}"
            if rec.message:
                text += f" ({rec.message})"
            parts.append(text)
        self.status.setText(" \u2022 ".join(parts))

    def set_stimuli(self, stimuli: Mapping[str, Any], codecs: Mapping[str, Any],
                    reconstructions: Mapping[str, Any]) -> None:
        """Show ``stimuli`` (label -> Stimulus; ``"reference"`` first, the original), with each
        codec's description and :class:`~app.comparison_model.Reconstruction` (for its tokens)."""
        self._clear_plots()
        self._stimuli = dict(stimuli)
        self._codecs = dict(codecs)
        self._recs = dict(reconstructions)
        first = None
        for index, (label, stimulus) in enumerate(self._stimuli.items()):
            if label == "reference":
                title = "1 Original"
            else:
                caption = codec_caption(self._codecs.get(label))
                title = f"{index + 1} {label}" + (f" \u2014 {caption}" if caption else "")
            wave = WaveformView(self.timeline, title, color=SOURCE_COLORS[index % len(SOURCE_COLORS)])
            spec = SpectrogramView(self.timeline, title)
            spec.axis_name = "f"
            spec.set_log_frequency(self.log_freq.isChecked())
            wave.setMinimumHeight(WAVE_HEIGHT)
            spec.setMinimumHeight(SPEC_HEIGHT)
            wave.set_audio(stimulus.audio, stimulus.rate)
            spec.set_audio(stimulus.audio, stimulus.rate)
            self.waves[label], self.specs[label] = wave, spec
            for plot in (wave, spec):
                self._add_plot(plot, first)
                first = first or plot
            if not self.show_waves.isChecked():
                wave.hide()                       # only once in the layout: a parentless widget would become a window
        self.difference = DifferenceSpectrogramView(self.timeline, "Difference")
        self.difference.axis_name = "f"
        self.difference.setMinimumHeight(DIFF_HEIGHT)
        self.difference.set_log_frequency(self.log_freq.isChecked())
        self.difference.set_range(self.diff_range.value())
        self._add_plot(self.difference, first)
        self._fill_combo(self.diff_codec, [label for label in self._stimuli if label != "reference"])
        self._fill_combo(self.token_codec, [label for label, r in self._recs.items() if r.codes is not None])
        self._apply_levels()
        self._show_difference()
        self._show_tokens()
        self.status.setText(f"{len(self._stimuli) - 1} codec(s) stacked below; the numbered buttons under the "
                            "views (keys 1..9) switch what you hear.")

    def _fill_combo(self, combo: QComboBox, labels: list[str]) -> None:
        keep = combo.currentText()
        combo.blockSignals(True)
        combo.clear()
        combo.addItems(labels)
        if keep in labels:
            combo.setCurrentText(keep)
        combo.blockSignals(False)

    def _add_plot(self, plot, link_to) -> None:
        self.body_layout.insertWidget(self.body_layout.count() - 1, plot)
        if link_to is not None:
            plot.setXLink(link_to)
        self._plots.append(plot)
        self._label_time_axis()

    def _label_time_axis(self) -> None:
        """Time values and label on the bottom plot only (the others share its axis)."""
        for plot in self._plots:
            last = plot is self._plots[-1]
            axis = plot.getPlotItem().getAxis("bottom")
            axis.setStyle(showValues=last)
            axis.setHeight(None if last else 6)
            plot.getPlotItem().setLabel("bottom", "Time" if last else None, units="s" if last else None)

    def _clear_plots(self) -> None:
        for plot in self._plots:
            for clear in ("clear_audio", "clear_codes"):
                if hasattr(plot, clear):
                    getattr(plot, clear)()
            self.timeline.set_extent(plot, None)
            self.body_layout.removeWidget(plot)
            plot.setParent(None)
            plot.deleteLater()
        self._plots = []
        self.waves, self.specs = {}, {}
        self.difference = None
        self.token_view = None

    def clear(self) -> None:
        """Show nothing."""
        self._clear_plots()
        self._stimuli, self._codecs, self._recs = {}, {}, {}

    # controls ----------------------------------------------------------------------------------
    def levels(self) -> tuple[float, float] | None:
        """The spectrograms' colour scale ``(bottom, top)`` dB (None without spectrograms)."""
        peaks = [v.peak_db() for v in self.specs.values() if v.peak_db() is not None]
        if not peaks:
            return None
        top = max(peaks) if self.top_db.value() <= AUTO_TOP else self.top_db.value()
        return top - self.range_db.value(), top

    def _apply_levels(self) -> None:
        levels = self.levels()
        if levels is not None:
            for view in self.specs.values():
                view.set_levels(*levels)

    def _apply_log(self, on: bool) -> None:
        for view in [*self.specs.values(), *([self.difference] if self.difference is not None else [])]:
            view.set_log_frequency(on)

    def _show_difference(self) -> None:
        label = self.diff_codec.currentText()
        reference = self._stimuli.get("reference")
        if self.difference is None or reference is None or label not in self._stimuli:
            return
        other = self._stimuli[label]
        self.difference.set_title(f"Difference: {label} \u2212 original (dB; red louder, blue quieter)")
        self.difference.set_pair(reference.audio, other.audio, reference.rate)

    def _show_tokens(self) -> None:
        label = self.token_codec.currentText()
        if self.token_view is not None:
            view = self.token_view
            self.token_view = None
            view.clear_codes() if hasattr(view, "clear_codes") else None
            self.timeline.set_extent(view, None)
            self.body_layout.removeWidget(view)
            self._plots.remove(view)
            view.setParent(None)
            view.deleteLater()
            self._label_time_axis()
        rec = self._recs.get(label)
        if rec is None or rec.codes is None:
            return
        codec = rec.codec
        codes = np.asarray(rec.codes)
        caption = codec_caption(codec)
        fsq = rec.quantizer == "fsq" and codes.shape[0] == 1 and fsq_digit_count(codec.codebook_size) is not None
        if fsq:
            view = FsqDigitView(self.timeline, f"{label} tokens (FSQ digits) \u2014 {caption}")
            view.set_codes(codes, codec.frame_rate, codec.codebook_size)
        else:
            view = TokenGridView(self.timeline, f"{label} tokens ({codes.shape[0]} levels) \u2014 {caption}")
            view.set_codes(codes, codec.frame_rate, codec.codebook_size)
        view.setMinimumHeight(TOKEN_HEIGHT)
        self._add_plot(view, self._plots[0] if self._plots else None)
        self.token_view = view
