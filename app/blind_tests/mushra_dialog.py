"""The MUSHRA screen (ITU-R BS.1534-style): rate each codec against the original, 0..100.

Per trial (one clip): a labelled reference (button or key R) and one unlabelled slider per
condition: the hidden reference, the 3.5 kHz low-pass anchor and each codec, in an order drawn
per trial from the session's seed. Slider titles are numbers only; which condition sits where
is written only to the saved session. Each slider has a play button (keys 1..9 play a
stimulus and give its slider the keyboard: Up/Down, PageUp/PageDown rate it); Space stops.
"Next trial" is enabled once every slider has been rated (moved, clicked, or a rating key
pressed on it: Home on a slider at 0 rates it 0); playing a stimulus does not rate it. Several clips
(the studio's selected files) are several trials, in a seeded random order.

Results: mean, 95 % CI and n per condition, the bitrate of each codec, and BS.1534-3
post-screening (hidden reference rated below 90 in more than 15 % of the trials); saved as
``mushra.json``, ``mushra.csv`` and ``summary.csv`` in a new folder under the results folder.
Stimuli: :func:`~xy_tokenizer.analysis.listening.mushra_stimuli` (one rate, codec delay removed,
loudness matched by BS.1770, anchor made from the original).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFormLayout, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox,
                               QVBoxLayout, QWidget)

from app.player import ABPlayer
from xy_tokenizer.analysis.listening import (REFERENCE, RATING_MAX, RATING_MIN, MushraSession, Stimulus,
                                             mushra_stimuli, summarize_mushra, write_mushra_summary_csv)
from xy_tokenizer.errors import XYTokenizerError

from .base import TRIAL_PAGE, BlindTestDialog
from .inputs import BlindClip, common_labels, format_bitrate
from .widgets import ConditionTable

#: The five MUSHRA quality bands, top to bottom, each 20 points wide.
BANDS = ("Excellent", "Good", "Fair", "Poor", "Bad")
BAND_WIDTH = 20
#: Key of the labelled reference in the stimulus player.
REFERENCE_KEY = "R"
MAX_REPEATS = 10
#: Keys 1..9 play the first nine sliders.
MAX_KEYED = 9
JSON_NAME, CSV_NAME, SUMMARY_NAME = "mushra.json", "mushra.csv", "summary.csv"


class BandScale(QWidget):
    """The five band labels beside the sliders (Excellent at the top, Bad at the bottom)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.setSpacing(0)
        for i, band in enumerate(BANDS):
            top = RATING_MAX - i * BAND_WIDTH
            label = QLabel(f"{band}\n{top - BAND_WIDTH:.0f}–{top:.0f}")
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            label.setObjectName(f"band{band}")
            label.setStyleSheet("border-top: 1px solid #999; padding-right: 4px")
            layout.addWidget(label, 1)


