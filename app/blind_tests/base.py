"""What the ABX and MUSHRA screens share: a three-page dialog (setup, trials, results) with a
stimulus player, window-wide key actions that are live only during the trials, the common
setup fields (rater, results folder, start), the trial header (label and progress), and saving
the session to a new folder under the results folder."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton,
                               QStackedWidget, QVBoxLayout, QWidget)

from app.path_field import PathField
from app.player import ABPlayer

from .inputs import new_session_folder, sessions_dir
from .playback import StimulusPlayer
from .widgets import TransportRow

#: Indexes of the three pages in ``pages``.
SETUP_PAGE, TRIAL_PAGE, RESULTS_PAGE = 0, 1, 2
ERROR_STYLE = "color: #b00020"


class BlindTestDialog(QDialog):
    """Base of the blind-test screens.

    A subclass sets up its own state, then calls :meth:`_assemble`. It fills the pages between
    the shared parts (``_fill_setup(form)`` above the rater/folder/Start rows, ``_fill_trial(layout)``
    above the transport row, ``_fill_results(layout)`` above the Close button), and implements
    ``_key_bindings()`` (a list of ``(key, slot)``), ``start()``, ``_show_trial(index)``,
    ``_show_current(key)``, ``finish()`` and ``save(parent)``. It defines the ``saved(object)``
    signal, the rater field's ``RATER_HINT``, and names its saved files in ``SESSION_FILES``
    (the session's JSON and CSV first).
    """

    RATER_HINT = ""
    SESSION_FILES: tuple[str, ...] = ()

    def __init__(self, parent: QWidget | None, *, seed: int | None, studio_player: ABPlayer | None) -> None:
        super().__init__(parent)
        self.seed = seed
        self.session = None
        self.index = 0
        self.folder: Path | None = None
        self.player = StimulusPlayer(self, other=studio_player)

    def _assemble(self, folder: Path | None, rater: str, width: int, height: int) -> None:
        """Build the three pages, the key actions and the window size."""
        self.pages = QStackedWidget()
        self.pages.addWidget(self._setup_page(folder, rater))
        self.pages.addWidget(self._trial_page())
        self.pages.addWidget(self._results_page())
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        self._make_actions()
        self.resize(width, height)

    # pages -------------------------------------------------------------------------------
    def _setup_page(self, folder: Path | None, rater: str) -> QWidget:
        """The subclass's rows, then the rater's name, the results folder, a message line, Start."""
        page = QWidget()
        form = QFormLayout(page)
        self.rater_edit = QLineEdit(rater)
        self.rater_edit.setObjectName("raterEdit")
        self.rater_edit.setPlaceholderText(self.RATER_HINT)
        self.folder_field = PathField("folder")
        self.folder_field.set_text(str(folder or sessions_dir()))
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("startButton")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.setup_message = QLabel()
        self.setup_message.setStyleSheet(ERROR_STYLE)
        self._fill_setup(form)
        form.addRow("Rater:", self.rater_edit)
        form.addRow("Results folder:", self.folder_field)
        form.addRow(self.setup_message)
        form.addRow("", self.start_button)
        return page

    def _trial_page(self) -> QWidget:
        """The subclass's part, then the transport row; play buttons follow the player."""
        page = QWidget()
        layout = QVBoxLayout(page)
        self._fill_trial(layout)
        self.transport = TransportRow(self.player)
        layout.addWidget(self.transport)
        self.player.currentChanged.connect(self._show_current)
        return page

    def _results_page(self) -> QWidget:
        """The subclass's part, then a right-aligned Close button."""
        page = QWidget()
        layout = QVBoxLayout(page)
        self._fill_results(layout)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(close)
        layout.addLayout(row)
        return page

    def _add_trial_header(self, layout: QVBoxLayout, intro: QLabel, progress_format: str) -> None:
        """``intro`` (word-wrapped), the "Trial i of n" label and the progress bar
        (``progress_format``: a QProgressBar format)."""
        intro.setWordWrap(True)
        self.trial_label = QLabel()
        self.trial_label.setObjectName("trialLabel")
        self.progress = QProgressBar()
        self.progress.setObjectName("trialProgress")
        self.progress.setFormat(progress_format)
        for widget in (intro, self.trial_label, self.progress):
            layout.addWidget(widget)

    def _make_saved_label(self) -> QLabel:
        """The selectable "Saved to ..." line of the results page."""
        self.saved_label = QLabel()
        self.saved_label.setObjectName("savedLabel")
        self.saved_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.saved_label.setWordWrap(True)
        return self.saved_label

    def _make_actions(self) -> None:
        """One disabled window-wide action per ``(key, slot)`` of the subclass's ``_key_bindings()``."""
        self.actions_by_key: dict[str, QAction] = {}
        for key, slot in self._key_bindings():
            action = QAction(key, self)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.setEnabled(False)
            action.triggered.connect(slot)
            self.addAction(action)
            self.actions_by_key[key] = action

    def _set_keys_enabled(self, enabled: bool) -> None:
        for action in self.actions_by_key.values():
            action.setEnabled(enabled)

    # flow --------------------------------------------------------------------------------
    def _begin_trials(self) -> None:
        """After the session is planned: progress range, keys on, the trial page (the caller then
        shows trial 1)."""
        self.progress.setRange(0, len(self.session.trials))
        self._set_keys_enabled(True)
        self.pages.setCurrentIndex(TRIAL_PAGE)

    def _show_progress(self, index: int, text: str) -> None:
        self.trial_label.setText(text)
        self.progress.setValue(index)

    def _advance(self) -> None:
        """Show the next unanswered trial, or finish when there is none."""
        following = self.session.next_index()
        if following is None:
            self.finish()
        else:
            self._show_trial(following)

    def _stop_trials(self) -> None:
        """Playback off and keys off (the first step of finishing)."""
        self.player.stop()
        self._set_keys_enabled(False)

    def _save_and_show_results(self) -> None:
        """Save to the chosen results folder, say where (or why not), show the results page."""
        try:
            self.folder = self.save(Path(self.folder_field.text()))
        except OSError as exc:
            self.saved_label.setText(f"Could not save the session: {exc}")
        else:
            self.saved_label.setText(f"Saved to {self.folder} ({', '.join(self.SESSION_FILES)}; "
                                     f"seed {self.session.seed})")
            self.saved.emit(self.folder)
        self.pages.setCurrentIndex(RESULTS_PAGE)

    def _write_session(self, parent: Path, kind: str, name: str) -> Path:
        """Write the session's JSON and CSV to a new folder ``kind`` / ``name`` under ``parent``."""
        folder = new_session_folder(parent, kind, name)
        json_name, csv_name = self.SESSION_FILES[:2]
        self.session.save_json(folder / json_name)
        self.session.write_csv(folder / csv_name)
        return folder

    def done(self, result: int) -> None:
        self.player.stop()
        super().done(result)
