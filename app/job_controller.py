"""The studio's jobs: load the model, process files, export -- on the task runner's ``jobs`` lane.

Tasks run one at a time (:class:`~app.tasks.TaskRunner`). Processing needs the model; a load
is queued ahead of it when missing (``xy_tokenizer.load`` runs on the worker, so torch is
imported there). What a processing task works on (the rows still listed, the loaded codec) is
fixed when it starts, in its ``started`` slot. Job events update the rows of the
:class:`~app.file_list.FileListModel` by uid, so the list may change while a job runs.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.jobs import EventKind, JobEvent, JobItem, JobOptions, Mode, run_job

from .export_dialog import ExportChoice, export_groups
from .file_list import PENDING, FileListModel, RowKind, RowStatus
from .tasks import JOBS, TaskRunner
from .worker import JobWorker, ModelLoader

log = logging.getLogger(__name__)

#: Job mode per kind of row.
MODE_FOR_KIND = {RowKind.AUDIO: Mode.RECONSTRUCT, RowKind.TOKENS: Mode.DECODE}
#: Where a setting that the model refuses is changed (said in the failure message).
SETTINGS_HINT = "change it in Preferences (File \u203a Preferences\u2026)"


@dataclass(frozen=True)
class ModelSource:
    """What ``xy_tokenizer.load`` is called with; ``checkpoint=None`` is the default model."""

    checkpoint: Path | None = None
    config: Path | None = None
    device: str = "auto"
    dtype: str = "float32"


@dataclass(eq=False)
class _Process:
    """A processing task: its rows, and (from its start) the codec and items it runs with."""

    mode: Mode
    uids: list[int]
    options: JobOptions
    codec: Any = None
    items: list[JobItem] = field(default_factory=list)
    running: set[int] = field(default_factory=set)
    finished: int = 0
    worker: JobWorker | None = None


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

    def __init__(self, files: FileListModel, tasks: TaskRunner, parent: QObject | None = None):
        super().__init__(parent)
        self.files = files
        self.tasks = tasks
        self.codec: Any = None
        self.source = ModelSource()
        self._loader: ModelLoader | None = None
        self._processes: list[_Process] = []
        tasks.laneBusy.connect(lambda lane: lane == JOBS and self.busyChanged.emit(True))
        tasks.laneIdle.connect(self._on_lane_idle)

    # public ------------------------------------------------------------------------------
    @property
    def worker(self) -> JobWorker | None:
        """The running task's worker (None when idle)."""
        return self.tasks.running(JOBS)

    def is_busy(self) -> bool:
        return self.tasks.is_busy(JOBS)

    def set_model_source(self, source: ModelSource) -> None:
        """Use ``source`` from now on; the loaded model is dropped if it differs (a load of the
        old source is cancelled, and queued again for the new one when work waits for it)."""
        if source == self.source:
            return
        self.source = source
        self.codec = None
        if self._loader is not None:
            self.tasks.discard(self._loader)
            self._loader = None
            self.load_model()
        elif any(p.worker is not None and not p.worker.is_running() for p in self._processes):
            self.load_model()

    def load_model(self) -> None:
        """Load the model now (after the running task) unless it is loaded or loading."""
        if self.codec is not None or self._loader is not None:
            return
        src = self.source
        loader = ModelLoader(src.checkpoint, src.config, src.device, src.dtype, parent=self)
        loader.started.connect(lambda: self._on_load_started(src))
        loader.result.connect(self._on_model)
        loader.error.connect(self._on_model_error)
        loader.finished.connect(lambda: self._forget_loader(loader))
        self._loader = loader
        self.tasks.submit(loader, JOBS, front=True)

    def process(self, uids: list[int], *, overlap: float | None, batch_size: int) -> int:
        """Queue the files ``uids``: audio is reconstructed, token files decoded; ``overlap``
        None is the model's default.

        Rows already queued or running are left alone. Returns the number of files queued.
        """
        queued = 0
        for kind, mode in MODE_FOR_KIND.items():
            chosen = [uid for uid in uids if (row := self.files.by_uid(uid)) is not None
                      and row.kind == kind and row.status not in PENDING]
            if not chosen:
                continue
            for uid in chosen:
                self.files.update(uid, status=RowStatus.QUEUED, progress=0.0, message="")
            options = JobOptions(mode=mode.value, out_dir=None, batch_size=batch_size,
                                 overlap=overlap if mode == Mode.RECONSTRUCT else None, keep_arrays=True)
            self._submit_process(_Process(mode, chosen, options))
            queued += len(chosen)
        return queued

    def export(self, groups: list[tuple[Any, list]], choice: ExportChoice, *, overwrite: bool) -> None:
        """Queue an export of ``(codec, FileResults)`` groups (see ``export_groups``)."""
        def export(report_progress, is_cancelled):
            return export_groups(groups, choice, overwrite=overwrite, cancel=is_cancelled)

        worker = JobWorker(export, name="export", parent=self)
        worker.started.connect(lambda: self.taskStarted.emit(f"Exporting to {choice.out_dir}\u2026"))
        worker.event.connect(self._on_export_event)
        worker.error.connect(lambda message: log.error("export failed: %s", message))
        worker.cancelled.connect(lambda: log.warning("export cancelled; files written so far are complete"))
        self.tasks.submit(worker, JOBS)

    def cancel(self) -> None:
        """Cancel the running task and drop the queued ones."""
        self.tasks.cancel_lane(JOBS)

    # model -------------------------------------------------------------------------------
    def _on_load_started(self, src: ModelSource) -> None:
        self.taskStarted.emit("Loading the model\u2026")
        self.progressChanged.emit(-1.0, -1.0)
        log.info("loading the model %s (device %s, %s)", src.checkpoint or "(default model)", src.device, src.dtype)

    def _forget_loader(self, loader: ModelLoader) -> None:
        if self._loader is loader:
            self._loader = None

    def _on_model(self, codec: Any) -> None:
        self.codec = codec
        log.info("model ready: %s", codec.describe())
        self.taskEnded.emit("Model ready")
        self.modelLoaded.emit(codec)

    def _on_model_error(self, message: str) -> None:
        log.error("the model could not be loaded: %s", message)
        for task in [p for p in self._processes if p.worker is not None and not p.worker.is_running()]:
            self._settle_rows(task, RowStatus.READY, f"not processed: the model could not be loaded ({message})")
            self.tasks.discard(task.worker)
        self.taskEnded.emit("The model could not be loaded")
        self.modelFailed.emit(message)

    # processing --------------------------------------------------------------------------
    def _submit_process(self, task: _Process) -> None:
        def job(report_progress, is_cancelled):
            if not task.items:          # nothing left to do (rows removed, or settled at start)
                return None
            return run_job(task.codec, task.items, task.options, cancel=is_cancelled, on_progress=report_progress)

        worker = JobWorker(job, name=task.mode.value, parent=self)
        task.worker = worker
        worker.started.connect(lambda: self._on_process_started(task))
        worker.event.connect(lambda event: self._on_job_event(task, event))
        worker.progress.connect(lambda done, total: self._on_job_progress(task, done, total))
        worker.error.connect(lambda message: self._on_job_error(task, message))
        worker.cancelled.connect(lambda: self._settle_rows(
            task, RowStatus.CANCELLED, "cancelled" if worker.is_running() else "cancelled before it started"))
        worker.finished.connect(lambda: self._on_process_finished(task))
        self._processes.append(task)
        if self.codec is None:
            self.load_model()
        self.tasks.submit(worker, JOBS)

    def _on_process_started(self, task: _Process) -> None:
        """Fix what the job runs with: the loaded codec, the rows still listed. A setting the
        codec refuses fails the rows now, naming Preferences."""
        task.codec = self.codec
        kept = [uid for uid in task.uids if self.files.by_uid(uid) is not None]
        task.uids = kept
        task.items = [JobItem(row.path, row.rel) for row in map(self.files.by_uid, kept)]
        verb = "Reconstructing" if task.mode == Mode.RECONSTRUCT else "Decoding"
        self.taskStarted.emit(f"{verb} {len(task.items)} file{'s' * (len(task.items) != 1)}\u2026")
        if task.codec is None:
            task.items = []
            self._settle_rows(task, RowStatus.READY, "not processed: no model is loaded")
            return
        try:
            task.codec.check_encode_options(**task.options.encode_options())
        except XYTokenizerError as exc:
            task.items = []
            self._settle_rows(task, RowStatus.FAILED, f"{exc}; {SETTINGS_HINT}")

    def _on_process_finished(self, task: _Process) -> None:
        self._settle_rows(task, RowStatus.CANCELLED, "cancelled")
        if task in self._processes:
            self._processes.remove(task)

    def _uid(self, task: _Process, index: int) -> int | None:
        return task.uids[index] if 0 <= index < len(task.uids) else None

    def _on_job_event(self, task: _Process, event: JobEvent) -> None:
        uid = self._uid(task, event.index)
        kind = event.kind
        if kind == EventKind.FILE_STARTED and uid is not None:
            task.running.add(uid)
            self.files.update(uid, status=RowStatus.RUNNING, progress=0.0)
        elif kind in (EventKind.FILE_DONE, EventKind.FILE_FAILED, EventKind.FILE_SKIPPED) and uid is not None:
            task.running.discard(uid)
            task.finished += 1
            if kind == EventKind.FILE_DONE:
                codes = event.result.codes
                decoded = task.mode == Mode.DECODE
                self.files.update(uid, status=RowStatus.DECODED if decoded else RowStatus.DONE,
                                  progress=1.0, message="", result=event.result, codec=task.codec,
                                  levels=int(codes.shape[0]), frames=int(codes.shape[1]),
                                  **({"sample_rate": task.codec.output_sample_rate} if decoded else {}))
            else:
                self.files.update(uid, status=RowStatus.FAILED, progress=0.0, message=event.message)
                log.warning("%s", event.message)
        elif kind in (EventKind.FINISHED, EventKind.CANCELLED):
            log.info("%s", event.message)
            self.taskEnded.emit(event.message)

    def _on_job_progress(self, task: _Process, done: float, total: float) -> None:
        overall = done / total if total else 1.0
        current = -1.0
        if task.running:
            current = min(1.0, max(0.0, (done - task.finished) / len(task.running)))
            for uid in task.running:
                self.files.update(uid, progress=current)
        self.progressChanged.emit(overall, current)

    def _on_job_error(self, task: _Process, message: str) -> None:
        log.error("%s job failed: %s", task.mode.value, message)
        self._settle_rows(task, RowStatus.FAILED, message)
        self.taskEnded.emit(f"The job failed: {message}")

    def _settle_rows(self, task: _Process, status: RowStatus, message: str) -> None:
        """Rows of ``task`` still queued or running get ``status`` (job ended without them)."""
        for uid in task.uids:
            row = self.files.by_uid(uid)
            if row is not None and row.status in PENDING:
                self.files.update(uid, status=status, progress=0.0, message=message)
        task.running.clear()

    def _on_lane_idle(self, lane: str) -> None:
        if lane != JOBS:
            return
        self.busyChanged.emit(False)
        self.progressChanged.emit(0.0, -1.0)
        self.idle.emit()

    # export ------------------------------------------------------------------------------
    def _on_export_event(self, event: JobEvent) -> None:
        if event.kind == EventKind.FILE_DONE:
            names = ", ".join(p.name for p in event.result.outputs)
            log.info("exported %s: %s", event.item.path.name, names)
        elif event.kind == EventKind.FILE_SKIPPED:
            log.info("%s", event.message)
        elif event.kind == EventKind.FILE_FAILED:
            log.error("%s", event.message)
        elif event.kind == EventKind.PROGRESS:
            self.progressChanged.emit(event.done / event.total if event.total else 1.0, -1.0)
        elif event.kind in (EventKind.FINISHED, EventKind.CANCELLED):
            log.info("%s", event.message)
            self.taskEnded.emit(event.message)
            self.exportEnded.emit(event.summary)
