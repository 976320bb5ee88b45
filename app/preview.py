"""Reads a file's audio in the background so the original can be seen and heard before
(or without) processing it.

One read at a time on a :class:`~app.worker.JobWorker`; a request made while one runs replaces
any request still waiting, so scrolling through a long list reads only the last file. The
last few reads are kept, so going back to a file shows it at once (and the views find their
cached drawings of the same array).
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from xy_tokenizer.codecs.xy.constants import INPUT_SAMPLE_RATE
from PySide6.QtCore import QObject, Signal

from .worker import JobWorker

#: Files whose samples are kept for going back to them.
KEEP_READS = 4


class AudioPreview(QObject):
    """``request(uid, path)`` -> ``ready(uid, samples (n,) float32 at 16 kHz)`` or ``failed(uid, message)``."""

    ready = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        #: Rate the preview reads files at (the loaded codec's input rate).
        self.sample_rate = INPUT_SAMPLE_RATE
        self.worker: JobWorker | None = None
        self._pending: tuple[int, Path] | None = None
        self._kept: OrderedDict[tuple[int, Path], object] = OrderedDict()

    def request(self, uid: int, path: Path) -> None:
        key = (uid, Path(path))
        if key in self._kept:
            self._pending = None
            self._kept.move_to_end(key)
            self.ready.emit(uid, self._kept[key])
            return
        self._pending = key
        if self.worker is None:
            self._next()

    def _next(self) -> None:
        if self._pending is None:
            return
        uid, path = self._pending
        self._pending = None

        def read(report_progress, is_cancelled):
            from xy_tokenizer.io.audio import load_audio

            return load_audio(path, self.sample_rate)[0]

        worker = JobWorker(read, name="preview", parent=self)
        worker.result.connect(lambda samples: self._keep(uid, path, samples))
        worker.error.connect(lambda message: self.failed.emit(uid, message))
        worker.finished.connect(self._on_finished)
        self.worker = worker
        worker.start()

    def _keep(self, uid: int, path: Path, samples) -> None:
        self._kept[(uid, path)] = samples
        while len(self._kept) > KEEP_READS:
            self._kept.popitem(last=False)
        self.ready.emit(uid, samples)

    def _on_finished(self) -> None:
        self.worker = None
        self._next()

    def drop_pending(self) -> None:
        """Forget the request waiting behind the running read."""
        self._pending = None
