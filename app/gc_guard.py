"""Python's garbage is collected on the GUI thread only, while a window is open.

The cyclic collector runs in whichever thread happens to allocate past its threshold. When that
is a worker (loading a model allocates a lot), it can free Qt objects of the GUI there; their
C++ destructors then wait for the GIL on the worker while the GUI thread waits on them: a
deadlock (seen as a hung test: the worker in ``QObject::~QObject`` under ``gc_collect_main``,
the GUI thread in a paint event). So while a window is open, automatic collection is off and a
timer on the GUI thread collects each generation when the collector's own thresholds say so.
"""
from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

#: How often the GUI thread looks at the collector's counts.
CHECK_MS = 250

_holders = 0
_was_enabled = True


def collect_if_due() -> int:
    """Collect the oldest generation whose count passed its threshold; returns it (-1: none due)."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    for generation in (2, 1, 0):
        if thresholds[generation] and counts[generation] > thresholds[generation]:
            gc.collect(generation)
            return generation
    return -1


class GuiGarbageCollector(QObject):
    """While started, automatic collection is off and this object's timer collects (GUI thread)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.setInterval(CHECK_MS)
        self.timer.timeout.connect(collect_if_due)
        self.active = False

    def start(self) -> None:
        global _holders, _was_enabled
        if self.active:
            return
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
        self.active = True
        self.timer.start()

    def stop(self) -> None:
        """Give collection back to Python (when no other window holds it) after one last collection."""
        global _holders
        if not self.active:
            return
        self.timer.stop()
        self.active = False
        _holders -= 1
        gc.collect()
        if _holders == 0 and _was_enabled:
            gc.enable()
