"""The ABX screen: is there an audible difference between A and B?

Setup: A and B (the original or any codec's reconstruction; default: the original against the
first codec), the number of trials (default :data:`DEFAULT_TRIALS`), whether to show the
answer after each trial (off by default: no feedback until the end), the rater's name and the
results folder. Trials: play A, B and X (buttons or keys A, B, X; Space stops), answer "X is A"
or "X is B" (buttons or keys 1, 2). Results: correct of n, the one-sided binomial p-value and a
plain-language verdict; the session (with its seed) is saved as ``abx.json`` and ``abx.csv``
in a new folder under the results folder.

The stimuli are :func:`~xy_tokenizer.analysis.listening.listening_stimuli` of the clip: one
rate, each codec's delay removed, loudness matched to the original (ITU-R BS.1770). Playback:
see :mod:`app.blind_tests.playback` (with a loop region switching keeps the position, else
each stimulus starts at 0).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGridLayout, QLabel, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from app.player import ABPlayer
from xy_tokenizer.analysis.listening import REFERENCE, AbxScore, AbxSession, listening_stimuli

from .base import TRIAL_PAGE, BlindTestDialog
from .inputs import ORIGINAL, BlindClip, format_bitrate

DEFAULT_TRIALS = 16
MAX_TRIALS = 200
ALPHA = 0.05
JSON_NAME, CSV_NAME = "abx.json", "abx.csv"


def verdict(score: AbxScore, alpha: float = ALPHA) -> str:
    """Plain-language reading of a score."""
    if score.significant(alpha):
        return f"audible difference (p < {alpha:g})"
    return "no evidence of an audible difference"


class AbxDialog(BlindTestDialog):
    """Signals: ``trialAnswered(int index, str choice)``, ``saved(object folder)`` (a Path)."""

    trialAnswered = Signal(int, str)
    saved = Signal(object)
    RATER_HINT = "name or initials (optional)"
    SESSION_FILES = (JSON_NAME, CSV_NAME)

    def __init__(self, clip: BlindClip, parent: QWidget | None = None, *, folder: Path | None = None,
                 seed: int | None = None, rater: str = "", studio_player: ABPlayer | None = None) -> None:
        super().__init__(parent, seed=seed, studio_player=studio_player)
        self.setWindowTitle(f"ABX test — {clip.name}")
        self.setObjectName("abxDialog")
        self.clip = clip
        self.session: AbxSession | None = None
        self.stimuli: dict[str, object] = {}
        self._assemble(folder, rater, 620, 360)

    # pages -------------------------------------------------------------------------------
    def _choices(self) -> list[tuple[str, str]]:
        bitrates = self.clip.bitrates()
        items = [(ORIGINAL, "Original")]
        for label in self.clip.labels:
            rate = format_bitrate(bitrates[label])
            items.append((label, f"{label} ({rate})" if rate else label))
        return items

    def _fill_setup(self, form: QFormLayout) -> None:
        form.addRow(QLabel(f"<b>ABX test</b> on <i>{self.clip.name}</i>: is X the same as A or as B?"))
        self.a_combo, self.b_combo = QComboBox(), QComboBox()
        for combo in (self.a_combo, self.b_combo):
            for label, text in self._choices():
                combo.addItem(text, label)
        self.a_combo.setObjectName("aCombo")
        self.b_combo.setObjectName("bCombo")
        self.b_combo.setCurrentIndex(1)
        self.trials_spin = QSpinBox()
        self.trials_spin.setObjectName("trialsSpin")
        self.trials_spin.setRange(1, MAX_TRIALS)
        self.trials_spin.setValue(DEFAULT_TRIALS)
        self.feedback_box = QCheckBox("Show the answer after each trial")
        self.feedback_box.setObjectName("feedbackBox")
        for combo in (self.a_combo, self.b_combo):
            combo.currentIndexChanged.connect(self._check_choice)
        form.addRow("A:", self.a_combo)
        form.addRow("B:", self.b_combo)
        form.addRow("Trials:", self.trials_spin)
        form.addRow("", self.feedback_box)

    def _fill_trial(self, layout: QVBoxLayout) -> None:
        intro = QLabel(f"<b>ABX</b> — <i>{self.clip.name}</i>: listen to A, B and X as often as you like, "
                       "then say whether X is A or B.")
        self._add_trial_header(layout, intro, "%v of %m answered")
        grid = QGridLayout()
        self.play_buttons: dict[str, QPushButton] = {}
        for column, key in enumerate(("A", "B", "X")):
            button = QPushButton(f"Play {key}  ({key})")
            button.setObjectName(f"play{key}Button")
            button.setCheckable(True)
            button.setMinimumHeight(48)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, k=key: self.play(k))
            grid.addWidget(button, 0, column)
            self.play_buttons[key] = button
        self.answer_buttons: dict[str, QPushButton] = {}
        for column, (choice, key) in enumerate((("A", "1"), ("B", "2"))):
            button = QPushButton(f"X is {choice}  ({key})")
            button.setObjectName(f"answer{choice}Button")
            button.setMinimumHeight(40)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, c=choice: self.answer(c))
            grid.addWidget(button, 1, column if column == 0 else 1)
            self.answer_buttons[choice] = button
        layout.addLayout(grid)
        self.feedback_label = QLabel()
        self.feedback_label.setObjectName("feedbackLabel")
        layout.addWidget(self.feedback_label)
        layout.addStretch(1)

    def _fill_results(self, layout: QVBoxLayout) -> None:
        self.score_label = QLabel()
        self.score_label.setObjectName("scoreLabel")
        font = self.score_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        self.score_label.setFont(font)
        self.p_label = QLabel()
        self.p_label.setObjectName("pLabel")
        self.verdict_label = QLabel()
        self.verdict_label.setObjectName("verdictLabel")
        self.verdict_label.setFont(font)
        self.mapping_label = QLabel()
        self.mapping_label.setObjectName("mappingLabel")
        for widget in (self.score_label, self.p_label, self.verdict_label, self.mapping_label,
                       self._make_saved_label()):
            layout.addWidget(widget)
        layout.addStretch(1)

    def _key_bindings(self) -> list:
        return [("A", lambda: self.play("A")), ("B", lambda: self.play("B")), ("X", lambda: self.play("X")),
                ("Space", self.player.stop), ("1", lambda: self.answer("A")), ("2", lambda: self.answer("B"))]

    # flow --------------------------------------------------------------------------------
    def _check_choice(self) -> bool:
        same = self.a_combo.currentData() == self.b_combo.currentData()
        self.setup_message.setText("A and B are the same; choose two different stimuli." if same else "")
        self.start_button.setEnabled(not same)
        return not same

    def start(self) -> None:
        """Plan the trials with the chosen A, B and count, make the stimuli, show trial 1."""
        if not self._check_choice():
            return
        a, b = self.a_combo.currentData(), self.b_combo.currentData()
        original, rate = self.clip.original
        others = {label: pair for label, pair in self.clip.others().items() if label in (a, b)}
        stimuli = listening_stimuli(original, rate, others)
        key_of = {ORIGINAL: REFERENCE}
        self.stimuli = {"A": stimuli[key_of.get(a, a)], "B": stimuli[key_of.get(b, b)]}
        self.session = AbxSession.plan(a, b, self.trials_spin.value(), seed=self.seed, clip=self.clip.name,
                                       rater=self.rater_edit.text().strip())
        self._begin_trials()
        self.transport.set_duration(len(self.stimuli["A"].audio) / self.stimuli["A"].rate)
        self._show_trial(0)

    def _show_trial(self, index: int) -> None:
        self.index = index
        x = self.session.trials[index].x
        audio = {"A": self.stimuli["A"].audio, "B": self.stimuli["B"].audio}
        audio["X"] = audio[x]
        self.player.set_stimuli(audio, self.stimuli["A"].rate)
        self._show_progress(index, f"Trial {index + 1} of {len(self.session.trials)}")

    def play(self, key: str) -> None:
        """Play A, B or X of the current trial."""
        if self.session is None or self.pages.currentIndex() != TRIAL_PAGE:
            return
        self.player.play(key)

    def _show_current(self, key: str) -> None:
        for name, button in self.play_buttons.items():
            button.setChecked(name == key)

    def answer(self, choice: str) -> None:
        """Record "X is ``choice``" for the current trial; go on to the next or to the results."""
        if self.session is None or self.pages.currentIndex() != TRIAL_PAGE:
            return
        trial = self.session.answer(self.index, choice)
        self.trialAnswered.emit(self.index, choice)
        if self.feedback_box.isChecked():
            self.feedback_label.setText(f"Trial {self.index + 1}: " +
                                        ("correct" if trial.correct else f"wrong, X was {trial.x}"))
        self._advance()

    def finish(self) -> None:
        """Score, save, show the results."""
        self._stop_trials()
        score = self.session.score()
        self.progress.setValue(len(self.session.trials))
        self.score_label.setText(f"{score.correct} of {score.answered} correct")
        self.p_label.setText(f"One-sided binomial p = {score.p_value:.4g} "
                             f"(the chance of doing at least this well by guessing)")
        self.verdict_label.setText(verdict(score).capitalize())
        names = dict(self._choices())
        self.mapping_label.setText(f"A was {names[self.session.a]}, B was {names[self.session.b]}.")
        self._save_and_show_results()

    def save(self, parent: Path) -> Path:
        """Write the session to a new folder under ``parent``; returns that folder."""
        return self._write_session(parent, "abx", self.clip.name)
