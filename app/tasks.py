"""One runner for all background work of the studio: serial lanes of workers and a registry
of the live ones.

Work is a :class:`~app.worker.JobWorker` (signals ``started``, ``progress(done, total)``,
``event``, ``result``, ``error``, ``cancelled``, ``finished`` -- ``finished`` always fires).
The caller creates it, connects its signals, then :meth:`TaskRunner.submit` s it to a lane.
Each lane runs one worker at a time, in submission order; lanes run beside each other, so
reading a file for preview never waits behind a long reconstruction:

========== =====================================================================
``jobs``     model loading, processing, export (the job controller)
``scan``     expanding dropped files and folders into file-list rows
``preview``  reading a file's audio before it is processed (latest request wins)
``decode``   progressive decodes with the first k levels (latest request wins)
``metrics``  quality metrics of each new reconstruction
``compare``  the comparison bench: loading its codecs and reconstructing with each
``listen``   preparing a file's listening stimuli (latest request wins)
========== =====================================================================

``key`` makes a lane coalesce: a queued worker with the same key is dropped (``cancelled``,
``finished``) when a new one arrives, and ``cancel_running`` also cancels the running one --
"latest request wins". ``wanted`` is asked when a worker's turn comes: False drops it
unstarted. The runner keeps every worker referenced until its ``finished``;
:meth:`shutdown` (the window closing) drops what is queued, cancels what runs and joins it.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Hashable

from PySide6.QtCore import QObject, Signal

from .worker import JobWorker

log = logging.getLogger(__name__)

JOBS, SCAN, PREVIEW, DECODE, METRICS = "jobs", "scan", "preview", "decode", "metrics"
COMPARE, LISTEN = "compare", "listen"


@dataclass(eq=False)
class _Entry:
    worker: JobWorker
    key: Hashable | None = None
    wanted: Callable[[], bool] | None = None


class _Lane:
    def __init__(self) -> None:
        self.queue: deque[_Entry] = deque()
        self.current: _Entry | None = None


class TaskRunner(QObject):
    """Serial lanes of :class:`JobWorker` s (see the module docstring).

    Signals: ``laneBusy(str lane)`` when a lane starts work after being idle,
    ``laneIdle(str lane)`` when its last worker finished and nothing is queued.
    """

    laneBusy = Signal(str)
    laneIdle = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lanes: dict[str, _Lane] = {}
        self._tracked: list[JobWorker] = []
        self._closed = False

    # submitting ----------------------------------------------------------------------------
    def submit(self, worker: JobWorker, lane: str = JOBS, *, key: Hashable | None = None,
               cancel_running: bool = False, front: bool = False,
               wanted: Callable[[], bool] | None = None) -> JobWorker:
        """Queue ``worker`` on ``lane`` (started at once when the lane is idle); returns it.

        Connect the worker's signals before calling this. ``front`` puts it before the queued
        ones (after the running one). After :meth:`shutdown` the worker is dropped at once.
        """
        entry = _Entry(worker, key, wanted)
        if self._closed:
            worker.drop()
            return worker
        state = self._lanes.setdefault(lane, _Lane())
        if key is not None:
            for old in [e for e in state.queue if e.key == key]:
                state.queue.remove(old)
                old.worker.drop()
            if cancel_running and state.current is not None and state.current.key == key:
                state.current.worker.cancel()
        worker.finished.connect(lambda: self._on_finished(lane, entry))
        if front:
            state.queue.appendleft(entry)
        else:
            state.queue.append(entry)
        self._pump(lane)
        return worker

    def track(self, worker: JobWorker) -> None:
        """Count a worker started elsewhere (a download) as live: :meth:`shutdown` cancels and
        joins it too."""
        if worker not in self._tracked:
            self._tracked.append(worker)

    # queries -------------------------------------------------------------------------------
    def running(self, lane: str) -> JobWorker | None:
        state = self._lanes.get(lane)
        return state.current.worker if state is not None and state.current is not None else None

    def queued(self, lane: str) -> list[JobWorker]:
        state = self._lanes.get(lane)
        return [] if state is None else [e.worker for e in state.queue]

    def is_busy(self, lane: str | None = None) -> bool:
        """Whether ``lane`` (None: any lane) runs or holds work."""
        lanes = self._lanes.values() if lane is None else [self._lanes.get(lane)]
        return any(s is not None and (s.current is not None or s.queue) for s in lanes)

    def live(self) -> list[JobWorker]:
        """Every worker whose thread runs (running lanes and tracked workers)."""
        running = [s.current.worker for s in self._lanes.values() if s.current is not None]
        self._tracked = [w for w in self._tracked if not w.is_done()]
        return [w for w in running + self._tracked if w.is_alive()]

    # cancelling ----------------------------------------------------------------------------
    def discard(self, worker: JobWorker) -> None:
        """Drop ``worker`` if it is queued, cancel it if it runs."""
        for state in self._lanes.values():
            for entry in list(state.queue):
                if entry.worker is worker:
                    state.queue.remove(entry)
                    worker.drop()
                    return
            if state.current is not None and state.current.worker is worker:
                worker.cancel()
                return

    def cancel_lane(self, lane: str, *, keep: Callable[[JobWorker], bool] | None = None) -> None:
        """Drop the queued workers of ``lane`` (those ``keep`` does not keep) and cancel the running one."""
        state = self._lanes.get(lane)
        if state is None:
            return
        dropped = [e for e in state.queue if keep is None or not keep(e.worker)]
        for entry in dropped:
            state.queue.remove(entry)
        for entry in dropped:
            entry.worker.drop()
        if state.current is not None:
            state.current.worker.cancel()

    def cancel_all(self) -> None:
        for lane in list(self._lanes):
            self.cancel_lane(lane)
        for worker in self._tracked:
            worker.cancel()

    def shutdown(self, timeout_ms: int, deadline: float | None = None) -> list[str]:
        """Refuse new work, drop what is queued, cancel and join what runs.

        Joins until ``deadline`` (a ``time.monotonic()`` value; default now + ``timeout_ms``);
        workers still running then are detached (they stop at their next check and are joined
        by :func:`~app.worker.wait_for_detached`). Returns the names of those.
        """
        self._closed = True
        self.cancel_all()
        end = deadline if deadline is not None else time.monotonic() + timeout_ms / 1000
        left = []
        for worker in self.live():
            if not worker.wait(int(max(0.0, end - time.monotonic()) * 1000)):
                log.warning("%s is still finishing; it stops at its next check", worker.name)
                worker.detach()
                left.append(worker.name)
        return left

    # internals -----------------------------------------------------------------------------
    def _pump(self, lane: str, idle: bool = True) -> None:
        """Start the next wanted worker of ``lane`` unless one runs (``idle``: the lane had no
        work before, so starting is news: ``laneBusy``)."""
        state = self._lanes[lane]
        if state.current is not None:
            return
        while state.queue:
            entry = state.queue.popleft()
            if entry.wanted is not None and not entry.wanted():
                entry.worker.drop()
                continue
            if state.current is not None:    # a slot of the dropped worker started another
                state.queue.appendleft(entry)
                return
            state.current = entry
            if idle:
                self.laneBusy.emit(lane)
            entry.worker.start()
            return

    def _on_finished(self, lane: str, entry: _Entry) -> None:
        state = self._lanes[lane]
        if state.current is not entry:
            return                           # dropped before it ran
        state.current = None
        self._pump(lane, idle=False)
        if state.current is None and not state.queue:
            self.laneIdle.emit(lane)
