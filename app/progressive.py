"""Progressive levels: decode the current file from its first k levels only, k = 1..levels.

:class:`ProgressiveControl` is a "Decode with first k levels" slider (disabled for codes of
one level, e.g. an FSQ codec). Moving it decodes the file's codes with ``num_quantizers=k`` on
the task runner's ``decode`` lane (latest request wins: a new k cancels the running decode and
replaces the waiting one) and hands the result over as the reconstruction (view and player B) with its label; k = all levels gives
back the file's own full reconstruction. Decodes are cached per (file, k, model): the model
is its checkpoint path, variant and precision, so another checkpoint decodes afresh.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget

from .provenance import reconstruction_label
from .tasks import DECODE, TaskRunner
from .worker import JobWorker

log = logging.getLogger(__name__)

#: Decoded reconstructions kept (least recently used ones are dropped first).
MAX_CACHED = 16


def model_key(codec: Any) -> tuple[str, str, str]:
    """What makes two decodes of the same codes differ: checkpoint path, variant, precision."""
    return str(codec.checkpoint_path), str(codec.variant), str(codec.precision)


class ProgressiveControl(QWidget):
    """Slider "Decode with first k levels" for the current file.

    :meth:`set_file` gives it a file (its uid, FileResult with codes ``(n, T)`` and full
    reconstruction, and the codec that made it); the slider then runs 1..n and starts at n.

    Signals:
        reconstructionReady(object samples, int sample_rate, str label): the reconstruction
            to show for the chosen k: samples (T * codec.output_samples_per_token,) float32.
    """

    reconstructionReady = Signal(object, int, str)

    def __init__(self, tasks: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("progressiveLevels")
        self.tasks = tasks
        self._uid: int | None = None
        self._result: Any = None
        self._codec: Any = None
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._decoded_from: dict[int, np.ndarray] = {}   # uid -> the codes its cache entries came from

        self.title = QLabel("Decode with first")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("levelsSlider")
        self.slider.setRange(1, 1)
        self.slider.setPageStep(1)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setTickInterval(1)
        self.slider.setTracking(False)       # decode on release, not on every step of a drag
        self.slider.setMinimumWidth(120)
        self.slider.setToolTip("Listen to and view the file decoded from its first k residual levels only")
        self.value_label = QLabel()
        self.value_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("88/88 levels  decoding 100%"))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.value_label)
        self.slider.valueChanged.connect(self._on_value)
        self.slider.sliderMoved.connect(lambda k: self._show_value(k))
        self.set_file(None, None, None)

    # public ------------------------------------------------------------------------------
    def set_file(self, uid: int | None, result: Any, codec: Any) -> None:
        """Work on this file: ``result`` a FileResult with ``codes`` (n, T) and ``audio`` (the
        full reconstruction by ``codec``). None clears. The slider goes back to n."""
        self._cancel_running()
        self._uid, self._result, self._codec = uid, result, codec
        usable = result is not None and codec is not None and result.codes is not None
        levels = int(result.codes.shape[0]) if usable else (codec.num_quantizers if codec is not None else 1)
        if usable and self._decoded_from.get(uid) is not result.codes:
            self.forget(uid)
            self._decoded_from[uid] = result.codes
        self.slider.blockSignals(True)
        self.slider.setRange(1, levels)
        self.slider.setValue(levels)
        self.slider.blockSignals(False)
        self.setEnabled(usable and levels > 1)
        self._show_value(levels)

    def levels(self) -> int:
        """The chosen k."""
        return self.slider.value()

    def total_levels(self) -> int:
        """Levels of the current file's codes (the slider's maximum)."""
        return self.slider.maximum()

    def label(self, k: int | None = None) -> str:
        """Label of the current file's reconstruction from ``k`` levels (default: the chosen k)."""
        k = self.levels() if k is None else k
        return reconstruction_label(self._codec, self._result, k, self.total_levels())

    def set_levels(self, k: int) -> None:
        """Choose k as the slider does (clamped to 1..levels)."""
        self.slider.setValue(k)

    def is_busy(self) -> bool:
        return self.tasks.is_busy(DECODE)

    def cached(self, uid: int, k: int, codec: Any) -> np.ndarray | None:
        """The cached k-level decode of file ``uid`` by ``codec``'s model, None if not cached."""
        return self._cache.get((uid, k, model_key(codec)))

    def forget(self, uid: int) -> None:
        """Drop the cached decodes of file ``uid`` (removed from the list, or re-run)."""
        for key in [key for key in self._cache if key[0] == uid]:
            del self._cache[key]
        self._decoded_from.pop(uid, None)

    # decoding ----------------------------------------------------------------------------
    def _show_value(self, k: int, note: str = "") -> None:
        self.value_label.setText(f"{k}/{self.slider.maximum()} levels" + (f"  {note}" if note else ""))

    def _on_value(self, k: int) -> None:
        self._show_value(k)
        if self._result is None or self._codec is None:
            return
        self._cancel_running()
        if k == self.total_levels():
            self.reconstructionReady.emit(self._result.audio, self._codec.output_sample_rate, self.label(k))
            return
        key = (self._uid, k, model_key(self._codec))
        audio = self._cache.get(key)
        if audio is not None:
            self._cache.move_to_end(key)
            self.reconstructionReady.emit(audio, self._codec.output_sample_rate, self.label(k))
            return
        codes, codec = self._result.codes, self._codec

        def decode(report_progress, is_cancelled):
            return codec.decode([codes], num_quantizers=k, progress=report_progress, cancel=is_cancelled)[0]

        worker = JobWorker(decode, name=f"decode with {k} levels", parent=self)
        worker.started.connect(lambda: self._on_progress(key, 0.0, 1.0))
        worker.progress.connect(lambda done, total: self._on_progress(key, done, total))
        worker.result.connect(lambda audio: self._on_result(key, audio))
        worker.error.connect(lambda message: self._on_error(k, message))
        # latest request wins: the running decode is cancelled, a waiting one replaced
        self.tasks.submit(worker, DECODE, key=DECODE, cancel_running=True)

    def _is_current(self, key: tuple) -> bool:
        return (self._codec is not None and key == (self._uid, self.levels(), model_key(self._codec)))

    def _on_progress(self, key: tuple, done: float, total: float) -> None:
        if self._is_current(key):
            self._show_value(key[1], f"decoding {int(100 * done / total) if total else 0}%")

    def _on_result(self, key: tuple, audio: np.ndarray) -> None:
        self._cache[key] = audio
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)
        if self._is_current(key):
            self._show_value(key[1])
            self.reconstructionReady.emit(audio, self._codec.output_sample_rate, self.label(key[1]))

    def _on_error(self, k: int, message: str) -> None:
        log.error("decoding with the first %d levels failed: %s", k, message)
        self._show_value(self.levels(), "failed")

    def _cancel_running(self) -> None:
        self.tasks.cancel_lane(DECODE)
