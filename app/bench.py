"""The comparison bench: several codecs loaded at once, each file reconstructed by each of them.

:class:`Bench` holds the session's codec slots (a checkpoint file or folder, or an installed
registry variant, each under a unique label) and runs "Reconstruct with..." on the task
runner's :data:`COMPARE` lane: one worker per codec, in the order asked. A worker loads its
model the first time it is needed (lazily, on the device of the settings) and keeps it loaded
until its slot is removed (then it is dropped and memory given back); it runs the files through
the shared job code (:func:`xy_tokenizer.jobs.run_job`, reconstruct mode, arrays kept), and
scores each reconstruction against its original (:class:`~xy_tokenizer.analysis.compare.ComparisonSession`).
A codec that fails to load fails its files only; a file that fails in one codec fails only
there: the other codecs and files go on.

Results go to :attr:`Bench.comparison_set` (:class:`~app.comparison_model.ComparisonSet`:
per file row, its original and ``{label: Reconstruction}``) and :attr:`Bench.session` (the
metrics of every file x codec). Nothing here runs a model on the GUI thread.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from PySide6.QtCore import QObject, Signal

from xy_tokenizer.analysis.compare import (CodecDescription, ComparisonSession, check_label, checkpoint_label,
                                           release_memory, unique_labels)
from xy_tokenizer.errors import Cancelled, XYTokenizerError

from .comparison_model import DONE, FAILED, QUEUED, RUNNING, ComparisonSet, Reconstruction
from .file_list import FileListModel, RowKind
from .tasks import COMPARE, TaskRunner
from .worker import JobWorker

log = logging.getLogger(__name__)

#: Slot states.
UNLOADED, LOADING, LOADED, LOAD_FAILED = "not loaded", "loading", "loaded", "failed"


@dataclass
class CodecSlot:
    """One codec of the session: where it loads from, and the model once loaded."""

    label: str
    checkpoint: Path
    config: Path | None = None
    variant: str = ""                  # registry variant id when added as one
    codec: Any = None                  # the loaded Codec (None until needed)
    state: str = UNLOADED
    message: str = ""
    parameters: int | None = None      # learned parameters, once loaded (None: the family does not say)

    def description(self) -> CodecDescription:
        """The codec's description (bitrate etc. once loaded; the label alone before)."""
        if self.codec is not None:
            return CodecDescription.from_codec(self.codec, self.label)
        return CodecDescription(self.label, variant=self.variant, checkpoint=str(self.checkpoint))

    def size_text(self) -> str:
        """Parameter count and float32 size, e.g. ``"12.3 M params, 49 MB"`` ("" when unknown)."""
        if not self.parameters:
            return ""
        megabytes = self.parameters * 4 / 1e6
        return f"{self.parameters / 1e6:.2f} M params, {megabytes:.0f} MB (fp32)"


@dataclass(frozen=True)
class _Target:
    uid: int
    path: Path
    rel: Path


class BenchError(XYTokenizerError):
    """A codec slot that cannot be added (unknown variant, not installed, missing file, label taken)."""


