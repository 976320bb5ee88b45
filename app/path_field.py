"""A line edit with a "Browse..." button for a file or folder path."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget


class PathField(QWidget):
    """Edits one path. ``mode`` is "file" (open an existing file) or "folder".

    ``name_filter`` is a QFileDialog filter such as ``"Checkpoints (*.ckpt *.pt)"``.
    """

    changed = Signal(str)

    def __init__(self, mode: str = "file", name_filter: str = "", placeholder: str = "",
                 parent: QWidget | None = None):
        super().__init__(parent)
        if mode not in ("file", "folder"):
            raise ValueError(f"PathField mode must be 'file' or 'folder', not {mode!r}")
        self._mode, self._filter = mode, name_filter
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.setClearButtonEnabled(True)
        self.edit.textChanged.connect(self.changed)
        self.browse_button = QPushButton("Browse\u2026")
        self.browse_button.clicked.connect(self.browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.browse_button)

    def text(self) -> str:
        return self.edit.text().strip()

    def set_text(self, text: str) -> None:
        self.edit.setText(text)

    def browse(self) -> None:
        start = self.text() or str(Path.home())
        if self._mode == "folder":
            chosen = QFileDialog.getExistingDirectory(self, "Choose a folder", start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, "Choose a file", start, self._filter)
        if chosen:
            self.edit.setText(chosen)
