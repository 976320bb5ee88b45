"""One queue of background work for the studio: load the model, process files, export.

Tasks run one at a time on a :class:`~app.worker.JobWorker`. Processing needs the model; it is
loaded first when missing (``xy_tokenizer.load`` runs on the worker, so torch is imported
there). Job events update the rows of the :class:`~app.file_list.FileListModel` by uid, so the
list may change while a job runs.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from xy_tokenizer.jobs import JobItem, JobOptions, run_job

from .export_dialog import ExportChoice, export_groups
from .file_list import (AUDIO, CANCELLED, DECODED, DONE, FAILED, QUEUED, READY, RUNNING, TOKENS,
                        FileListModel)
from .worker import JobWorker, ModelLoader

log = logging.getLogger(__name__)

#: Job mode per kind of row.
MODE_FOR_KIND = {AUDIO: "reconstruct", TOKENS: "decode"}


@dataclass(frozen=True)
class ModelSource:
    """What ``xy_tokenizer.load`` is called with; ``checkpoint=None`` is the default model."""

    checkpoint: Path | None = None
    config: Path | None = None
    device: str = "auto"
    dtype: str = "float32"


@dataclass
class _Task:
    kind: str                              # "load" | "process" | "export"
    mode: str = ""                         # process: "reconstruct" | "decode"
    uids: list[int] = field(default_factory=list)
    options: JobOptions | None = None
    export: tuple[list, ExportChoice, bool] | None = None   # (groups, choice, overwrite)
    codec: Any = None                      # process: the model the job runs with
    running: set[int] = field(default_factory=set)
    finished: int = 0

    @property
    def needs_model(self) -> bool:
        return self.kind == "process"


class JobController(QObject):
    """Runs load/process/export tasks in order and reports through signals.

    Signals: ``modelLoaded(codec)``, ``modelFailed(message)``, ``busyChanged(bool)``,
    ``progressChanged(overall, current)`` (fractions 0..1; current is -1 when no file runs,
    overall -1 while the model loads),
    ``taskStarted(text)``, ``taskEnded(text)``, ``exportEnded(summary)``, ``idle()`` (the queue
    ran empty).
    """

    modelLoaded = Signal(object)
    modelFailed = Signal(str)
    busyChanged = Signal(bool)
    progressChanged = Signal(float, float)
    taskStarted = Signal(str)
    taskEnded = Signal(str)
    exportEnded = Signal(object)
    idle = Signal()

    def __init__(self, files: FileListModel, parent: QObject | None = None):
        super().__init__(parent)
        self.files = files
        self.codec: Any = None
        self.source = ModelSource()
        self.worker: JobWorker | None = None
        self._task: _Task | None = None
        self._queue: deque[_Task] = deque()

    # public ------------------------------------------------------------------------------
    def is_busy(self) -> bool:
        return self.worker is not None or bool(self._queue)

    def set_model_source(self, source: ModelSource) -> None:
        """Use ``source`` from now on; the loaded model is dropped if it differs."""
        if source != self.source:
            self.source = source
            self.codec = None

    def load_model(self) -> None:
        """Load the model now (after the running task) unless it is loaded or loading."""
        if self.codec is None and not any(t.kind == "load" for t in self._all_tasks()):
            self._queue.appendleft(_Task("load"))
            self._pump()

    def process(self, uids: list[int], *, overlap: float, batch_size: int) -> int:
        """Queue the files ``uids``: audio is reconstructed, token files decoded.

        Rows already queued or running are left alone. Returns the number of files queued.
        """
        queued = 0
        for kind, mode in MODE_FOR_KIND.items():
            chosen = [uid for uid in uids if (row := self.files.by_uid(uid)) is not None
                      and row.kind == kind and row.status not in (QUEUED, RUNNING)]
            if not chosen:
                continue
            for uid in chosen:
                self.files.update(uid, status=QUEUED, progress=0.0, message="")
            options = JobOptions(mode=mode, out_dir=None, batch_size=batch_size, overlap=overlap,
                                 keep_arrays=True)
            self._queue.append(_Task("process", mode=mode, uids=chosen, options=options))
            queued += len(chosen)
        self._pump()
        return queued

    def export(self, groups: list[tuple[Any, list]], choice: ExportChoice, *, overwrite: bool) -> None:
        """Queue an export of ``(codec, FileResults)`` groups (see ``export_groups``)."""
        self._queue.append(_Task("export", export=(groups, choice, overwrite)))
        self._pump()

    def cancel(self) -> None:
        """Cancel the running task and drop the queued ones."""
        for task in self._queue:
            self._settle_rows(task, CANCELLED, "cancelled before it started")
        self._queue.clear()
        if self.worker is not None:
            self.worker.cancel()

    # queue -------------------------------------------------------------------------------
    def _all_tasks(self) -> list[_Task]:
        return ([self._task] if self._task is not None else []) + list(self._queue)

    def _pump(self) -> None:
        if self.worker is not None:
            return
        if not self._queue:
            self.busyChanged.emit(False)
            self.progressChanged.emit(0.0, -1.0)
            self.idle.emit()
            return
        if self._queue[0].needs_model and self.codec is None:
            self._queue.appendleft(_Task("load"))
        task = self._queue.popleft()
        self._task = task
        worker = self._make_worker(task)
        worker.finished.connect(lambda: self._on_finished(task))
        self.worker = worker
        self.busyChanged.emit(True)
        worker.start()

    def _make_worker(self, task: _Task) -> JobWorker:
        if task.kind == "load":
            src = self.source
            worker = ModelLoader(src.checkpoint, src.config, src.device, src.dtype, parent=self)
            worker.result.connect(self._on_model)
            worker.error.connect(self._on_model_error)
            self.taskStarted.emit("Loading the model\u2026")
            self.progressChanged.emit(-1.0, -1.0)
            log.info("loading the model %s (device %s, %s)",
                     src.checkpoint or "(default model)", src.device, src.dtype)
            return worker
        if task.kind == "process":
            task.codec = codec = self.codec
            items = self._items(task)

            def job(report_progress, is_cancelled):
                return run_job(codec, items, task.options, cancel=is_cancelled,
                               on_progress=report_progress)

            worker = JobWorker(job, name=task.mode, parent=self)
            worker.event.connect(lambda event: self._on_job_event(task, event))
            worker.progress.connect(lambda done, total: self._on_job_progress(task, done, total))
            worker.error.connect(lambda message: self._on_job_error(task, message))
            worker.cancelled.connect(lambda: self._settle_rows(task, CANCELLED, "cancelled"))
            verb = "Reconstructing" if task.mode == "reconstruct" else "Decoding"
            self.taskStarted.emit(f"{verb} {len(items)} file{'s' * (len(items) != 1)}\u2026")
            return worker
        groups, choice, overwrite = task.export

        def export(report_progress, is_cancelled):
            return export_groups(groups, choice, overwrite=overwrite, cancel=is_cancelled)

        worker = JobWorker(export, name="export", parent=self)
        worker.event.connect(self._on_export_event)
        worker.error.connect(lambda message: log.error("export failed: %s", message))
        worker.cancelled.connect(lambda: log.warning("export cancelled; files written so far are complete"))
        self.taskStarted.emit(f"Exporting to {choice.out_dir}\u2026")
        return worker

    def _items(self, task: _Task) -> list[JobItem]:
        items, kept = [], []
        for uid in task.uids:
            row = self.files.by_uid(uid)
            if row is not None:
                items.append(JobItem(row.path, row.rel))
                kept.append(uid)
        task.uids = kept
        return items

    def _on_finished(self, task: _Task) -> None:
        self._settle_rows(task, CANCELLED, "cancelled")
        self.worker = None
        self._task = None
        self._pump()

    # model -------------------------------------------------------------------------------
    def _on_model(self, codec: Any) -> None:
        self.codec = codec
        log.info("model ready: %s", codec.describe())
        self.taskEnded.emit("Model ready")
        self.modelLoaded.emit(codec)

    def _on_model_error(self, message: str) -> None:
        log.error("the model could not be loaded: %s", message)
        for task in [t for t in self._queue if t.needs_model]:
            self._settle_rows(task, READY, f"not processed: the model could not be loaded ({message})")
            self._queue.remove(task)
        self.taskEnded.emit("The model could not be loaded")
        self.modelFailed.emit(message)

    # processing --------------------------------------------------------------------------
    def _uid(self, task: _Task, index: int) -> int | None:
        return task.uids[index] if 0 <= index < len(task.uids) else None

    def _on_job_event(self, task: _Task, event: Any) -> None:
        uid = self._uid(task, event.index)
        kind = event.kind
        if kind == "file_started" and uid is not None:
            task.running.add(uid)
            self.files.update(uid, status=RUNNING, progress=0.0)
        elif kind in ("file_done", "file_failed", "file_skipped") and uid is not None:
            task.running.discard(uid)
            task.finished += 1
            if kind == "file_done":
                codes = event.result.codes
                self.files.update(uid, status=DONE if task.mode == "reconstruct" else DECODED,
                                  progress=1.0, message="", result=event.result, codec=task.codec,
                                  levels=int(codes.shape[0]), frames=int(codes.shape[1]),
                                  **({"sample_rate": task.codec.output_sample_rate}
                                     if task.mode == "decode" else {}))
            else:
                self.files.update(uid, status=FAILED, progress=0.0, message=event.message)
                log.warning("%s", event.message)
        elif kind in ("finished", "cancelled"):
            log.info("%s", event.message)
            self.taskEnded.emit(event.message)

    def _on_job_progress(self, task: _Task, done: float, total: float) -> None:
        overall = done / total if total else 1.0
        current = -1.0
        if task.running:
            current = min(1.0, max(0.0, (done - task.finished) / len(task.running)))
            for uid in task.running:
                self.files.update(uid, progress=current)
        self.progressChanged.emit(overall, current)

    def _on_job_error(self, task: _Task, message: str) -> None:
        log.error("%s job failed: %s", task.mode, message)
        self._settle_rows(task, FAILED, message)
        self.taskEnded.emit(f"The job failed: {message}")

    def _settle_rows(self, task: _Task, status: str, message: str) -> None:
        """Rows of ``task`` still queued or running get ``status`` (job ended without them)."""
        for uid in task.uids:
            row = self.files.by_uid(uid)
            if row is not None and row.status in (QUEUED, RUNNING):
                self.files.update(uid, status=status, progress=0.0, message=message)
        task.running.clear()

    # export ------------------------------------------------------------------------------
    def _on_export_event(self, event: Any) -> None:
        if event.kind == "file_done":
            names = ", ".join(p.name for p in event.result.outputs)
            log.info("exported %s: %s", event.item.path.name, names)
        elif event.kind == "file_skipped":
            log.info("%s", event.message)
        elif event.kind == "file_failed":
            log.error("%s", event.message)
        elif event.kind == "progress":
            self.progressChanged.emit(event.done / event.total if event.total else 1.0, -1.0)
        elif event.kind in ("finished", "cancelled"):
            log.info("%s", event.message)
            self.taskEnded.emit(event.message)
            self.exportEnded.emit(event.summary)