class Bench(QObject):
    """The session's codecs and their reconstructions (see the module docstring).

    Signals: ``slotsChanged()`` (added, removed, reordered), ``slotChanged(str label)`` (its
    state: loading, loaded, failed), ``busyChanged(bool)``, ``codecFinished(str label)``
    (a codec's worker ended, however), ``scored(int uid, str label)`` (a row of metrics was added).
    """

    slotsChanged = Signal()
    slotChanged = Signal(str)
    busyChanged = Signal(bool)
    codecFinished = Signal(str)
    scored = Signal(int, str)

    def __init__(self, files: FileListModel, tasks: TaskRunner, comparison_set: ComparisonSet | None = None,
                 parent: QObject | None = None, *, device: str = "auto", dtype: str = "float32") -> None:
        super().__init__(parent)
        self.files = files
        self.tasks = tasks
        self.comparison_set = comparison_set if comparison_set is not None else ComparisonSet(self)
        self.session = ComparisonSession()
        self.device = device
        self.dtype = dtype
        self._slots: dict[str, CodecSlot] = {}
        self._workers: dict[str, JobWorker] = {}
        tasks.laneBusy.connect(lambda lane: lane == COMPARE and self.busyChanged.emit(True))
        tasks.laneIdle.connect(lambda lane: lane == COMPARE and self.busyChanged.emit(False))

    def set_device(self, device: str, dtype: str) -> None:
        """Where models load from now on; loaded models on another device or precision are
        dropped (they load again when next used)."""
        if (device, dtype) == (self.device, self.dtype):
            return
        self.device, self.dtype = device, dtype
        dropped = False
        for slot in self._slots.values():
            if slot.codec is not None and slot.label not in self._workers and slot.checkpoint.exists():
                slot.codec, slot.state, slot.parameters = None, UNLOADED, None
                dropped = True
                self.slotChanged.emit(slot.label)
        if dropped:
            release_memory()

    # slots --------------------------------------------------------------------------------
    def slots(self) -> list[CodecSlot]:
        return list(self._slots.values())

    def slot(self, label: str) -> CodecSlot | None:
        return self._slots.get(label)

    def labels(self) -> list[str]:
        return list(self._slots)

    def _free_label(self, wanted: str) -> str:
        return unique_labels([*self._slots, check_label(wanted)])[-1]

    def add_checkpoint(self, checkpoint: str | Path, config: str | Path | None = None, *,
                       label: str | None = None) -> CodecSlot:
        """Add a checkpoint file or model folder (loaded when first used); returns its slot."""
        path = Path(checkpoint)
        if not path.exists():
            raise BenchError(f"{path}: no such checkpoint file or folder; choose an existing one")
        slot = CodecSlot(self._free_label(label or checkpoint_label(path)), path,
                         None if config in (None, "") else Path(config))
        return self._add(slot)

    def add_variant(self, name: str, *, label: str | None = None) -> CodecSlot:
        """Add an installed registry variant (id or alias); :class:`BenchError` when it is not installed."""
        from xy_tokenizer import registry

        try:
            variant = registry.variant(name)
        except XYTokenizerError as exc:
            raise BenchError(str(exc)) from exc
        path = installed_path(variant.id)
        if path is None:
            raise BenchError(f"{variant.id} is not installed; download it first (xytok download {variant.id})")
        slot = CodecSlot(self._free_label(label or variant.id), path, variant=variant.id)
        return self._add(slot)

    def add_codec(self, codec: Any, *, label: str | None = None) -> CodecSlot:
        """Add a codec that is loaded already (kept loaded until removed)."""
        checkpoint = Path(codec.checkpoint_path) if codec.checkpoint_path is not None else Path(codec.variant)
        slot = CodecSlot(self._free_label(label or codec.variant), checkpoint, variant=codec.variant)
        self._adopt(slot, codec)
        return self._add(slot)

    def _add(self, slot: CodecSlot) -> CodecSlot:
        self._slots[slot.label] = slot
        self.comparison_set.set_codec(slot.description())
        self.slotsChanged.emit()
        return slot

    def _adopt(self, slot: CodecSlot, codec: Any) -> None:
        slot.codec = codec
        slot.state = LOADED
        slot.message = ""
        count = getattr(codec, "num_parameters", None)
        count = count() if callable(count) else count  # a method in the ABC, a property in some families
        slot.parameters = int(count) if count else None

    def remove(self, label: str) -> None:
        """Remove a codec: its work is cancelled, its model dropped (memory given back) and its
        reconstructions forgotten."""
        slot = self._slots.pop(label, None)
        if slot is None:
            return
        worker = self._workers.pop(label, None)
        if worker is not None:
            self.tasks.discard(worker)
        self.comparison_set.remove_codec(label)
        self.session.codecs.pop(label, None)
        self.session.rows = [r for r in self.session.rows if r.codec != label]
        self.session.failures = [f for f in self.session.failures if f[1] != label]
        had_model = slot.codec is not None
        slot.codec = None
        if had_model:
            release_memory()
        self.slotsChanged.emit()

    # running ------------------------------------------------------------------------------
    def is_busy(self) -> bool:
        return self.tasks.is_busy(COMPARE)

    def reconstruct(self, uids: Iterable[int], labels: Iterable[str] | None = None) -> int:
        """Run the audio files ``uids`` through each codec of ``labels`` (default: all), one
        worker per codec on the :data:`COMPARE` lane. Returns how many (file, codec) pairs were queued."""
        targets = []
        for uid in uids:
            row = self.files.by_uid(uid)
            if row is not None and row.kind == RowKind.AUDIO:
                targets.append(_Target(uid, row.real_path(), row.rel or Path(row.path.name)))
        labels = [label for label in (self.labels() if labels is None else labels) if label in self._slots]
        if not targets or not labels:
            return 0
        for label in labels:
            for target in targets:
                self.comparison_set.set_status(target.uid, label, QUEUED)
            self._submit(self._slots[label], targets)
        return len(targets) * len(labels)

    def cancel(self) -> None:
        self.tasks.cancel_lane(COMPARE)

    def _submit(self, slot: CodecSlot, targets: list[_Target]) -> None:
        label = slot.label
        device, dtype = self.device, self.dtype

        def job(report_progress, is_cancelled):
            from xy_tokenizer.jobs import EventKind, JobItem, JobOptions, run_job

            codec = slot.codec
            if codec is None:
                import xy_tokenizer

                yield ("loading", None)
                try:
                    codec = xy_tokenizer.load(slot.checkpoint, config=slot.config, device=device, dtype=dtype)
                except (XYTokenizerError, OSError, RuntimeError, ValueError) as exc:
                    yield ("load_failed", f"{label}: cannot load {slot.checkpoint}: {exc}")
                    return None
                yield ("loaded", codec)
            items = [JobItem(t.path, t.rel) for t in targets]
            by_index = {i: t.uid for i, t in enumerate(targets)}
            options = JobOptions(mode="reconstruct", out_dir=None, keep_arrays=True)
            for event in run_job(codec, items, options, cancel=is_cancelled, on_progress=report_progress):
                uid = by_index.get(event.index)
                if event.kind is EventKind.FILE_STARTED:
                    yield ("running", uid)
                elif event.kind is EventKind.FILE_DONE:
                    result = event.result
                    original = (result.original, codec.input_sample_rate)
                    rec = (result.audio, codec.output_sample_rate)
                    notes: dict[str, str] = {}
                    metrics = None
                    try:
                        from xy_tokenizer.analysis.compare import clip_metrics

                        metrics = clip_metrics(*original, *rec, notes=notes)
                    except XYTokenizerError as exc:
                        notes["error"] = str(exc)
                    yield ("done", (uid, targets[event.index].rel.as_posix(), original, rec, result.codes,
                                    metrics, notes))
                elif event.kind is EventKind.FILE_FAILED:
                    yield ("failed", (uid, targets[event.index].rel.as_posix(), event.message))
                elif event.kind is EventKind.CANCELLED:
                    raise Cancelled("the comparison was cancelled")
            return None

        worker = JobWorker(job, name=f"compare-{label}")
        worker.event.connect(lambda item: self._on_event(slot, item))
        worker.cancelled.connect(lambda: self._on_stopped(slot, targets, "cancelled"))
        worker.error.connect(lambda message: self._on_stopped(slot, targets, message))
        worker.finished.connect(lambda: self._on_finished(slot, worker))
        self._workers[label] = worker
        self.tasks.submit(worker, COMPARE)

    def _current(self, slot: CodecSlot) -> bool:
        return self._slots.get(slot.label) is slot

    def _on_event(self, slot: CodecSlot, item: tuple[str, Any]) -> None:
        if not self._current(slot):
            return
        kind, value = item
        label = slot.label
        if kind == "loading":
            slot.state = LOADING
            self.slotChanged.emit(label)
        elif kind == "loaded":
            self._adopt(slot, value)
            self.comparison_set.set_codec(slot.description())
            self.session.add_codec(slot.description())
            self.slotChanged.emit(label)
        elif kind == "load_failed":
            slot.state, slot.message = LOAD_FAILED, value
            self.session.add_codec(slot.description())
            log.error("%s", value)
            self.slotChanged.emit(label)
            for entry in self.comparison_set.entries():
                rec = entry.reconstructions.get(label)
                if rec is not None and rec.status in (QUEUED, RUNNING):
                    self.comparison_set.set_status(entry.uid, label, FAILED, value)
        elif kind == "running":
            self.comparison_set.set_status(value, label, RUNNING)
        elif kind == "done":
            uid, name, original, rec, codes, metrics, notes = value
            self._store_original(uid, *original)
            self.comparison_set.set_reconstruction(uid, Reconstruction(
                slot.description(), DONE, rec[0], int(rec[1]), codes,
                quantizer=str(getattr(slot.codec, "quantizer_kind", "rvq"))))
            if label not in self.session.codecs:
                self.session.add_codec(slot.description())
            if metrics is not None:
                self.session.add_row(name, label, metrics, notes=notes)
                self.scored.emit(uid, label)
            else:
                self.session.add_failure(name, label, f"{name}: {label}: {notes.get('error', 'not scored')}")
        elif kind == "failed":
            uid, name, message = value
            self.comparison_set.set_status(uid, label, FAILED, message)
            if label not in self.session.codecs:
                self.session.add_codec(slot.description())
            self.session.add_failure(name, label, message)
            log.error("%s: %s", label, message)

    def _store_original(self, uid: int, audio, rate: int) -> None:
        """Keep the original at the highest input rate any codec read it at."""
        entry = self.comparison_set.entry(uid)
        if entry is None or entry.original is None or entry.original[1] < rate:
            self.comparison_set.set_original(uid, audio, rate)

    def _on_stopped(self, slot: CodecSlot, targets: list[_Target], message: str) -> None:
        if not self._current(slot):
            return
        for target in targets:
            rec = self.comparison_set.reconstruction(target.uid, slot.label)
            if rec is not None and rec.status in (QUEUED, RUNNING):
                self.comparison_set.set_status(target.uid, slot.label, FAILED, f"{slot.label}: {message}")
        if message != "cancelled":
            log.error("%s: %s", slot.label, message)

    def _on_finished(self, slot: CodecSlot, worker: JobWorker) -> None:
        if self._workers.get(slot.label) is worker:
            del self._workers[slot.label]
        if self._current(slot):
            self.codecFinished.emit(slot.label)

    def shutdown(self) -> None:
        """Drop every model (the window is closing; the runner cancels the workers)."""
        for slot in self._slots.values():
            slot.codec = None


def installed_path(variant_id: str) -> Path | None:
    """Where an installed variant's checkpoint is (a file or folder), or None."""
    from xy_tokenizer.hub import installed_checkpoint

    return installed_checkpoint(variant_id)


def installed_variants() -> list[tuple[str, str, Path]]:
    """Every installed registry variant: ``(id, label, checkpoint path)``."""
    from xy_tokenizer import registry

    out = []
    for variant in registry.variants():
        try:
            path = installed_path(variant.id)
        except XYTokenizerError:
            path = None
        if path is not None:
            out.append((variant.id, variant.label, path))
    return out
