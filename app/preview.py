"""Reads a file's audio in the background so the original can be seen and heard before
(or without) processing it.

One read at a time on a :class:`~app.worker.JobWorker`; a request made while one runs replaces
any request still waiting, so scrolling through a long list reads only the last file.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from .worker import JobWorker


class AudioPreview(QObject):
    """``request(uid, path)`` -> ``ready(uid, samples (n,) float32 at 16 kHz)`` or ``failed(uid, message)``."""

    ready = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.worker: JobWorker | None = None
        self._pending: tuple[int, Path] | None = None

    def request(self, uid: int, path: Path) -> None:
        self._pending = (uid, Path(path))
        if self.worker is None:
            self._next()

    def _next(self) -> None:
        if self._pending is None:
            return
        uid, path = self._pending
        self._pending = None

        def read(report_progress, is_cancelled):
            from xy_tokenizer.audio import load_audio

            return load_audio(path)[0]

        worker = JobWorker(read, name="preview", parent=self)
        worker.result.connect(lambda samples: self.ready.emit(uid, samples))
        worker.error.connect(lambda message: self.failed.emit(uid, message))
        worker.finished.connect(self._on_finished)
        self.worker = worker
        worker.start()

    def _on_finished(self) -> None:
        self.worker = None
        self._next()

    def drop_pending(self) -> None:
        """Forget the request waiting behind the running read."""
        self._pending = None
