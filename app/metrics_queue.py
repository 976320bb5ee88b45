"""Measure every reconstruction against its original, on a worker, one file at a time.

:class:`MetricsQueue` watches the file list: when a row gets a new result that has an
original (audio that was reconstructed, not a decoded token file), the row's old metrics are
cleared and the new ones computed by :func:`measure` on a :class:`~app.worker.JobWorker`,
then stored in the row (``metrics``: name -> value, ``metric_notes``: name -> why a value
is NaN). Nothing is computed on the GUI thread.
"""
from __future__ import annotations

import logging
import math
from collections import deque
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from xy_tokenizer.io.audio import resample
from xy_tokenizer.codecs.xy.constants import INPUT_SAMPLE_RATE
from xy_tokenizer.analysis.metrics import METRIC_NAMES, compute_metrics

from .file_list import FileListModel
from .worker import JobWorker

log = logging.getLogger(__name__)


def measure(original: np.ndarray, audio: np.ndarray, sample_rate: int) -> tuple[dict[str, float], dict[str, str]]:
    """Quality of ``audio`` (N,) at ``sample_rate`` against ``original`` (M,) at 16 kHz.

    The reconstruction is resampled to 16 kHz (:func:`xy_tokenizer.audio.resample`), then
    :func:`xy_tokenizer.metrics.compute_metrics` aligns and measures. Returns
    ``(values, notes)``: every metric of METRIC_NAMES, and why those that are NaN are NaN.
    """
    notes: dict[str, str] = {}
    estimate = resample(audio, sample_rate, INPUT_SAMPLE_RATE)
    return compute_metrics(original, estimate, INPUT_SAMPLE_RATE, notes=notes), notes


def measurable(row: Any) -> bool:
    """Whether the row has a reconstruction and the original it came from."""
    return row.has_result and row.result.original is not None and row.result.audio is not None


class MetricsQueue(QObject):
    """Computes the metrics of each new reconstruction in the file list.

    Signals: ``measured(int uid)`` once a row's metrics are stored.
    """

    measured = Signal(int)

    def __init__(self, files: FileListModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.files = files
        self.worker: JobWorker | None = None
        self._queue: deque[tuple[int, Any]] = deque()
        files.resultChanged.connect(self._on_result_changed)

    def cancel(self) -> None:
        """Drop the queued files; the running measurement is cancelled (its values are dropped)."""
        self._queue.clear()
        if self.worker is not None:
            self.worker.cancel()

    def _on_result_changed(self, uid: int) -> None:
        row = self.files.by_uid(uid)
        if row is None:
            return
        if row.metrics is not None or row.metric_notes:
            self.files.update(uid, metrics=None, metric_notes={})
        if measurable(row):
            self._queue.append((uid, row.result))
            self._pump()

    def _pump(self) -> None:
        if self.worker is not None:
            return
        while self._queue:
            uid, result = self._queue.popleft()
            row = self.files.by_uid(uid)
            if row is not None and row.result is result and measurable(row):
                self._start(uid, result, row.codec.output_sample_rate)
                return

    def _start(self, uid: int, result: Any, sample_rate: int) -> None:
        def job(_report_progress, _is_cancelled):
            return measure(result.original, result.audio, sample_rate)

        worker = JobWorker(job, name="quality metrics", parent=self)
        worker.result.connect(lambda outcome: self._store(uid, result, *outcome))
        worker.error.connect(lambda message: self._failed(uid, result, message))
        worker.finished.connect(self._on_finished)
        self.worker = worker
        worker.start()

    def _current(self, uid: int, result: Any) -> bool:
        row = self.files.by_uid(uid)
        return row is not None and row.result is result

    def _store(self, uid: int, result: Any, values: dict[str, float], notes: dict[str, str]) -> None:
        if self._current(uid, result):
            self.files.update(uid, metrics=values, metric_notes=notes)
            self.measured.emit(uid)

    def _failed(self, uid: int, result: Any, message: str) -> None:
        row = self.files.by_uid(uid)
        log.error("quality metrics of %s failed: %s", row.path.name if row else f"file {uid}", message)
        if self._current(uid, result):
            self.files.update(uid, metrics={name: math.nan for name in METRIC_NAMES},
                              metric_notes={name: message for name in METRIC_NAMES})
            self.measured.emit(uid)

    def _on_finished(self) -> None:
        self.worker = None
        self._pump()
