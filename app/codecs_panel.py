"""The "Codecs" dock: the comparison bench's codec set.

One row per codec of :class:`~app.bench.Bench`: a check box (reconstruct with it), its label,
family and variant, bitrate and frame rate, parameter count and size once loaded, its state
(not loaded / loading / loaded / failed) and the state of its reconstruction of the file shown.
Buttons add an installed registry variant, a checkpoint file or a model folder, remove the
selected codec (its model is freed) and reconstruct the selected files with the checked codecs.
Models load on the bench's lane the first time they are used.
"""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QDockWidget, QFileDialog, QGridLayout, QHeaderView, QMenu,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from xy_tokenizer.errors import XYTokenizerError

from .bench import Bench, installed_variants
from .comparison_model import ComparisonSet
from .preferences import CHECKPOINT_FILTER
from .views.bench_view import codec_caption

log = logging.getLogger(__name__)

COLUMNS = ("Codec", "Family / variant", "Rate", "Size", "Model", "This file")
(LABEL_COLUMN, FAMILY_COLUMN, RATE_COLUMN, SIZE_COLUMN, STATE_COLUMN, FILE_COLUMN) = range(len(COLUMNS))


class CodecsPanel(QDockWidget):
    """The bench's codecs (see the module docstring)."""

    def __init__(self, bench: Bench, comparison_set: ComparisonSet, window=None) -> None:
        super().__init__("Codecs", window)
        self.bench = bench
        self.comparison_set = comparison_set
        self.window_ = window
        self._shown_uid: int | None = None
        self._checked: dict[str, bool] = {}
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("codecTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.itemChanged.connect(self._on_item_changed)
        self.add_installed_button = QPushButton("Add installed\u2026")
        self.add_installed_button.setToolTip("Add a downloaded model variant")
        self.add_installed_button.clicked.connect(self._show_installed_menu)
        self.add_file_button = QPushButton("Add checkpoint\u2026")
        self.add_file_button.clicked.connect(self.choose_checkpoint)
        self.add_folder_button = QPushButton("Add model folder\u2026")
        self.add_folder_button.clicked.connect(self.choose_folder)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected codec and free its model")
        self.remove_button.clicked.connect(self.remove_selected)
        self.reconstruct_button = QPushButton("Reconstruct with checked")
        self.reconstruct_button.setObjectName("reconstructWithChecked")
        self.reconstruct_button.setToolTip("Reconstruct the selected files with every checked codec (Ctrl+K)")
        if window is not None:
            self.reconstruct_button.clicked.connect(lambda: window.reconstruct_with_codecs())
        buttons = QGridLayout()
        for index, button in enumerate((self.add_installed_button, self.add_file_button, self.add_folder_button,
                                        self.remove_button)):
            buttons.addWidget(button, index // 2, index % 2)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.reconstruct_button)
        self.setWidget(body)
        bench.slotsChanged.connect(self.refresh)
        bench.slotChanged.connect(lambda _label: self.refresh())
        comparison_set.changed.connect(lambda uid: uid == self._shown_uid and self.refresh())
        self.refresh()

    # what the table shows ------------------------------------------------------------------
    def set_shown(self, uid: int | None) -> None:
        """The file whose per-codec state the "This file" column shows."""
        self._shown_uid = uid
        self.refresh()

    def refresh(self) -> None:
        slots = self.bench.slots()
        self.table.blockSignals(True)
        self.table.setRowCount(len(slots))
        for row, slot in enumerate(slots):
            description = slot.description()
            rec = None if self._shown_uid is None else self.comparison_set.reconstruction(self._shown_uid, slot.label)
            family = " / ".join(x for x in (description.family, description.variant) if x)
            state = slot.state + (f": {slot.message}" if slot.message else "")
            file_state = "" if rec is None else rec.status + (f": {rec.message}" if rec.message else "")
            cells = (f"{row + 2}  {slot.label}", family, codec_caption(description), slot.size_text(), state,
                     file_state)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text if column != LABEL_COLUMN else str(slot.checkpoint))
                if column == LABEL_COLUMN:
                    item.setData(Qt.ItemDataRole.UserRole, slot.label)
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    item.setCheckState(Qt.CheckState.Checked if self._checked.get(slot.label, True)
                                       else Qt.CheckState.Unchecked)
                self.table.setItem(row, column, item)
        self.table.blockSignals(False)
        self.remove_button.setEnabled(bool(slots))
        self.reconstruct_button.setEnabled(bool(slots))

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() == LABEL_COLUMN:
            label = item.data(Qt.ItemDataRole.UserRole)
            self._checked[label] = item.checkState() == Qt.CheckState.Checked

    def set_checked(self, label: str, checked: bool) -> None:
        self._checked[label] = checked
        self.refresh()

    def checked_labels(self) -> list[str]:
        """Labels of the codecs checked for "Reconstruct with" (all are, when added)."""
        return [label for label in self.bench.labels() if self._checked.get(label, True)]

    def file_states(self) -> dict[str, str]:
        """Label -> the "This file" column's text (tests, status)."""
        out = {}
        for row in range(self.table.rowCount()):
            label = self.table.item(row, LABEL_COLUMN).data(Qt.ItemDataRole.UserRole)
            out[label] = self.table.item(row, FILE_COLUMN).text()
        return out

    # adding and removing ---------------------------------------------------------------------
    def _add(self, adder, *args) -> None:
        try:
            adder(*args)
        except XYTokenizerError as exc:
            log.error("%s", exc)

    def _show_installed_menu(self) -> None:
        menu = QMenu(self)
        found = installed_variants()
        for variant_id, label, _path in found:
            action = menu.addAction(f"{label} ({variant_id})")
            action.triggered.connect(lambda _=False, v=variant_id: self._add(self.bench.add_variant, v))
        if not found:
            menu.addAction("No model installed yet: File > Download model\u2026").setEnabled(False)
        menu.exec(self.add_installed_button.mapToGlobal(self.add_installed_button.rect().bottomLeft()))

    def choose_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a codec checkpoint", "", CHECKPOINT_FILTER)
        if path:
            self._add(self.bench.add_checkpoint, Path(path))

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a model folder")
        if path:
            self._add(self.bench.add_checkpoint, Path(path))

    def remove_selected(self) -> None:
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        for row in rows:
            item = self.table.item(row, LABEL_COLUMN)
            if item is not None:
                self.bench.remove(item.data(Qt.ItemDataRole.UserRole))


def create(window) -> CodecsPanel:
    """The Codecs dock of ``window`` (see :mod:`app.panels`)."""
    panel = CodecsPanel(window.bench, window.comparison_set, window)
    window.shownChanged.connect(lambda row: panel.set_shown(None if row is None else row.uid))
    return panel
