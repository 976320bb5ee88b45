"""Run slow work (model loading, jobs, downloads) on a QThread and report through signals.

A job is a callable ``fn(report_progress, is_cancelled)``:

* ``report_progress(done, total)`` may be called from the job at any time;
* ``is_cancelled()`` returns True once :meth:`JobWorker.cancel` was called;
* ``fn`` returns a value, or returns an iterator (a generator): each item it yields is emitted
  as ``event(item)`` and the generator's return value is the result.

Signals, always emitted in the GUI thread, in this order: ``started()`` (synchronously inside
:meth:`JobWorker.start`, before the job runs: a slot may still prepare what the job reads), then any number of
``progress(done, total)`` / ``event(item)``, then exactly one of ``result(value)``,
``error(message)`` or ``cancelled()``, then ``finished()`` -- which always fires. ``cancelled``
replaces ``result`` when a cancel was requested, and answers ``xy_tokenizer.Cancelled``.

Connect the signals before :meth:`JobWorker.start`; keep a reference to the worker until
``finished`` fires, and :meth:`JobWorker.wait` for it before the application quits.
"""
from __future__ import annotations

import enum
import logging
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from xy_tokenizer.errors import Cancelled, XYTokenizerError

log = logging.getLogger(__name__)

#: Workers still running when their window closed, kept alive until :func:`wait_for_detached`.
_detached: set["JobWorker"] = set()

ReportProgress = Callable[[float, float], None]
IsCancelled = Callable[[], bool]
JobFn = Callable[[ReportProgress, IsCancelled], Any]


def describe_error(exc: BaseException) -> str:
    """A one-line message for the user: the engine's own messages as they are."""
    if isinstance(exc, XYTokenizerError):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Outcome(str, enum.Enum):
    """How a job ended (carried from the worker thread to the GUI thread)."""

    RESULT = "result"
    ERROR = "error"
    CANCELLED = "cancelled"


class _Thread(QThread):
    """Runs the job; its signals are emitted from the worker thread and queued to the GUI."""

    sig_progress = Signal(float, float)
    sig_event = Signal(object)
    sig_outcome = Signal(str, object)  # (Outcome value, payload)

    def __init__(self, fn: JobFn, cancel_flag: threading.Event, name: str):
        super().__init__()
        self._fn = fn
        self._cancel_flag = cancel_flag
        self.setObjectName(name)

    def run(self) -> None:
        try:
            value = self._fn(self.sig_progress.emit, self._cancel_flag.is_set)
            if isinstance(value, Iterator):
                value = self._drain(value)
        except Cancelled:
            self.sig_outcome.emit(Outcome.CANCELLED.value, None)
        except BaseException as exc:  # noqa: BLE001 -- a job failure must never kill the app
            log.error("job %s failed:\n%s", self.objectName(),
                      "".join(traceback.format_exception(exc)))
            self.sig_outcome.emit(Outcome.ERROR.value, describe_error(exc))
        else:
            if self._cancel_flag.is_set():
                self.sig_outcome.emit(Outcome.CANCELLED.value, None)
            else:
                self.sig_outcome.emit(Outcome.RESULT.value, value)

    def _drain(self, events: Iterator) -> Any:
        while True:
            try:
                item = next(events)
            except StopIteration as stop:
                return stop.value
            self.sig_event.emit(item)


class JobWorker(QObject):
    """One job on its own QThread (single use: create a new worker for the next job)."""

    started = Signal()
    progress = Signal(float, float)
    event = Signal(object)
    result = Signal(object)
    error = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, fn: JobFn, name: str = "job", parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self._cancel_flag = threading.Event()
        self._thread = _Thread(fn, self._cancel_flag, name)
        self._thread.sig_progress.connect(self._on_progress)
        self._thread.sig_event.connect(self._on_event)
        self._thread.sig_outcome.connect(self._on_outcome)
        self._done = False
        self._started = False

    def start(self) -> None:
        """Start the job (once)."""
        if self._started or self._done:
            raise RuntimeError(f"the {self.name} worker was already started")
        self._started = True
        self.started.emit()
        self._thread.start()

    def cancel(self) -> None:
        """Ask the job to stop at its next check; ``cancelled`` then ``finished`` follow."""
        self._cancel_flag.set()

    def drop(self) -> None:
        """End a worker that was never started: ``cancelled`` then ``finished`` fire now and the
        job never runs (a queue dropping work it no longer wants)."""
        if self._thread.isRunning() or self._done:
            raise RuntimeError(f"the {self.name} worker already ran; cancel it instead")
        self._cancel_flag.set()
        self._on_outcome(Outcome.CANCELLED.value, None)

    def is_running(self) -> bool:
        """True between :meth:`start` and ``finished`` (as the GUI thread sees it)."""
        return self._started and not self._done

    def is_alive(self) -> bool:
        """True while the job's thread runs (``finished`` may still be on its way)."""
        return self._thread.isRunning()

    def is_cancel_requested(self) -> bool:
        return self._cancel_flag.is_set()

    def is_done(self) -> bool:
        """True once ``finished`` was emitted."""
        return self._done

    def wait(self, ms: int | None = None) -> bool:
        """Block until the thread ends or ``ms`` elapse (None: no limit); True when it ended."""
        if ms is None:
            return self._thread.wait()
        return self._thread.wait(max(0, int(ms)))

    def detach(self) -> None:
        """Let a still-running worker outlive its parent (the closing window).

        Deleting a QThread that still runs aborts the process, so the worker is reparented to
        nothing and kept until :func:`wait_for_detached` joins it (call that after the event
        loop ends). Its job was cancelled; it stops at its next check.
        """
        self.cancel()
        if self._thread.isRunning():
            self.setParent(None)
            _detached.add(self)

    @Slot(float, float)
    def _on_progress(self, done: float, total: float) -> None:
        self.progress.emit(done, total)

    @Slot(object)
    def _on_event(self, item: object) -> None:
        self.event.emit(item)

    @Slot(str, object)
    def _on_outcome(self, kind: str, payload: object) -> None:
        if kind == Outcome.RESULT:
            self.result.emit(payload)
        elif kind == Outcome.ERROR:
            self.error.emit(str(payload))
        else:
            self.cancelled.emit()
        self._done = True
        # The outcome is the thread's last act: let it end, so that after ``finished`` the
        # thread is over (nothing of it outlives the worker, whoever drops the worker then).
        self._thread.wait()
        self.finished.emit()


def wait_for_detached(timeout_ms: int | None = None) -> bool:
    """Join the workers left by :meth:`JobWorker.detach` (each up to ``timeout_ms``, None:
    as long as it takes); True when all ended."""
    for worker in list(_detached):
        if worker.wait(timeout_ms):
            _detached.discard(worker)
    return not _detached


class ModelLoader(JobWorker):
    """Loads ``xy_tokenizer.load(checkpoint, config, device, dtype)`` on the worker thread.

    ``result`` carries the Codec. torch is imported in the worker, never in the GUI thread
    before the window shows.
    """

    def __init__(self, checkpoint: Path | None, config: Path | None = None, device: str = "auto",
                 dtype: str = "float32", parent: QObject | None = None):
        def load(report_progress: ReportProgress, is_cancelled: IsCancelled):
            import xy_tokenizer

            return xy_tokenizer.load(checkpoint, config=config, device=device, dtype=dtype)

        super().__init__(load, name="model loader", parent=parent)
        self.checkpoint, self.config, self.device, self.dtype = checkpoint, config, device, dtype
