"""Last-resort error handling: uncaught exceptions are logged to a crash log and shown.

:func:`install` replaces ``sys.excepthook`` and ``threading.excepthook``. Each uncaught
exception is appended, with a timestamp and its traceback, to ``crash.log`` in the user log
folder, and a dialog tells the user what happened and where the log is (only when a
QApplication exists). The dialog is a parameter so tests can pass their own callable.
"""
from __future__ import annotations

import datetime as _dt
import logging
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import Callable

from PySide6.QtCore import QObject, Signal, Slot

from xy_tokenizer.io import paths

log = logging.getLogger(__name__)

CRASH_LOG = "crash.log"
#: The crash log is started afresh (the old one kept as crash.log.1) beyond this size.
MAX_LOG_BYTES = 1 << 20

#: ``show(message, log_path)``: tells the user about an uncaught exception.
ShowDialog = Callable[[str, Path], None]


def crash_log_path() -> Path:
    """The crash log file in the user log folder."""
    return paths.log_dir() / CRASH_LOG


def _rotate(path: Path) -> None:
    if path.is_file() and path.stat().st_size > MAX_LOG_BYTES:
        path.replace(path.with_name(path.name + ".1"))


def write_crash_log(exc_type: type[BaseException], exc: BaseException,
                    tb: TracebackType | None, *, where: str = "main thread") -> Path:
    """Append a timestamped traceback to the crash log; returns the log path."""
    path = crash_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    _rotate(path)
    stamp = _dt.datetime.now().isoformat(timespec="seconds")
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"=== {stamp} uncaught exception in {where}\n{text}\n")
    return path


def show_crash_dialog(message: str, log_path: Path) -> None:
    """Show a critical message box when a QApplication exists (and do nothing otherwise)."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    if QApplication.instance() is None:
        return
    box = QMessageBox(QMessageBox.Icon.Critical, "XY-Tokenizer Studio: unexpected error",
                      f"Something went wrong that the studio did not expect:\n\n{message}\n\n"
                      f"The details were written to:\n{log_path}\n\n"
                      "Please include that file when you report the problem.")
    box.exec()


def handle_exception(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None,
                     *, show: ShowDialog | None = show_crash_dialog,
                     where: str = "main thread") -> Path | None:
    """Log one uncaught exception and tell the user; returns the crash log path.

    ``KeyboardInterrupt`` goes to Python's default hook (Ctrl-C quits as usual) and returns None.
    """
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return None
    log.error("uncaught exception in %s", where, exc_info=(exc_type, exc, tb))
    try:
        path = write_crash_log(exc_type, exc, tb, where=where)
    except OSError as err:
        log.error("could not write the crash log: %s", err)
        path = crash_log_path()
    if show is not None:
        show(f"{exc_type.__name__}: {exc}", path)
    return path


class _MainThreadDialog(QObject):
    """Forwards a dialog request from any thread to the thread that created it (the GUI)."""

    requested = Signal(str, object)

    def __init__(self, show: ShowDialog):
        super().__init__()
        self._show = show
        self.requested.connect(self._run)

    @Slot(str, object)
    def _run(self, message: str, log_path: Path) -> None:
        self._show(message, log_path)

    def __call__(self, message: str, log_path: Path) -> None:
        if threading.current_thread() is threading.main_thread():
            self._show(message, log_path)
        else:
            self.requested.emit(message, log_path)


def install(show: ShowDialog | None = show_crash_dialog) -> Path:
    """Install the hooks for the main thread and other threads; returns the crash log path.

    Call it from the main thread. Exceptions in other threads show the dialog from the main
    thread once its event loop runs.
    """
    dialog = _MainThreadDialog(show) if show is not None else None

    def main_hook(exc_type, exc, tb):
        handle_exception(exc_type, exc, tb, show=dialog)

    def thread_hook(args: threading.ExceptHookArgs):
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "a thread"
        handle_exception(args.exc_type, args.exc_value, args.exc_traceback, show=dialog,
                         where=f"thread {name}")

    sys.excepthook = main_hook
    threading.excepthook = thread_hook
    return crash_log_path()
