"""Reads a file's audio in the background so the original can be seen and heard before
(or without) processing it.

Reads run on the task runner's ``preview`` lane, one at a time; a request made while one runs
replaces any request still waiting (latest request wins), so scrolling through a long list
reads only the last file. The last few reads are kept, so going back to a file shows it at
once (and the views find their cached drawings of the same array).
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from .tasks import PREVIEW, TaskRunner
from .worker import JobWorker

#: Files whose samples are kept for going back to them.
KEEP_READS = 4


class AudioPreview(QObject):
    """``request(uid, path)`` -> ``ready(uid, samples (n,) float32 at sample_rate, sample_rate)``
    or ``failed(uid, message)``.

    Files are read at their own rate, or at :attr:`sample_rate` once a model is loaded (its
    input rate, :meth:`set_sample_rate`), so that the original looks as the model hears it.
    """

    ready = Signal(int, object, int)
    failed = Signal(int, str)

    def __init__(self, tasks: TaskRunner, parent: QObject | None = None):
        super().__init__(parent)
        self.tasks = tasks
        #: Rate files are read at (the loaded codec's input rate); None: each file's own rate.
        self.sample_rate: int | None = None
        self._kept: OrderedDict[tuple[int, Path, int | None], tuple[object, int]] = OrderedDict()

    def set_sample_rate(self, rate: int | None) -> None:
        """Read at ``rate`` from now on (reads kept at another rate are forgotten)."""
        if rate != self.sample_rate:
            self.sample_rate = rate
            self._kept.clear()

    def request(self, uid: int, path: Path) -> None:
        key = (uid, Path(path), self.sample_rate)
        if key in self._kept:
            self.drop_pending()
            self._kept.move_to_end(key)
            self.ready.emit(uid, *self._kept[key])
            return
        rate = self.sample_rate

        def read(report_progress, is_cancelled):
            from xy_tokenizer.io.audio import audio_info, load_audio

            target = rate or audio_info(path).sample_rate
            return load_audio(path, target)[0], target

        worker = JobWorker(read, name="preview", parent=self)
        worker.result.connect(lambda value: self._keep(key, *value))
        worker.error.connect(lambda message: self.failed.emit(uid, message))
        self.tasks.submit(worker, PREVIEW, key=PREVIEW)

    def _keep(self, key: tuple, samples, rate: int) -> None:
        self._kept[key] = (samples, rate)
        while len(self._kept) > KEEP_READS:
            self._kept.popitem(last=False)
        self.ready.emit(key[0], samples, rate)

    def drop_pending(self) -> None:
        """Forget the request waiting behind the running read."""
        for worker in self.tasks.queued(PREVIEW):
            self.tasks.discard(worker)
