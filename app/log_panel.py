"""The log dock: what happened, with timestamps and levels; copy and clear.

:class:`LogPanel` also installs a :class:`logging.Handler` (thread-safe: records from worker
threads reach the widget through a queued signal) on the ``app`` and ``xy_tokenizer`` loggers.
"""
from __future__ import annotations

import datetime as _dt
import logging

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QFontDatabase, QGuiApplication, QTextCursor
from PySide6.QtWidgets import (QDockWidget, QHBoxLayout, QPlainTextEdit, QPushButton,
                               QVBoxLayout, QWidget)

#: Loggers whose records appear in the panel.
LOGGER_NAMES = ("app", "xy_tokenizer")
MAX_BLOCKS = 5000


class _Bridge(QObject):
    """Carries log records from any thread to the GUI thread."""

    record = Signal(int, str, str)


class QtLogHandler(logging.Handler):
    """A logging handler that forwards ``(level, logger, message)`` through a Qt signal."""

    def __init__(self, level: int = logging.INFO):
        super().__init__(level)
        self.bridge = _Bridge()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[0] is not None:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            self.bridge.record.emit(record.levelno, record.name, message)
        except RuntimeError:  # the panel is gone (application quitting)
            pass


class LogPanel(QDockWidget):
    """Read-only log view: ``HH:MM:SS LEVEL message`` lines; Copy and Clear buttons."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Log", parent)
        self.setObjectName("logDock")
        self.view = QPlainTextEdit()
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(MAX_BLOCKS)
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        copy_button = QPushButton("Copy")
        copy_button.setToolTip("Copy the whole log to the clipboard")
        copy_button.clicked.connect(self.copy_all)
        clear_button = QPushButton("Clear")
        clear_button.clicked.connect(self.clear)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(copy_button)
        buttons.addWidget(clear_button)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.view)
        layout.addLayout(buttons)
        self.setWidget(body)
        self.handler = QtLogHandler()
        self.handler.bridge.record.connect(self._on_record, Qt.ConnectionType.QueuedConnection)
        for name in LOGGER_NAMES:
            logger = logging.getLogger(name)
            logger.addHandler(self.handler)
            if logger.getEffectiveLevel() > logging.INFO:
                logger.setLevel(logging.INFO)

    def detach(self) -> None:
        """Stop receiving log records (call when the window closes)."""
        for name in LOGGER_NAMES:
            logging.getLogger(name).removeHandler(self.handler)

    @Slot(int, str, str)
    def _on_record(self, level: int, _logger: str, message: str) -> None:
        self.append(message, level)

    def append(self, message: str, level: int = logging.INFO) -> None:
        """Add one entry stamped with the current time."""
        stamp = _dt.datetime.now().strftime("%H:%M:%S")
        name = logging.getLevelName(level)
        self.view.appendPlainText(f"{stamp} {name:<7} {message}")
        self.view.moveCursor(QTextCursor.MoveOperation.End)

    def text(self) -> str:
        return self.view.toPlainText()

    def copy_all(self) -> None:
        QGuiApplication.clipboard().setText(self.text())

    def clear(self) -> None:
        self.view.clear()

    def shutdown(self) -> None:
        """The window closes: stop taking log records (see :meth:`detach`)."""
        self.detach()


def create(window) -> LogPanel:
    """The log dock of ``window`` (see :mod:`app.panels`)."""
    return LogPanel(window)
