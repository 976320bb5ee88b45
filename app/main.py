"""Entry point of the studio (``xytok-studio``, ``python main.py``).

The excepthook is installed first; the window shows before torch is imported (the model
loads on a worker once the event loop runs).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from resources import resource_path
from xy_tokenizer import __version__

from . import excepthook
from .main_window import MainWindow
from .worker import wait_for_detached

ICON_FILE = "icon.svg"
ORGANIZATION = "XY-Tokenizer Studio"
APPLICATION = "xy-tokenizer-studio"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="xytok-studio", description="XY-Tokenizer Studio: "
                                     "reconstruct speech with XY-Tokenizer, compare and listen.")
    parser.add_argument("paths", nargs="*", type=Path,
                        help="audio files, folders or .npy token files to open")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the studio; returns the exit status."""
    excepthook.install()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = QApplication.instance()
    if app is None:
        # Fractional scale factors (125 %, 150 %) as the screen asks, not rounded.
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(sys.argv[:1])
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("XY-Tokenizer Studio")
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APPLICATION)
    icon_path = resource_path(ICON_FILE)
    if icon_path.is_file():
        app.setWindowIcon(QIcon(str(icon_path)))

    window = MainWindow()
    window.show()
    QTimer.singleShot(0, window.preload_model)
    if args.paths:
        QTimer.singleShot(0, lambda: window.add_paths(args.paths))
    status = app.exec()
    wait_for_detached()
    return status
