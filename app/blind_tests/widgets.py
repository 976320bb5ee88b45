"""Small widgets shared by the blind-test screens: the transport row (loop region, position,
stop) and the results table of MUSHRA conditions."""
from __future__ import annotations

import math
from typing import Mapping

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QWidget)

from app.formatting import format_position
from xy_tokenizer.analysis.listening import ANCHOR, REFERENCE, MeanCI

from .inputs import format_bitrate
from .playback import StimulusPlayer

#: Default loop region as fractions of the clip (a middle passage).
LOOP_DEFAULT = (0.25, 0.75)
CONDITION_NAMES = {REFERENCE: "Hidden reference", ANCHOR: "Anchor (3.5 kHz low-pass)"}


class TransportRow(QWidget):
    """Stop button (Space), "Loop" with start/end seconds, the position and a message line."""

    def __init__(self, player: StimulusPlayer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.player = player
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.stop_button = QPushButton("Stop (Space)")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.stop_button.clicked.connect(player.stop)
        self.loop_box = QCheckBox("Loop")
        self.loop_box.setObjectName("loopBox")
        self.loop_box.setToolTip("Loop a region: switching stimuli then keeps the position inside it. "
                                 "Without a loop every stimulus plays from the start.")
        self.loop_start, self.loop_end = QDoubleSpinBox(), QDoubleSpinBox()
        for box in (self.loop_start, self.loop_end):
            box.setDecimals(2)
            box.setSingleStep(0.1)
            box.setSuffix(" s")
            box.setEnabled(False)
            box.valueChanged.connect(self._apply_loop)
        self.loop_box.toggled.connect(self._apply_loop)
        self.position_label = QLabel()
        self.position_label.setObjectName("positionLabel")
        self.message = QLabel()
        self.message.setObjectName("messageLabel")
        self.message.setStyleSheet("color: #b00020")
        for widget in (self.stop_button, self.loop_box, self.loop_start, QLabel("to"), self.loop_end):
            layout.addWidget(widget)
        layout.addStretch(1)
        layout.addWidget(self.message)
        layout.addWidget(self.position_label)
        player.positionChanged.connect(self._show_position)
        player.error.connect(self.message.setText)
        self.set_duration(0.0)

    def set_duration(self, seconds: float) -> None:
        """Range of the loop boxes (the clip's length); the default region is its middle half."""
        for box in (self.loop_start, self.loop_end):
            box.blockSignals(True)
            box.setRange(0.0, max(seconds, 0.0))
        self.loop_start.setValue(seconds * LOOP_DEFAULT[0])
        self.loop_end.setValue(seconds * LOOP_DEFAULT[1])
        for box in (self.loop_start, self.loop_end):
            box.blockSignals(False)
        self._apply_loop()
        self._show_position(self.player.position())

    def set_loop(self, region: tuple[float, float] | None) -> None:
        if region is not None:
            self.loop_start.setValue(region[0])
            self.loop_end.setValue(region[1])
        self.loop_box.setChecked(region is not None)

    def _apply_loop(self, *_args) -> None:
        on = self.loop_box.isChecked()
        for box in (self.loop_start, self.loop_end):
            box.setEnabled(on)
        region = (self.loop_start.value(), self.loop_end.value()) if on else None
        self.player.set_loop(region if region is None or region[1] > region[0] else None)

    def _show_position(self, seconds: float) -> None:
        self.position_label.setText(f"{format_position(seconds)} / {format_position(self.player.duration())}")


def _cell(text: str, align_right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _number(value: float, digits: int = 1) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


class ConditionTable(QTableWidget):
    """One row per MUSHRA condition: name, bitrate, n, mean, 95 % CI."""

    COLUMNS = ("Condition", "Bitrate", "n", "Mean", "95 % CI")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(self.COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setStretchLastSection(True)
        self.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)

    def show_stats(self, stats: Mapping[str, MeanCI], bitrates: Mapping[str, float]) -> None:
        self.setRowCount(len(stats))
        for row, (condition, s) in enumerate(stats.items()):
            ci = "" if not math.isfinite(s.low) else f"{s.low:.1f} .. {s.high:.1f} (±{s.half_width:.1f})"
            cells = (_cell(CONDITION_NAMES.get(condition, condition)),
                     _cell(format_bitrate(bitrates.get(condition, math.nan)), True), _cell(str(s.n), True),
                     _cell(_number(s.mean), True), _cell(ci))
            for column, item in enumerate(cells):
                self.setItem(row, column, item)
        self.resizeColumnsToContents()

    def row_of(self, condition: str) -> dict[str, str]:
        """The texts of ``condition``'s row, by column title (for reading the table back)."""
        name = CONDITION_NAMES.get(condition, condition)
        for row in range(self.rowCount()):
            if self.item(row, 0).text() == name:
                return {title: self.item(row, c).text() for c, title in enumerate(self.COLUMNS)}
        raise KeyError(condition)
