"""Measure every reconstruction against its original, on a worker, one file at a time.

:class:`MetricsQueue` watches the file list: when a row gets a new result that has an
original (audio that was reconstructed, not a decoded token file), the row's old metrics are
cleared and the new ones computed by :func:`measure` on the task runner's ``metrics`` lane
(a newer result of the same file replaces a measurement still waiting; one whose row changed
or went before its turn is not measured), then stored in the row (``metrics``: name -> value,
``metric_notes``: name -> why a value is NaN). Nothing is computed on the GUI thread.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from xy_tokenizer.analysis import metrics as engine_metrics
from xy_tokenizer.analysis.metrics import METRIC_NAMES, METRICS_SAMPLE_RATE, align
from xy_tokenizer.errors import Cancelled
from xy_tokenizer.io.audio import resample

from .file_list import FileListModel
from .tasks import METRICS, TaskRunner
from .worker import JobWorker

log = logging.getLogger(__name__)

#: How each metric of METRIC_NAMES is called on aligned signals (reference, estimate, rate,
#: notes), as :func:`xy_tokenizer.analysis.metrics.compute_metrics` calls them; one at a time
#: so that a measurement can be cancelled between them (PESQ of a long file takes seconds).
_METRICS: dict[str, Callable[[np.ndarray, np.ndarray, int, dict], float]] = {
    "log_mel_distance": lambda ref, est, sr, notes: engine_metrics.log_mel_distance(ref, est, sr),
    "mrstft_distance": lambda ref, est, sr, notes: engine_metrics.mrstft_distance(ref, est, sr),
    "si_sdr": lambda ref, est, sr, notes: engine_metrics.si_sdr(ref, est, notes=notes),
    "stoi": lambda ref, est, sr, notes: engine_metrics.stoi(ref, est, sr, notes=notes),
    "pesq_wb": lambda ref, est, sr, notes: engine_metrics.pesq_wb(ref, est, sr, notes=notes),
    "pesq_nb": lambda ref, est, sr, notes: engine_metrics.pesq_nb(ref, est, sr, notes=notes),
    "f0_corr": lambda ref, est, sr, notes: engine_metrics.f0_correlation(ref, est, sr, notes=notes),
}


def measure(original: np.ndarray, original_rate: int, audio: np.ndarray, sample_rate: int,
            cancel: Callable[[], bool] | None = None) -> tuple[dict[str, float], dict[str, str]]:
    """Quality of ``audio`` (N,) at ``sample_rate`` against ``original`` (M,) at ``original_rate``.

    Both are resampled to :data:`~xy_tokenizer.analysis.metrics.METRICS_SAMPLE_RATE`
    (:func:`xy_tokenizer.io.audio.resample`), aligned, and measured as ``compute_metrics``
    does. Returns ``(values, notes)``: every metric of METRIC_NAMES, and why those that are
    NaN are NaN. Raises :class:`~xy_tokenizer.errors.Cancelled` between metrics once
    ``cancel()`` is true.
    """
    missing = [name for name in METRIC_NAMES if name not in _METRICS]
    if missing:
        raise RuntimeError(f"the studio does not know how to compute {', '.join(missing)}")
    reference = resample(original, original_rate, METRICS_SAMPLE_RATE)
    estimate = resample(audio, sample_rate, METRICS_SAMPLE_RATE)
    reference, estimate, _ = align(reference, estimate)
    values: dict[str, float] = {}
    notes: dict[str, str] = {}
    for name in METRIC_NAMES:
        if cancel is not None and cancel():
            raise Cancelled("quality metrics cancelled")
        values[name] = _METRICS[name](reference, estimate, METRICS_SAMPLE_RATE, notes)
    return values, notes


def measurable(row: Any) -> bool:
    """Whether the row has a reconstruction and the original it came from."""
    return row.has_result and row.result.original is not None and row.result.audio is not None


class MetricsQueue(QObject):
    """Computes the metrics of each new reconstruction in the file list.

    Signals: ``measured(int uid)`` once a row's metrics are stored.
    """

    measured = Signal(int)

    def __init__(self, files: FileListModel, tasks: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.files = files
        self.tasks = tasks
        files.resultChanged.connect(self._on_result_changed)

    def _on_result_changed(self, uid: int) -> None:
        row = self.files.by_uid(uid)
        if row is None:
            return
        if row.metrics is not None or row.metric_notes:
            self.files.update(uid, metrics=None, metric_notes={})
        if not measurable(row):
            return
        result = row.result
        original_rate, rate = row.codec.input_sample_rate, row.codec.output_sample_rate

        def job(_report_progress, is_cancelled):
            # looked up when it runs: tests wrap the module's function
            return measure(result.original, original_rate, result.audio, rate, is_cancelled)

        worker = JobWorker(job, name="quality metrics", parent=self)
        worker.result.connect(lambda outcome: self._store(uid, result, *outcome))
        worker.error.connect(lambda message: self._failed(uid, result, message))
        self.tasks.submit(worker, METRICS, key=uid, wanted=lambda: self._current(uid, result))

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
