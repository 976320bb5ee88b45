"""Helpers for studio tests."""
from __future__ import annotations

from pathlib import Path

#: A scan of dropped paths (on the window's worker) ends within this (ms).
SCAN_TIMEOUT = 60000


def add_and_wait(qtbot, window, paths: list[Path], timeout: int = SCAN_TIMEOUT) -> list:
    """``window.add_paths(paths)`` and wait until its scan ended; returns the rows it added."""
    with qtbot.waitSignal(window.pathsAdded, timeout=timeout) as added:
        window.add_paths(paths)
    return added.args[0]
