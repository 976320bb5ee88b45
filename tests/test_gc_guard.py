"""Python garbage is collected on the GUI thread only while the studio's window is open."""
from __future__ import annotations

import gc
import threading
import weakref

from app.gc_guard import GuiGarbageCollector, collect_if_due


class Node:
    """An object that only the cyclic collector can free (it refers to itself)."""

    def __init__(self) -> None:
        self.me = self
        self.freed_on: list[str] = []


def test_a_cycle_made_while_the_guard_runs_is_freed_on_the_gui_thread(qtbot):
    assert gc.isenabled()
    guard = GuiGarbageCollector()
    guard.start()
    try:
        assert not gc.isenabled()
        freed_on = []
        node = Node()
        weakref.finalize(node, lambda: freed_on.append(threading.current_thread().name))
        del node
        # a worker allocating past every threshold must not collect (that is what deadlocked)
        kept: list = []                                  # a model load keeps what it allocates
        worker = threading.Thread(target=lambda: kept.extend([object()] for _ in range(200_000)), name="worker")
        worker.start()
        worker.join()
        assert freed_on == []
        qtbot.waitUntil(lambda: bool(freed_on), timeout=5000)   # the guard's timer collects ...
        assert freed_on == [threading.main_thread().name]   # ... on the GUI thread
    finally:
        guard.stop()
    assert gc.isenabled()


def test_collect_if_due_follows_the_thresholds():
    before = gc.get_threshold()
    gc.disable()
    try:
        gc.collect()
        gc.set_threshold(10_000_000, 10, 10)
        assert collect_if_due() == -1                     # nothing due
        gc.set_threshold(1, 10, 10)
        _ = [[] for _ in range(100)]
        assert collect_if_due() == 0
    finally:
        gc.set_threshold(*before)
        gc.enable()


def test_the_window_holds_collection_until_it_closes(qtbot, tmp_path):
    from app.main_window import MainWindow
    from app.settings import Settings

    window = MainWindow(Settings())
    qtbot.addWidget(window)
    assert not gc.isenabled() and window.gc_guard.active
    window.close()
    assert gc.isenabled() and not window.gc_guard.active
