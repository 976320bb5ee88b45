"""Saved listening-test sessions side by side.

Loads ABX and MUSHRA sessions (the JSON or CSV files the screens save; by default every session
folder under :func:`~app.blind_tests.inputs.sessions_dir`) and shows:

* MUSHRA: per condition, the ratings pooled over the sessions with
  :func:`~xy_tokenizer.analysis.listening.summarize_mushra` (mean, 95 % CI, n, bitrate), raters
  excluded by BS.1534-3 post-screening left out unless screening is switched off;
* ABX: one row per session with its score, p-value and verdict.

A session saved as both JSON and CSV counts once (the JSON is read; the same session picked
twice is recognised by kind, seed, rater and start time). A file that cannot be read is listed
with the reason; the others still load.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QDialog, QFileDialog, QHBoxLayout, QLabel, QPushButton, QTableWidget,
                               QVBoxLayout, QWidget)

from xy_tokenizer.analysis.listening import (AbxSession, ListeningTestError, MushraSession, load_session,
                                             summarize_mushra, write_mushra_summary_csv)

from .abx_dialog import verdict
from .inputs import ORIGINAL, sessions_dir
from .widgets import ConditionTable, _cell

SESSION_SUFFIXES = (".json", ".csv")


def _is_session_csv(path: Path) -> bool:
    """Whether a CSV's header names a ``kind`` column (session CSVs do; summaries do not)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return "kind" in next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return True     # let loading report what is wrong with it


