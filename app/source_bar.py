"""The row of listening sources: "1 Original | 2 XY 16k | 3 X-Codec ...", the one heard highlighted.

One checkable button per source of the player (:meth:`app.player.ABPlayer.source_names`), in
key order; key n (1..9) or a click plays that source from the same position. The source heard
is also named in a large label on the left, so it reads from across the room.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QPushButton, QWidget

#: Keys 1..MAX_KEYS pick a source.
MAX_KEYS = 9
#: Point size of the label naming the source heard, relative to the widget's font.
LABEL_SCALE = 1.6


class SourceBar(QWidget):
    """Buttons ``"1 Original"``, ``"2 <label>"``...; ``names`` map player source names to what is shown."""

    def __init__(self, choose: Callable[[str], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sourceBar")
        self._choose = choose
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(4, 0, 4, 0)
        self.current_label = QLabel()
        self.current_label.setObjectName("currentSource")
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * LABEL_SCALE)
        font.setBold(True)
        self.current_label.setFont(font)
        self.current_label.setMinimumWidth(180)
        self._layout.addWidget(self.current_label)
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self.buttons: dict[str, QPushButton] = {}
        self._titles: dict[str, str] = {}
        self._layout.addStretch(1)

    def set_sources(self, names: list[str], titles: dict[str, str]) -> None:
        """Show one button per source ``names`` (player names, in key order) titled ``titles[name]``."""
        for button in self.buttons.values():
            self._group.removeButton(button)
            self._layout.removeWidget(button)
            button.deleteLater()
        self.buttons = {}
        self._titles = {name: titles.get(name, name) for name in names}
        for index, name in enumerate(names):
            key = f"{index + 1} " if index < MAX_KEYS else ""
            button = QPushButton(f"{key}{self._titles[name]}")
            button.setObjectName(f"source_{index + 1}")
            button.setCheckable(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)     # keys stay with the window
            button.setToolTip(f"Listen to {self._titles[name]} from the same position"
                              + (f" (key {index + 1})" if index < MAX_KEYS else ""))
            button.clicked.connect(lambda _=False, n=name: self._choose(n))
            self._group.addButton(button)
            self._layout.insertWidget(self._layout.count() - 1, button)
            self.buttons[name] = button
        self.setVisible(len(names) > 0)

    def set_active(self, name: str) -> None:
        """Highlight the source heard and name it in the large label."""
        button = self.buttons.get(name)
        if button is not None:
            button.setChecked(True)
        for other, b in self.buttons.items():
            font = b.font()
            font.setBold(other == name)
            b.setFont(font)
        index = list(self.buttons).index(name) + 1 if name in self.buttons else 0
        title = self._titles.get(name, "")
        self.current_label.setText(f"\u25b6 {index} {title}" if title else "")

    def current_text(self) -> str:
        return self.current_label.text()
