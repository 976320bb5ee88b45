"""Keep the model busy: read the next files on a background thread, write outputs behind it.

:class:`ReadAhead` runs a job's per-file preparation (output checks, reading, decoding,
resampling) on a background thread, in input order, and hands the results over in *windows*:
groups of files holding about :data:`WINDOW_SECONDS` of audio that the runner sorts by length
and batches. While the runner works through one window the thread reads the next, so memory
holds at most two windows of audio (plus the one file being read): the bound is seconds of
audio, whatever the files' lengths. :class:`BehindWriter` writes a batch's outputs on another
thread while the model computes the next batch.

Both take ``threaded=False`` to do the same work inline, in the same order (the plain loop:
benchmarks compare the two, and a caller that wants no threads gets none).

:func:`is_out_of_memory` recognises an accelerator's out-of-memory error so that the runner
can halve its batch and retry.
"""
from __future__ import annotations

import collections
import logging
import sys
import threading
from typing import Any, Callable, Iterator, Sequence

log = logging.getLogger(__name__)

#: Seconds of audio grouped into one window (sorted by length, then batched); the reader
#: thread keeps at most one more window ready, so about 2 x this is held at once (at 16 kHz
#: float32: 300 s = 19 MB).
WINDOW_SECONDS = 300.0
#: A window also closes after this many batches of files (many short files: steady progress).
WINDOW_BATCHES = 8
#: Batches whose outputs may wait for the writer thread while the model runs the next one.
WRITES_IN_FLIGHT = 1


def is_out_of_memory(exc: BaseException) -> bool:
    """True for an accelerator out-of-memory error (CUDA, MPS, ROCm), without importing torch."""
    torch = sys.modules.get("torch")
    oom_type = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None) if torch else None
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and "out of memory" in text and any(
        device in text for device in ("cuda", "mps", "hip", "xpu"))


