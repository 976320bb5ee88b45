"""The bar under the views: play/pause, A/B buttons, loop, level match, position."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from .formatting import format_position


class PlaybackBar(QFrame):
    """Tool buttons for the given actions (None: a gap) and a position label."""

    def __init__(self, actions: list[QAction | None], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("playbackBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 3, 6, 3)
        layout.setSpacing(4)
        self.buttons: dict[str, QToolButton] = {}
        for action in actions:
            if action is None:
                layout.addSpacing(12)
                continue
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setAutoRaise(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            layout.addWidget(button)
            self.buttons[action.objectName()] = button
        layout.addStretch(1)
        self.position_label = QLabel()
        self.position_label.setObjectName("positionLabel")
        self.position_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.position_label.font()
        font.setFamily("monospace")
        font.setStyleHint(font.StyleHint.Monospace)
        self.position_label.setFont(font)
        layout.addWidget(self.position_label)
        self.set_position(0.0, 0.0)

    def set_position(self, position: float, duration: float) -> None:
        self.position_label.setText(f"{format_position(position)} / {format_position(duration)}")