def session_files(folder: Path) -> list[Path]:
    """The session files in ``folder`` and its sub-folders: every ``.json``, and each session
    ``.csv`` (not a summary) without a ``.json`` of the same name beside it. Sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SESSION_SUFFIXES and p.is_file())
    return [p for p in found if p.suffix.lower() == ".json"
            or (not p.with_suffix(".json").exists() and _is_session_csv(p))]


def _identity(session: AbxSession | MushraSession) -> tuple:
    return session.kind, session.seed, session.rater, session.created_at


class ResultsDialog(QDialog):
    """Signal ``loaded(int)``: how many sessions are shown after a load."""

    loaded = Signal(int)

    ABX_COLUMNS = ("Clip", "A", "B", "Rater", "Correct", "p", "Verdict", "Started")

    def __init__(self, parent: QWidget | None = None, *, folder: Path | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("listeningResultsDialog")
        self.setWindowTitle("Listening test results")
        self.sessions: list[AbxSession | MushraSession] = []
        self.sources: list[Path] = []
        self.errors: list[str] = []
        layout = QVBoxLayout(self)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add sessions…")
        self.add_button.clicked.connect(self._choose_files)
        self.folder_button = QPushButton("Add a folder…")
        self.folder_button.clicked.connect(self._choose_folder)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear)
        self.screen_box = QCheckBox("Post-screening (BS.1534-3)")
        self.screen_box.setObjectName("screenBox")
        self.screen_box.setChecked(True)
        self.screen_box.toggled.connect(self.refresh)
        self.export_button = QPushButton("Export MUSHRA summary…")
        self.export_button.clicked.connect(self._choose_export)
        for widget in (self.add_button, self.folder_button, self.clear_button):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        buttons.addWidget(self.screen_box)
        buttons.addWidget(self.export_button)
        layout.addLayout(buttons)
        self.mushra_label = QLabel()
        self.mushra_label.setObjectName("mushraLabel")
        self.mushra_label.setWordWrap(True)
        self.mushra_table = ConditionTable()
        self.mushra_table.setObjectName("mushraTable")
        self.abx_label = QLabel()
        self.abx_label.setObjectName("abxLabel")
        self.abx_table = QTableWidget(0, len(self.ABX_COLUMNS))
        self.abx_table.setObjectName("abxTable")
        self.abx_table.setHorizontalHeaderLabels(list(self.ABX_COLUMNS))
        self.abx_table.verticalHeader().setVisible(False)
        self.abx_table.horizontalHeader().setStretchLastSection(True)
        self.error_label = QLabel()
        self.error_label.setObjectName("errorLabel")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for widget in (self.mushra_label, self.mushra_table, self.abx_label, self.abx_table, self.error_label):
            layout.addWidget(widget)
        self.resize(820, 560)
        self.add_paths(session_files(folder if folder is not None else sessions_dir()))

    # loading -----------------------------------------------------------------------------
    def add_paths(self, paths: Iterable[Path]) -> int:
        """Load session files; returns how many new sessions were added. Unreadable files are
        listed with the reason; duplicates (the same session again) are skipped."""
        known = {_identity(s) for s in self.sessions}
        added = 0
        for path in paths:
            path = Path(path)
            try:
                session = load_session(path)
            except ListeningTestError as exc:
                self.errors.append(str(exc))
                continue
            if _identity(session) in known:
                continue
            known.add(_identity(session))
            self.sessions.append(session)
            self.sources.append(path)
            added += 1
        self.refresh()
        self.loaded.emit(len(self.sessions))
        return added

    def add_folder(self, folder: Path) -> int:
        return self.add_paths(session_files(folder))

    def clear(self) -> None:
        self.sessions, self.sources, self.errors = [], [], []
        self.refresh()

    def _choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add listening-test sessions", str(sessions_dir()),
                                                "Sessions (*.json *.csv)")
        if files:
            self.add_paths(Path(f) for f in files)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add every session in a folder", str(sessions_dir()))
        if folder:
            self.add_folder(Path(folder))

    def _choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the MUSHRA summary", str(sessions_dir() / "summary.csv"),
                                              "CSV (*.csv)")
        if path:
            try:
                self.export_summary(Path(path), overwrite=True)
            except (OSError, ListeningTestError) as exc:
                self.errors.append(f"{path}: could not write the summary ({exc})")
                self.refresh()

    def export_summary(self, path: Path, *, overwrite: bool = False) -> Path:
        """Write the pooled MUSHRA summary shown (one row per condition) to ``path``."""
        mushra = self.mushra_sessions()
        if not mushra:
            raise ListeningTestError(f"{path}: no MUSHRA session is loaded; add sessions first")
        return write_mushra_summary_csv(summarize_mushra(mushra, screen=self.screen_box.isChecked()), path,
                                        overwrite=overwrite)

    # showing -----------------------------------------------------------------------------
    def mushra_sessions(self) -> list[MushraSession]:
        return [s for s in self.sessions if isinstance(s, MushraSession)]

    def abx_sessions(self) -> list[AbxSession]:
        return [s for s in self.sessions if isinstance(s, AbxSession)]

    def refresh(self) -> None:
        mushra = self.mushra_sessions()
        self.export_button.setEnabled(bool(mushra))
        if mushra:
            summary = summarize_mushra(mushra, screen=self.screen_box.isChecked())
            excluded = [s for s in summary.screening if s.excluded]
            raters = sorted({s.rater or "(unnamed)" for s in mushra})
            text = (f"<b>MUSHRA</b>: {len(mushra)} session(s), raters: {', '.join(raters)}. ")
            if excluded:
                names = ", ".join(s.rater or "(unnamed)" for s in excluded)
                text += (f"{len(excluded)} session(s) rated the hidden reference below 90 in more than 15 % of "
                         f"trials ({names})" + ("; left out." if self.screen_box.isChecked() else "; kept."))
            self.mushra_label.setText(text)
            self.mushra_table.show_stats(summary.conditions, summary.bitrates)
        else:
            self.mushra_label.setText("<b>MUSHRA</b>: no session loaded.")
            self.mushra_table.setRowCount(0)
        abx = self.abx_sessions()
        self.abx_label.setText(f"<b>ABX</b>: {len(abx)} session(s)." if abx else "<b>ABX</b>: no session loaded.")
        self.abx_table.setRowCount(len(abx))
        for row, session in enumerate(abx):
            score = session.score()
            names = {ORIGINAL: "Original"}
            cells = (session.clip, names.get(session.a, session.a), names.get(session.b, session.b),
                     session.rater, f"{score.correct} / {score.answered}",
                     "" if math.isnan(score.p_value) else f"{score.p_value:.4g}", verdict(score),
                     session.created_at[:19].replace("T", " "))
            for column, text in enumerate(cells):
                self.abx_table.setItem(row, column, _cell(text, column in (4, 5)))
        self.abx_table.resizeColumnsToContents()
        self.error_label.setText("\n".join(self.errors))
