"""Entry point of the studio (``xytok-studio``, ``python main.py``).

The excepthook is installed first; the window shows before torch is imported (the model
loads on a worker once the event loop runs).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from resources import resource_path
from xy_tokenizer import __version__

from . import excepthook

ICON_FILE = "icon.svg"
ORGANIZATION = "XY-Tokenizer Studio"
APPLICATION = "xy-tokenizer-studio"


#: Qt platform plugins that need a display server (others, e.g. "offscreen", "vnc", "eglfs", need none).
DISPLAY_PLATFORMS = ("xcb", "wayland")


def display_problem(environ: dict | None = None, platform: str | None = None) -> str | None:
    """One line saying why the studio cannot open a window here, or None.

    On Linux, Qt's default (xcb or wayland) needs ``DISPLAY`` or ``WAYLAND_DISPLAY``; without
    one it aborts with a message about missing xcb libraries. A non-display
    ``QT_QPA_PLATFORM`` (``offscreen``, ...) needs neither.
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None
    qpa = environ.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if qpa and not qpa.startswith(DISPLAY_PLATFORMS):
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return ("xytok-studio: no display to open a window on (neither DISPLAY nor WAYLAND_DISPLAY is set); "
            "start it from a desktop session (or ssh -X), or set QT_QPA_PLATFORM=offscreen to run it "
            "without a screen (e.g. with --smoke-test); for batch work use the xytok command")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="xytok-studio", description="XY-Tokenizer Studio: "
                                     "reconstruct speech with XY-Tokenizer, compare and listen.")
    parser.add_argument("paths", nargs="*", type=Path,
                        help="audio files, folders or .npy token files to open")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--smoke-test", action="store_true",
                        help="import every module, build the window once and exit (checks a build)")
    return parser.parse_args(argv)


def smoke_test(app: QApplication) -> int:
    """Import every module of the studio and the engine, run a short STFT (the parts of torch
    a frozen build may lack that every family's front end uses), build and show the window
    once; 0 on success."""
    import importlib
    import pkgutil
    import traceback

    import xy_tokenizer

    try:
        studio = importlib.import_module(__package__)
        for package in (studio, xy_tokenizer):
            for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
                importlib.import_module(info.name)
        import torch

        torch.stft(torch.zeros(1, 4000), 400, 160, window=torch.hann_window(400), return_complex=True)
        from .main_window import MainWindow

        window = MainWindow()
        window.show()
        app.processEvents()
        window.close()
    except Exception:  # report anything a broken build raises, then fail
        traceback.print_exc()
        return 1
    print("smoke test passed")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the studio; returns the exit status."""
    excepthook.install()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = QApplication.instance()
    if app is None and (problem := display_problem()) is not None:
        print(problem, file=sys.stderr)
        return 1
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

    # Imported here, after the display check: they pull in Qt Multimedia, which logs about audio
    # back ends on import.
    from .main_window import MainWindow
    from .worker import wait_for_detached

    if args.smoke_test:
        return smoke_test(app)
    window = MainWindow()
    window.show()
    QTimer.singleShot(0, window.preload_model)
    if args.paths:
        QTimer.singleShot(0, lambda: window.add_paths(args.paths))
    status = app.exec()
    wait_for_detached()
    return status