class MushraDialog(BlindTestDialog):
    """Signals: ``trialShown(int index)``, ``saved(object folder)`` (a Path)."""

    trialShown = Signal(int)
    saved = Signal(object)
    RATER_HINT = "name or initials (post-screening is per rater)"
    SESSION_FILES = (JSON_NAME, CSV_NAME, SUMMARY_NAME)

    def __init__(self, clips: Sequence[BlindClip], parent: QWidget | None = None, *, folder: Path | None = None,
                 seed: int | None = None, rater: str = "", studio_player: ABPlayer | None = None) -> None:
        super().__init__(parent, seed=seed, studio_player=studio_player)
        self.setObjectName("mushraDialog")
        self.clips = {clip.name: clip for clip in clips}
        self.codecs = common_labels(list(clips))
        self.setWindowTitle("MUSHRA test — " + (clips[0].name if len(clips) == 1 else f"{len(clips)} clips"))
        self.session: MushraSession | None = None
        self._stimuli: dict[str, dict[str, Stimulus]] = {}
        self.sliders: list[QSlider] = []
        self.titles: list[QLabel] = []
        self.value_labels: list[QLabel] = []
        self.play_buttons: list[QPushButton] = []
        self.touched: list[bool] = []
        self._assemble(folder, rater, 760, 520)

    # pages -------------------------------------------------------------------------------
    def _fill_setup(self, form: QFormLayout) -> None:
        form.addRow(QLabel("<b>MUSHRA test</b>: rate how close each stimulus is to the reference, 0..100.<br>"
                           "Each trial hides the reference and a 3.5 kHz low-pass anchor among the codecs."))
        names = list(self.clips)
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        form.addRow("Clips:", QLabel(shown))
        bitrates = next(iter(self.clips.values())).bitrates() if self.clips else {}
        codec_text = ", ".join(f"{c} ({format_bitrate(bitrates[c])})" if format_bitrate(bitrates[c]) else c
                               for c in self.codecs)
        codecs_label = QLabel(codec_text)
        codecs_label.setWordWrap(True)
        form.addRow("Codecs:", codecs_label)
        self.repeats_spin = QSpinBox()
        self.repeats_spin.setObjectName("repeatsSpin")
        self.repeats_spin.setRange(1, MAX_REPEATS)
        self.repeats_spin.setToolTip("How many times each clip is rated (each time in a new order)")
        self.setup_message.setObjectName("setupMessage")
        self.setup_message.setWordWrap(True)
        if not self.codecs:
            self.setup_message.setText("No codec reconstructed every clip: reconstruct the selected files "
                                       "with the same codecs first.")
            self.start_button.setEnabled(False)
        form.addRow("Repeats:", self.repeats_spin)

    def _fill_trial(self, layout: QVBoxLayout) -> None:
        hint = QLabel("Rate each numbered stimulus against the Reference (100 = cannot tell them apart). "
                      "Keys: R reference, 1..9 play a stimulus and select its slider, Up/Down/PageUp/PageDown "
                      "rate it, Space stops.")
        hint.setObjectName("hintLabel")
        self._add_trial_header(layout, hint, "%v of %m trials rated")
        top = QHBoxLayout()
        self.reference_button = QPushButton("Reference  (R)")
        self.reference_button.setObjectName("referenceButton")
        self.reference_button.setCheckable(True)
        self.reference_button.setMinimumHeight(40)
        self.reference_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.reference_button.clicked.connect(lambda: self.play_reference())
        top.addWidget(self.reference_button)
        top.addStretch(1)
        self.rated_label = QLabel()
        self.rated_label.setObjectName("ratedLabel")
        top.addWidget(self.rated_label)
        self.next_button = QPushButton("Next trial")
        self.next_button.setObjectName("nextButton")
        self.next_button.setMinimumHeight(40)
        self.next_button.clicked.connect(self.next_trial)
        top.addWidget(self.next_button)
        layout.addLayout(top)
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(14)
        self.grid.addWidget(BandScale(), 1, 0)
        layout.addLayout(self.grid, 1)

    def _fill_results(self, layout: QVBoxLayout) -> None:
        self.results_title = QLabel("<b>Ratings of this session</b> (mean, 95 % confidence interval, n)")
        self.table = ConditionTable()
        self.table.setObjectName("conditionTable")
        self.screening_label = QLabel()
        self.screening_label.setObjectName("screeningLabel")
        self.screening_label.setWordWrap(True)
        for widget in (self.results_title, self.table, self.screening_label, self._make_saved_label()):
            layout.addWidget(widget)

    def _key_bindings(self) -> list:
        bindings = [(REFERENCE_KEY, self.play_reference), ("Space", self.player.stop)]
        bindings += [(str(n), lambda _=False, n=n: self.select_slider(n - 1)) for n in range(1, MAX_KEYED + 1)]
        return bindings

    def _build_sliders(self, count: int) -> None:
        for position in range(count):
            title = QLabel(str(position + 1))
            title.setObjectName(f"sliderTitle{position + 1}")
            title.setAlignment(Qt.AlignmentFlag.AlignCenter)
            font = title.font()
            font.setBold(True)
            title.setFont(font)
            slider = QSlider(Qt.Orientation.Vertical)
            slider.setObjectName(f"slider{position + 1}")
            slider.setRange(int(RATING_MIN), int(RATING_MAX))
            slider.setSingleStep(1)
            slider.setPageStep(10)
            slider.setTickInterval(BAND_WIDTH)
            slider.setTickPosition(QSlider.TickPosition.TicksBothSides)
            slider.setMinimumHeight(240)
            key_hint = f"press {position + 1} to play it, " if position < MAX_KEYED else ""
            slider.setToolTip(f"Stimulus {position + 1}: {key_hint}Up/Down or PageUp/PageDown to rate")
            # Rated: moved (mouse, keys or a script's setValue), clicked, or a key action at an end
            # (Home at 0 changes nothing yet rates it 0).
            slider.valueChanged.connect(lambda _v, p=position: self._touch(p))
            slider.actionTriggered.connect(lambda _a, p=position: self._touch(p))
            slider.sliderPressed.connect(lambda p=position: self._touch(p))
            value = QLabel()
            value.setObjectName(f"sliderValue{position + 1}")
            value.setAlignment(Qt.AlignmentFlag.AlignCenter)
            play = QPushButton(f"Play  ({position + 1})" if position < MAX_KEYED else "Play")
            play.setObjectName(f"playButton{position + 1}")
            play.setCheckable(True)
            play.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            play.clicked.connect(lambda _=False, p=position: self.select_slider(p))
            column = position + 1
            self.grid.addWidget(title, 0, column, Qt.AlignmentFlag.AlignHCenter)
            self.grid.addWidget(slider, 1, column, Qt.AlignmentFlag.AlignHCenter)
            self.grid.addWidget(value, 2, column, Qt.AlignmentFlag.AlignHCenter)
            self.grid.addWidget(play, 3, column)
            self.titles.append(title)
            self.sliders.append(slider)
            self.value_labels.append(value)
            self.play_buttons.append(play)

    # flow --------------------------------------------------------------------------------
    def start(self) -> None:
        """Plan the session (seeded), build one slider per condition and show trial 1."""
        bitrates = next(iter(self.clips.values())).bitrates()
        facts = {label: {"bitrate": bitrates[label]} if math.isfinite(bitrates[label]) else {}
                 for label in self.codecs}
        self.session = MushraSession.plan(list(self.clips), facts, repeats=self.repeats_spin.value(),
                                          seed=self.seed, rater=self.rater_edit.text().strip())
        self._build_sliders(len(self.session.conditions))
        self._begin_trials()
        self._show_trial(0)

    def stimuli(self, clip: str) -> dict[str, Stimulus]:
        """The stimuli of ``clip`` (made once): condition -> :class:`Stimulus`."""
        if clip not in self._stimuli:
            source = self.clips[clip]
            original, rate = source.original
            others = {label: pair for label, pair in source.others().items() if label in self.codecs}
            self._stimuli[clip] = mushra_stimuli(original, rate, others)
        return self._stimuli[clip]

    def _show_trial(self, index: int) -> None:
        self.index = index
        trial = self.session.trials[index]
        try:
            stimuli = self.stimuli(trial.clip)
        except (XYTokenizerError, ValueError) as exc:
            self.transport.message.setText(f"{trial.clip}: cannot make the stimuli ({exc})")
            stimuli = None
        if stimuli is not None:
            audio = {REFERENCE_KEY: stimuli[REFERENCE].audio}
            for position, condition in enumerate(trial.order):
                samples = stimuli[condition].audio
                # The hidden reference is a copy: the player finds a stimulus already loaded by
                # identity, which must not tell it apart from the labelled reference.
                audio[str(position + 1)] = samples.copy() if condition == REFERENCE else samples
            self.player.set_stimuli(audio, stimuli[REFERENCE].rate)
            self.transport.set_duration(len(stimuli[REFERENCE].audio) / stimuli[REFERENCE].rate)
        self.touched = [False] * len(self.sliders)
        for position, slider in enumerate(self.sliders):
            slider.blockSignals(True)
            slider.setValue(int(RATING_MIN))
            slider.blockSignals(False)
            self.value_labels[position].setText("–")
        n = len(self.session.trials)
        self._show_progress(index, f"Trial {index + 1} of {n} — {trial.clip}")
        self.next_button.setText("Finish" if index == n - 1 else "Next trial")
        self._update_next()
        self.trialShown.emit(index)

    def _touch(self, position: int) -> None:
        self.touched[position] = True
        self.value_labels[position].setText(str(self.sliders[position].value()))
        self._update_next()

    def _update_next(self) -> None:
        rated = sum(self.touched)
        self.rated_label.setText(f"{rated} of {len(self.sliders)} rated")
        self.next_button.setEnabled(bool(self.touched) and all(self.touched))

    def play_reference(self) -> None:
        if self.pages.currentIndex() == TRIAL_PAGE and REFERENCE_KEY in self.player.keys():
            self.player.play(REFERENCE_KEY)

    def select_slider(self, position: int) -> None:
        """Play stimulus ``position`` (0-based) and give its slider the keyboard."""
        if self.pages.currentIndex() != TRIAL_PAGE or not 0 <= position < len(self.sliders):
            return
        if str(position + 1) in self.player.keys():
            self.player.play(str(position + 1))
        self.sliders[position].setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _show_current(self, key: str) -> None:
        self.reference_button.setChecked(key == REFERENCE_KEY)
        for position, button in enumerate(self.play_buttons):
            button.setChecked(key == str(position + 1))

    def ratings(self) -> list[float]:
        """The sliders' values in presentation order."""
        return [float(slider.value()) for slider in self.sliders]

    def next_trial(self) -> None:
        """Record the sliders for this trial; show the next one or the results."""
        if self.session is None or not all(self.touched):
            return
        self.session.rate_positions(self.index, self.ratings())
        self._advance()

    def finish(self) -> None:
        """Summarise, save, show the results."""
        self._stop_trials()
        session = self.session
        bitrates = {label: facts.get("bitrate", math.nan) for label, facts in session.codecs.items()}
        self.table.show_stats(session.summary(), bitrates)
        screening = session.screening()
        text = (f"Post-screening (BS.1534-3): hidden reference rated below 90 in {screening.low} of "
                f"{screening.trials} trials ({screening.fraction:.0%}).")
        if screening.excluded:
            text += " This rater would be excluded from pooled results (more than 15 %)."
            self.screening_label.setStyleSheet("color: #b00020")
        self.screening_label.setText(text)
        self._save_and_show_results()

    def save(self, parent: Path) -> Path:
        """Write the session and its summary to a new folder under ``parent``; returns that folder."""
        name = next(iter(self.clips)) if len(self.clips) == 1 else f"{len(self.clips)}-clips"
        folder = self._write_session(parent, "mushra", name)
        write_mushra_summary_csv(summarize_mushra([self.session], screen=False), folder / SUMMARY_NAME)
        return folder

