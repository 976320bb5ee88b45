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
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFormLayout, QGridLayout, QHBoxLayout, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QSpinBox, QStackedWidget, QVBoxLayout,
                               QWidget)

from app.path_field import PathField
from app.player import ABPlayer
from xy_tokenizer.analysis.listening import REFERENCE, AbxScore, AbxSession, listening_stimuli

from .inputs import ORIGINAL, BlindClip, format_bitrate, new_session_folder, sessions_dir
from .playback import StimulusPlayer
from .widgets import TransportRow

DEFAULT_TRIALS = 16
MAX_TRIALS = 200
ALPHA = 0.05
JSON_NAME, CSV_NAME = "abx.json", "abx.csv"


def verdict(score: AbxScore, alpha: float = ALPHA) -> str:
    """Plain-language reading of a score."""
    if score.significant(alpha):
        return f"audible difference (p < {alpha:g})"
    return "no evidence of an audible difference"


class AbxDialog(QDialog):
    """Signals: ``trialAnswered(int index, str choice)``, ``saved(object folder)`` (a Path)."""

    trialAnswered = Signal(int, str)
    saved = Signal(object)

    def __init__(self, clip: BlindClip, parent: QWidget | None = None, *, folder: Path | None = None,
                 seed: int | None = None, rater: str = "", studio_player: ABPlayer | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"ABX test — {clip.name}")
        self.setObjectName("abxDialog")
        self.clip = clip
        self.seed = seed
        self.session: AbxSession | None = None
        self.index = 0
        self.folder: Path | None = None
        self.stimuli: dict[str, object] = {}
        self.player = StimulusPlayer(self, other=studio_player)
        self.pages = QStackedWidget()
        self.pages.addWidget(self._setup_page(folder, rater))
        self.pages.addWidget(self._trial_page())
        self.pages.addWidget(self._results_page())
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        self._make_actions()
        self.resize(620, 360)

    # pages -------------------------------------------------------------------------------
    def _choices(self) -> list[tuple[str, str]]:
        bitrates = self.clip.bitrates()
        items = [(ORIGINAL, "Original")]
        for label in self.clip.labels:
            rate = format_bitrate(bitrates[label])
            items.append((label, f"{label} ({rate})" if rate else label))
        return items

    def _setup_page(self, folder: Path | None, rater: str) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
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
        self.rater_edit = QLineEdit(rater)
        self.rater_edit.setObjectName("raterEdit")
        self.rater_edit.setPlaceholderText("name or initials (optional)")
        self.folder_field = PathField("folder")
        self.folder_field.set_text(str(folder or sessions_dir()))
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("startButton")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.setup_message = QLabel()
        self.setup_message.setStyleSheet("color: #b00020")
        for combo in (self.a_combo, self.b_combo):
            combo.currentIndexChanged.connect(self._check_choice)
        form.addRow("A:", self.a_combo)
        form.addRow("B:", self.b_combo)
        form.addRow("Trials:", self.trials_spin)
        form.addRow("", self.feedback_box)
        form.addRow("Rater:", self.rater_edit)
        form.addRow("Results folder:", self.folder_field)
        form.addRow(self.setup_message)
        form.addRow("", self.start_button)
        return page

    def _trial_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        intro = QLabel(f"<b>ABX</b> — <i>{self.clip.name}</i>: listen to A, B and X as often as you like, "
                       "then say whether X is A or B.")
        intro.setWordWrap(True)
        self.trial_label = QLabel()
        self.trial_label.setObjectName("trialLabel")
        self.progress = QProgressBar()
        self.progress.setObjectName("trialProgress")
        self.progress.setFormat("%v of %m answered")
        layout.addWidget(intro)
        layout.addWidget(self.trial_label)
        layout.addWidget(self.progress)
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
        self.transport = TransportRow(self.player)
        layout.addWidget(self.transport)
        self.player.currentChanged.connect(self._show_current)
        return page

    def _results_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
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
        self.saved_label = QLabel()
        self.saved_label.setObjectName("savedLabel")
        self.saved_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.saved_label.setWordWrap(True)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        for widget in (self.score_label, self.p_label, self.verdict_label, self.mapping_label, self.saved_label):
            layout.addWidget(widget)
        layout.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(close)
        layout.addLayout(row)
        return page

    def _make_actions(self) -> None:
        self.actions_by_key: dict[str, QAction] = {}
        bindings = [("A", lambda: self.play("A")), ("B", lambda: self.play("B")), ("X", lambda: self.play("X")),
                    ("Space", self.player.stop), ("1", lambda: self.answer("A")), ("2", lambda: self.answer("B"))]
        for key, slot in bindings:
            action = QAction(key, self)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.setEnabled(False)
            action.triggered.connect(slot)
            self.addAction(action)
            self.actions_by_key[key] = action

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
        self.progress.setRange(0, len(self.session.trials))
        self.pages.setCurrentIndex(1)
        for action in self.actions_by_key.values():
            action.setEnabled(True)
        self.transport.set_duration(len(self.stimuli["A"].audio) / self.stimuli["A"].rate)
        self._show_trial(0)

    def _show_trial(self, index: int) -> None:
        self.index = index
        x = self.session.trials[index].x
        audio = {"A": self.stimuli["A"].audio, "B": self.stimuli["B"].audio}
        audio["X"] = audio[x]
        self.player.set_stimuli(audio, self.stimuli["A"].rate)
        n = len(self.session.trials)
        self.trial_label.setText(f"Trial {index + 1} of {n}")
        self.progress.setValue(index)

    def play(self, key: str) -> None:
        """Play A, B or X of the current trial."""
        if self.session is None or self.pages.currentIndex() != 1:
            return
        self.player.play(key)

    def _show_current(self, key: str) -> None:
        for name, button in self.play_buttons.items():
            button.setChecked(name == key)

    def answer(self, choice: str) -> None:
        """Record "X is ``choice``" for the current trial; go on to the next or to the results."""
        if self.session is None or self.pages.currentIndex() != 1:
            return
        trial = self.session.answer(self.index, choice)
        self.trialAnswered.emit(self.index, choice)
        if self.feedback_box.isChecked():
            self.feedback_label.setText(f"Trial {self.index + 1}: " +
                                        ("correct" if trial.correct else f"wrong, X was {trial.x}"))
        following = self.session.next_index()
        if following is None:
            self.finish()
        else:
            self._show_trial(following)

    def finish(self) -> None:
        """Score, save, show the results."""
        self.player.stop()
        for action in self.actions_by_key.values():
            action.setEnabled(False)
        score = self.session.score()
        self.progress.setValue(len(self.session.trials))
        self.score_label.setText(f"{score.correct} of {score.answered} correct")
        self.p_label.setText(f"One-sided binomial p = {score.p_value:.4g} "
                             f"(the chance of doing at least this well by guessing)")
        self.verdict_label.setText(verdict(score).capitalize())
        names = dict(self._choices())
        self.mapping_label.setText(f"A was {names[self.session.a]}, B was {names[self.session.b]}.")
        try:
            self.folder = self.save(Path(self.folder_field.text()))
        except OSError as exc:
            self.saved_label.setText(f"Could not save the session: {exc}")
        else:
            self.saved_label.setText(f"Saved to {self.folder} ({JSON_NAME}, {CSV_NAME}; seed {self.session.seed})")
            self.saved.emit(self.folder)
        self.pages.setCurrentIndex(2)

    def save(self, parent: Path) -> Path:
        """Write the session to a new folder under ``parent``; returns that folder."""
        folder = new_session_folder(parent, "abx", self.clip.name)
        self.session.save_json(folder / JSON_NAME)
        self.session.write_csv(folder / CSV_NAME)
        return folder

    def done(self, result: int) -> None:
        self.player.stop()
        super().done(result)