def free_accelerator_memory() -> None:
    """Return cached blocks to the device after an out-of-memory error (no-op without CUDA)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


class _Stop(Exception):
    """The reader thread was asked to stop."""


class ReadAhead:
    """Prepared files in input order, in windows of bounded audio duration.

    ``prepare(entry)`` turns one input into an outcome (loaded audio, or an event for a file
    skipped or failed); ``seconds(outcome)`` is the audio it holds (0 for events). Iterate
    :meth:`windows`: each window is a list of outcomes holding at least ``window_seconds`` of
    audio or ``window_files`` files (the last one: what is left). With ``threaded`` the next
    window is prepared on a background thread while the caller works on the current one; the
    thread stops at ``cancel()`` or :meth:`close`. An exception ``prepare`` lets through (it
    should turn file errors into outcomes) is raised again by :meth:`windows`.
    """

    def __init__(self, entries: Sequence[Any], prepare: Callable[[Any], Any], seconds: Callable[[Any], float], *,
                 window_seconds: float = WINDOW_SECONDS, window_files: int | None = None,
                 threaded: bool = True, cancel: Callable[[], bool] | None = None) -> None:
        self.entries, self.prepare, self.seconds = list(entries), prepare, seconds
        self.window_seconds = window_seconds
        self.window_files = window_files or max(1, len(self.entries))
        self.threaded, self.cancel = threaded, cancel
        self._ready: collections.deque = collections.deque()   # outcomes read, not yet handed out
        self._held = 0.0            # seconds read ahead and not yet handed out
        self._done = False          # every entry was prepared
        self._error: BaseException | None = None
        self._stop = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        #: The most seconds of audio held at once (read ahead + the window handed out), for tests.
        self.peak_seconds = 0.0
        self._window_held = 0.0
        self._index = 0             # next entry to prepare inline (threaded=False)
        #: True when ``cancel()`` stopped the reading before every entry was prepared.
        self.stopped_early = False

    # -- the reader thread
    def _cancelled(self) -> bool:
        return self._stop or (self.cancel is not None and self.cancel())

    def _run(self) -> None:
        try:
            for entry in self.entries:
                with self._cond:
                    # Read on while less than one window waits beyond the one handed out.
                    while not self._cancelled() and self._held >= self.window_seconds:
                        self._cond.wait(0.25)
                if self._cancelled():
                    raise _Stop
                outcome = self.prepare(entry)
                with self._cond:
                    self._ready.append(outcome)
                    self._held += self.seconds(outcome)
                    self.peak_seconds = max(self.peak_seconds, self._held + self._window_held)
                    self._cond.notify_all()
        except _Stop:
            with self._cond:
                self.stopped_early = not self._stop or self.stopped_early
        except BaseException as exc:          # handed to the caller's thread
            with self._cond:
                self._error = exc
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="xytok-read-ahead", daemon=True)
            self._thread.start()

    # -- the caller's side
    def _take(self) -> tuple[Any, bool]:
        """The next outcome (waiting for the thread) and whether there was one."""
        if not self.threaded:
            if not self._ready:
                if self._index >= len(self.entries):
                    return None, False
                self._ready.append(self.prepare(self.entries[self._index]))
                self._index += 1
            return self._ready.popleft(), True
        with self._cond:
            while not self._ready and not self._done:
                self._cond.wait(0.25)
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            if not self._ready:
                return None, False
            outcome = self._ready.popleft()
            self._held -= self.seconds(outcome)
            self._cond.notify_all()
            return outcome, True

    def windows(self) -> Iterator[list[Any]]:
        """Lists of outcomes in input order; see the class docstring."""
        if self.threaded:
            self._start()
        try:
            while True:
                if not self.threaded and self._index < len(self.entries) and self._cancelled():
                    self.stopped_early = True
                    return
                window, seconds = [], 0.0
                with self._cond:
                    self._window_held = 0.0
                while seconds < self.window_seconds and len(window) < self.window_files:
                    outcome, found = self._take()
                    if not found:
                        break
                    window.append(outcome)
                    seconds += self.seconds(outcome)
                    with self._cond:
                        self._window_held = seconds
                        self.peak_seconds = max(self.peak_seconds, self._held + seconds)
                if not window:
                    return
                yield window
        finally:
            self.close()

    def close(self) -> None:
        """Stop the reader thread (after the file it is reading) and wait for it."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()


class BehindWriter:
    """Runs write jobs (callables returning a job event) in submission order on one thread.

    :meth:`submit` queues a batch's jobs (waiting while :data:`WRITES_IN_FLIGHT` batches are
    queued); :meth:`collect` waits for everything submitted and returns its events in order.
    With ``threaded=False`` :meth:`submit` runs the jobs at once. An exception a job lets
    through is raised by :meth:`collect`.
    """

    def __init__(self, *, threaded: bool = True) -> None:
        self.threaded = threaded
        self._results: list[Any] = []
        self._pending: collections.deque = collections.deque()   # batches of jobs not yet run
        self._running = 0
        self._error: BaseException | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                jobs = self._pending.popleft()
                self._running += 1
            try:
                events = [job() for job in jobs]
            except BaseException as exc:
                with self._cond:
                    self._error = exc
                    self._running -= 1
                    self._cond.notify_all()
                continue
            with self._cond:
                self._results.extend(events)
                self._running -= 1
                self._cond.notify_all()

    def submit(self, jobs: Sequence[Callable[[], Any]]) -> None:
        if not self.threaded:
            self._results.extend(job() for job in jobs)
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="xytok-writer", daemon=True)
            self._thread.start()
        with self._cond:
            while len(self._pending) >= WRITES_IN_FLIGHT:
                self._cond.wait()
            self._pending.append(list(jobs))
            self._cond.notify_all()

    def collect(self) -> list[Any]:
        """Events of every job submitted so far, in order (waits for the ones still running)."""
        with self._cond:
            while self._pending or self._running:
                self._cond.wait()
            results, self._results = self._results, []
            if self._error is not None:
                error, self._error = self._error, None
                raise error
        return results

    def close(self) -> None:
        """Finish the jobs submitted (their files are complete) and end the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
