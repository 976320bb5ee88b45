"""Batch jobs shared by the CLI and the GUI: find inputs, encode/decode/reconstruct, export.

A job is a generator of :class:`JobEvent`. It never stops for a bad file: that file gets a
``file_failed`` event whose message names it, and the job goes on. Outputs mirror each input's
path relative to the folder it was found in (``JobItem.rel``) under the output folder. A file's
outputs (``.npy`` + ``.json`` + ``.wav``) are one commit, written under a per-output lock (two
processes writing one folder take turns per file), and replace older files only once all are
complete. Without overwrite a file whose complete, valid set exists is ``file_skipped``; a
half-written set is done again. Temporaries a killed run left in an output folder are removed
before the first write there. Long decodes that are written, not kept, are streamed to disk
window by window (:func:`decode_stream`, ``JobOptions.stream_seconds``).

Events, in order: ``started`` (``total`` = number of items); per file ``file_started`` when
its batch begins (a file skipped or failing to load gets no ``file_started``), then exactly one
of ``file_done`` / ``file_failed`` / ``file_skipped``; ``progress`` after every batch; finally
``finished`` or ``cancelled``, both with the :class:`JobSummary`. Progress is counted in files:
``done`` of ``total`` files, fractional while a batch is in the model.

A generator cannot yield from inside the codec, so per-window progress goes to the optional
``on_progress(done, total)`` callable of :func:`run_job` (same units as ``progress`` events,
called on the thread running the job after every model window and every finished file).

The model never waits on disk (:mod:`.prefetch`): the next files are checked, read, decoded and
resampled on a background thread while the model runs, in windows bounded by seconds of audio;
a batch's outputs are written on another thread while the model runs the next batch (its
``file_done`` events follow that batch's model run). An accelerator out-of-memory error halves
the batch size for the rest of the job and retries the batch.
"""
from __future__ import annotations
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from xy_tokenizer.io.audio import (
    WRITE_SUBTYPES, AudioError, AudioInfo, WavWriter, audio_info, load_audio, write_audio_to,
)
from xy_tokenizer.errors import Cancelled, XYTokenizerError
from xy_tokenizer.io.fsutil import atomic_write_group, output_lock, remove_stale_temps, writing
from xy_tokenizer.io.tokens import (
    TOKEN_SUFFIX, build_token_meta, load_tokens, sidecar_path, token_file_problem, token_payload, write_token_payload,
)
from xy_tokenizer.jobs.events import MODES, EventKind, FileResult, JobEvent, JobItem, JobOptions, JobSummary
from xy_tokenizer.jobs.prefetch import (
    WINDOW_BATCHES, WINDOW_SECONDS, BehindWriter, ReadAhead, free_accelerator_memory, is_out_of_memory,
)

log = logging.getLogger(__name__)

AUDIO_SUFFIX = ".wav"
#: Encode's share of the work of a reconstruct (about 25 of 60 GFLOP per second of audio).
ENCODE_SHARE = 25 / 60
SKIP_HINT = "use --overwrite to replace it"

# ----------------------------------------------------------------------------- outputs

@dataclass(frozen=True)
class _Plan:
    """Where one item's outputs go (None: not written)."""

    tokens: Path | None = None
    audio: Path | None = None

    def paths(self) -> list[Path]:
        tokens = [] if self.tokens is None else [self.tokens, sidecar_path(self.tokens)]
        return tokens + ([] if self.audio is None else [self.audio])


def _plan(out_dir: Path | None, item: JobItem, tokens: bool, audio: bool) -> _Plan:
    if out_dir is None:
        return _Plan()
    base = Path(out_dir) / item.rel
    return _Plan(tokens=base.with_suffix(TOKEN_SUFFIX) if tokens else None,
                 audio=base.with_suffix(AUDIO_SUFFIX) if audio else None)


def planned_outputs(item: JobItem, out_dir: Path, *, tokens: bool, audio: bool) -> list[Path]:
    """The files a job or an export writes for ``item`` under ``out_dir``:
    ``<rel stem>.npy`` and its ``.json`` sidecar (tokens), ``<rel stem>.wav`` (audio)."""
    return _plan(out_dir, item, tokens, audio).paths()


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _missing(plan: _Plan) -> list[str]:
    """Why the planned outputs are not a complete set (empty: complete). The tokens need their
    ``.npy`` and a sidecar that agrees with it; the audio a WAV libsndfile can open."""
    problems = []
    if plan.tokens is not None:
        problem = token_file_problem(plan.tokens)
        if problem is not None:
            problems.append(problem)
    if plan.audio is not None:
        if not plan.audio.is_file():
            problems.append(f"{plan.audio} is missing")
        else:
            try:
                audio_info(plan.audio)
            except AudioError as exc:
                problems.append(str(exc))
    return problems


def _any_exists(plan: _Plan) -> bool:
    return any(path.exists() for path in plan.paths())


def _precheck(index: int, item: JobItem, plan: _Plan, overwrite: bool) -> JobEvent | None:
    """A ``file_failed``/``file_skipped`` event when the outputs cannot or need not be written.

    Without ``overwrite`` a file is skipped only when its whole set of outputs is there and
    valid; a half-written set (a run killed between files of the set) is done again."""
    for out in plan.paths():
        if _same_file(out, item.path):
            return JobEvent(EventKind.FILE_FAILED, index, item,
                            message=f"{item.path}: the output {out} would replace the input; "
                                    "choose a different output folder")
    if not overwrite and plan.paths() and _any_exists(plan) and not _missing(plan):
        return JobEvent(EventKind.FILE_SKIPPED, index, item,
                        message=f"{item.path}: {plan.paths()[-1]} exists, skipped ({SKIP_HINT})")
    return None


class _AlreadyWritten(XYTokenizerError):
    """Another process committed this file's complete set of outputs while this one worked."""


def _group_paths(plan: _Plan) -> list[Path]:
    """The outputs of one file in commit order: audio, sidecar, then the ``.npy`` readers look for."""
    return ([] if plan.audio is None else [plan.audio]) + (
        [] if plan.tokens is None else [sidecar_path(plan.tokens), plan.tokens])


@contextlib.contextmanager
def _output_set(plan: _Plan, *, overwrite: bool) -> Iterator[dict[Path, Path]]:
    """Write one file's outputs as one commit: ``with _output_set(plan) as temps: write temps[final]``.

    The set is written under an exclusive lock of its own (two processes writing the same
    folder take turns per file and never delete each other's files). Without ``overwrite`` a
    complete set found under the lock raises :class:`_AlreadyWritten`; an incomplete one is
    replaced as a whole. The previous files stay until every new one is complete."""
    finals = _group_paths(plan)
    with output_lock(finals[-1]):
        if not overwrite and _any_exists(plan) and not _missing(plan):
            raise _AlreadyWritten(f"{finals[-1]} was written by another run meanwhile")
        with atomic_write_group(finals, overwrite=True) as temps:
            yield dict(zip(finals, temps))


def _token_meta(codec: Any, result: FileResult) -> dict:
    return result.token_meta or build_token_meta(
        codec, result.codes, source=result.item.path.resolve(), source_info=result.info)


def _write_outputs(codec: Any, result: FileResult, plan: _Plan, *, overwrite: bool,
                   audio_subtype: str) -> list[Path]:
    """Write the planned outputs of one result as one commit (see :func:`_output_set`);
    returns the paths written.

    Tokens are written with the result's sidecar; a result without one (made outside a job)
    gets a sidecar naming its source and no overlap."""
    finals = _group_paths(plan)
    if not finals:
        return []
    payload = None if plan.tokens is None else token_payload(plan.tokens, result.codes, _token_meta(codec, result))
    with _output_set(plan, overwrite=overwrite) as temps:
        if payload is not None:
            with writing(plan.tokens):
                write_token_payload(temps[plan.tokens], temps[sidecar_path(plan.tokens)], *payload)
        if plan.audio is not None:
            with writing(plan.audio):
                write_audio_to(temps[plan.audio], result.audio, codec.output_sample_rate,
                               subtype=audio_subtype, final=plan.audio)
    return [p for p in plan.paths() if p in finals]


def _failure_message(item: JobItem, exc: BaseException) -> str:
    message = str(exc) if isinstance(exc, XYTokenizerError) else f"{type(exc).__name__}: {exc}"
    return message if str(item.path) in message else f"{item.path}: {message}"


# ----------------------------------------------------------------------------- streamed decode

#: A streamed decode hands the codec at least this many of its decode steps at a time (the
#: lookahead each chunk decodes again is then a small share of the work).
STREAM_MIN_STEPS = 16


def decode_chunks(codec: Any, codes_length: int, chunk_steps: int = STREAM_MIN_STEPS) -> list[tuple[int, int, int]]:
    """How :func:`decode_stream` cuts ``codes_length`` frames: ``(start, stop, end)`` per chunk,
    keeping the audio of frames ``start..stop`` from a decode of frames ``start..end``.

    A codec that decodes in windows says so with ``decode_stream_tokens = (step, context)``:
    window ``i`` covers frames ``[i*step, i*step + step + context)`` and keeps its first
    ``step`` frames' audio. Chunks of ``chunk_steps`` steps start on window boundaries and
    carry ``context`` frames of lookahead, so every kept window sees exactly the frames it sees
    in a whole decode. A codec without the attribute is decoded in one chunk."""
    stream = getattr(codec, "decode_stream_tokens", None)
    if stream is None:
        return [(0, codes_length, codes_length)]
    step, context = stream
    size = step * max(1, int(chunk_steps))
    return [(start, min(codes_length, start + size), min(codes_length, start + size + context))
            for start in range(0, codes_length, size)]


def decode_stream(codec: Any, codes: np.ndarray, *, num_quantizers: int | None = None, batch_size: int = 4,
                  progress: Callable[[int, int], None] | None = None,
                  cancel: Callable[[], bool] | None = None,
                  chunk_steps: int | None = None) -> Iterator[np.ndarray]:
    """Decode ``codes: (levels, T)`` chunk by chunk (:func:`decode_chunks`); yields float32
    audio pieces ``(n_i,)`` at ``codec.output_sample_rate`` whose concatenation is the whole
    decode (``T * output_samples_per_token`` samples). Memory: one chunk's audio at a time.
    ``progress(done, total)`` counts model windows; ``cancel()`` is checked between them.
    ``chunk_steps``: decode steps per chunk (default: ``batch_size``, at least
    :data:`STREAM_MIN_STEPS`)."""
    steps = max(batch_size, STREAM_MIN_STEPS) if chunk_steps is None else chunk_steps
    chunks = decode_chunks(codec, codes.shape[1], steps)
    per_token = codec.output_samples_per_token
    for number, (start, stop, end) in enumerate(chunks):
        def report(done: int, total: int, number: int = number) -> None:
            if progress is not None:
                progress(number * total + done, len(chunks) * total)
        audio = codec.decode([codes[:, start:end]], num_quantizers=num_quantizers, batch_size=batch_size,
                             progress=report, cancel=cancel)[0]
        yield audio[:(stop - start) * per_token]


def _write_streamed(codec: Any, result: FileResult, plan: _Plan, options: JobOptions, *,
                    progress: Callable[[int, int], None] | None,
                    cancel: Callable[[], bool] | None) -> list[Path]:
    """Commit one file's tokens (if planned) and its audio decoded by :func:`decode_stream`
    straight into the WAV's temporary (RF64 past 4 GB) as one set; returns the paths written."""
    codes = result.codes
    frames = codes.shape[1] * codec.output_samples_per_token
    payload = None if plan.tokens is None else token_payload(plan.tokens, codes, _token_meta(codec, result))
    with _output_set(plan, overwrite=options.overwrite) as temps:
        if payload is not None:
            with writing(plan.tokens):
                write_token_payload(temps[plan.tokens], temps[sidecar_path(plan.tokens)], *payload)
        with writing(plan.audio), WavWriter(temps[plan.audio], codec.output_sample_rate, frames,
                                            subtype=options.audio_subtype, final=plan.audio) as writer:
            for piece in decode_stream(codec, codes, num_quantizers=options.num_quantizers,
                                       batch_size=options.batch_size, progress=progress, cancel=cancel):
                writer.write(piece)
    return plan.paths()


# ----------------------------------------------------------------------------- run_job

@dataclass
class _Loaded:
    index: int
    item: JobItem
    plan: _Plan
    data: np.ndarray | None     # (n,) float32 audio at the codec's input rate, or (k, T) int64 codes
    length: int
    seconds: float              # audio this entry stands for (read-ahead is bounded by it)
    info: AudioInfo | None = None
    meta: dict | None = None


def _validate(codec: Any, options: JobOptions) -> None:
    if options.mode not in MODES:
        raise XYTokenizerError(f"unknown job mode {options.mode!r}; use one of {', '.join(MODES)}")
    if options.mode != "decode":
        codec.check_encode_options(**options.encode_options())
    if options.batch_size < 1:
        raise XYTokenizerError(f"batch size must be at least 1, got {options.batch_size}")
    if options.num_quantizers is not None and not 1 <= options.num_quantizers <= codec.num_quantizers:
        raise XYTokenizerError(f"num_quantizers must be between 1 and {codec.num_quantizers}, "
                               f"got {options.num_quantizers}")
    if options.audio_subtype not in WRITE_SUBTYPES:
        raise XYTokenizerError(f"audio sample format {options.audio_subtype!r} is not one of "
                               f"{', '.join(WRITE_SUBTYPES)}")


class _JobRunner:
    """State of one :func:`run_job` call; :meth:`events` is the generator."""

    def __init__(self, codec: Any, items: list[JobItem], options: JobOptions,
                 cancel: Callable[[], bool] | None,
                 on_progress: Callable[[float, float], None] | None, prefetch: bool = True) -> None:
        self.codec, self.items, self.options = codec, items, options
        self.cancel, self.on_progress = cancel, on_progress
        self.prefetch = prefetch
        self.batch_size = options.batch_size      # halved on an out-of-memory error
        self.writer = BehindWriter(threaded=prefetch)
        self._lock = threading.Lock()             # _close runs on the job and the writer thread
        self._job_thread: int | None = None
        self.summary = JobSummary(mode=options.mode)
        self.finished = 0           # items with their final event
        self._reported = 0.0        # progress never goes back (a computed batch counts as done)
        self._cleaned: set[Path] = set()
        self.encodes = options.mode in ("encode", "reconstruct")
        self.decodes = options.mode in ("decode", "reconstruct")

    # -- bookkeeping
    def _report(self, done: float) -> None:
        with self._lock:
            self._reported = max(self._reported, done)
            reported = self._reported
        # Only the job's thread calls back; the writer thread's counts follow at the next report.
        if self.on_progress is not None and threading.get_ident() == self._job_thread:
            self.on_progress(reported, len(self.items))

    def _progress_event(self) -> JobEvent:
        return JobEvent(EventKind.PROGRESS, done=float(self.finished), total=float(len(self.items)))

    def _close(self, event: JobEvent) -> JobEvent:
        """Count a file's final event."""
        with self._lock:
            if event.kind is EventKind.FILE_DONE:
                self.summary.done += 1
            elif event.kind is EventKind.FILE_SKIPPED:
                self.summary.skipped += 1
            else:
                self.summary.failed += 1
                self.summary.failures.append((str(event.item.path), event.message))
            self.finished += 1
            finished = self.finished
        self._report(finished)
        return event

    def _fail(self, entry_index: int, item: JobItem, exc: BaseException) -> JobEvent:
        return self._close(_failure_event(entry_index, item, exc))

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel():
            raise Cancelled("the job was cancelled")

    def _window_progress(self, batch_len: int, start: float, span: float) -> Callable[[int, int], None]:
        base = self.finished

        def report(done: int, total: int) -> None:
            fraction = start + span * (done / total if total else 1.0)
            self._report(base + fraction * batch_len)
        return report

    # -- loading (on the read-ahead thread: no events, no counting here)
    def _load(self, index: int, item: JobItem, plan: _Plan) -> _Loaded:
        codec = self.codec
        if self.encodes:
            audio, info = load_audio(item.path, codec.input_sample_rate, codec.min_input_samples)
            return _Loaded(index, item, plan, audio, audio.shape[0], audio.shape[0] / codec.input_sample_rate,
                           info=info)
        codes, meta = _load_codes(item.path, codec)
        wanted = self.options.num_quantizers
        if wanted is not None and wanted > codes.shape[0]:
            raise XYTokenizerError(f"{item.path}: has {codes.shape[0]} levels, cannot decode with "
                                   f"{wanted} (use --num-quantizers {codes.shape[0]} or fewer)")
        return _Loaded(index, item, plan, codes, codes.shape[1], codes.shape[1] / codec.frame_rate, meta=meta)

    def _prepare(self, entry: tuple[int, JobItem]) -> _Loaded | JobEvent:
        """One input made ready for the model, or its (not yet counted) skip/failure event."""
        index, item = entry
        plan = _plan(self.options.out_dir, item, tokens=self.encodes, audio=self.decodes)
        self._clean_once(plan)
        event = _precheck(index, item, plan, self.options.overwrite)
        if event is not None:
            return event
        try:
            return self._load(index, item, plan)
        except Exception as exc:
            return _failure_event(index, item, exc)

    # -- model
    def _compute(self, batch: list[_Loaded]) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """Run the model on a batch: (codes per file, audio per file or None)."""
        codec, opt, n = self.codec, self.options, len(batch)
        if self.encodes:
            share = ENCODE_SHARE if self.decodes else 1.0
            codes = codec.encode([e.data for e in batch], **opt.encode_options(), batch_size=self.batch_size,
                                 progress=self._window_progress(n, 0.0, share), cancel=self.cancel)
            start = share
        else:
            codes = [e.data for e in batch]
            start = 0.0
        if not self.decodes:
            if opt.num_quantizers is not None:   # an RVQ encode at K levels is its first K rows
                codes = [c[:opt.num_quantizers] for c in codes]
            return codes, None
        audio = codec.decode(codes, num_quantizers=opt.num_quantizers, batch_size=self.batch_size,
                             progress=self._window_progress(n, start, 1.0 - start), cancel=self.cancel)
        return codes, audio

    def _decode_levels(self, codes: np.ndarray) -> int | None:
        """Levels a reconstruction decodes with (None when the job does not decode)."""
        if not self.decodes:
            return None
        wanted = self.options.num_quantizers
        return codes.shape[0] if wanted is None else min(wanted, codes.shape[0])

    def _result(self, entry: _Loaded, codes: np.ndarray, audio: np.ndarray | None) -> FileResult:
        codec, opt = self.codec, self.options
        result = FileResult(entry.item, codes=codes, audio=audio, info=entry.info, token_meta=entry.meta)
        if self.encodes:
            result.original = entry.data
            result.token_meta = build_token_meta(codec, codes, source=entry.item.path.resolve(),
                                                 source_info=entry.info, encode_options=opt.encode_options(),
                                                 decode_levels=self._decode_levels(codes))
            result.duration = entry.length / codec.input_sample_rate
        else:
            result.duration = entry.length / codec.frame_rate
        return result

    def _finish_file(self, entry: _Loaded, codes: np.ndarray, audio: np.ndarray | None) -> JobEvent:
        codec, opt = self.codec, self.options
        result = self._result(entry, codes, audio)
        try:
            result.outputs = _write_outputs(codec, result, entry.plan, overwrite=opt.overwrite,
                                            audio_subtype=opt.audio_subtype)
        except _AlreadyWritten as exc:
            return self._close(JobEvent(EventKind.FILE_SKIPPED, entry.index, entry.item,
                                        message=f"{entry.item.path}: {exc}, skipped ({SKIP_HINT})"))
        except Exception as exc:
            return self._fail(entry.index, entry.item, exc)
        if not opt.keep_arrays:
            result = replace(result, codes=None, original=None, audio=None)
        self.summary.audio_seconds += result.duration
        return self._close(JobEvent(EventKind.FILE_DONE, entry.index, entry.item, result=result))

    def _process(self, batch: list[_Loaded], announce: bool = True) -> Iterator[JobEvent]:
        if announce:
            for entry in batch:
                yield JobEvent(EventKind.FILE_STARTED, entry.index, entry.item)
        try:
            codes, audio = self._compute(batch)
        except Cancelled:
            raise
        except Exception as exc:
            if is_out_of_memory(exc) and self.batch_size > 1:
                # Too big for the device: halve the batch for the rest of the job, retry this one.
                self.batch_size = max(1, min(self.batch_size, len(batch)) // 2)
                free_accelerator_memory()
                log.warning("out of memory on %d files; retrying with batch size %d", len(batch), self.batch_size)
                for part in self._window_batches(batch):
                    self._check_cancel()
                    yield from self._process(part, announce=False)
                return
            if len(batch) == 1:
                yield self._fail(batch[0].index, batch[0].item, exc)
                return
            # One bad clip must not sink the others: retry them one by one.
            for entry in batch:
                self._check_cancel()
                yield from self._process([entry], announce=False)
            return
        # The previous batch was written while this one ran; a cancel drops this batch's results.
        yield from self._collect_writes()
        self._check_cancel()
        self.writer.submit([_bind(self._finish_file, entry, codes[i], None if audio is None else audio[i])
                            for i, entry in enumerate(batch)])
        if not self.prefetch:
            yield from self._collect_writes()

    def _collect_writes(self) -> Iterator[JobEvent]:
        events = self.writer.collect()
        if events:
            self._report(self.finished)
        yield from events

    def _window_batches(self, loaded: list[_Loaded]) -> Iterator[list[_Loaded]]:
        """Batches of ``self.batch_size`` (read again per batch: it may be halved meanwhile)."""
        start = 0
        while start < len(loaded):
            batch = loaded[start:start + self.batch_size]
            start += len(batch)
            yield batch

    # -- stale temporaries
    def _clean_once(self, plan: _Plan) -> None:
        """Remove what a killed run left (our own temporaries and free locks) in each output
        folder, once per folder and before the first write there."""
        for folder in {path.parent for path in plan.paths()}:
            if folder not in self._cleaned:
                self._cleaned.add(folder)
                remove_stale_temps(folder)

    # -- long decodes, streamed to disk
    def _streams(self, entry: _Loaded) -> bool:
        """Whether ``entry``'s audio is decoded window by window straight into its file: it is
        written, not kept in memory, and longer than ``options.stream_seconds``."""
        opt = self.options
        if not self.decodes or entry.plan.audio is None or opt.keep_arrays:
            return False
        frames = entry.length if not self.encodes else self.codec.num_frames(entry.length)
        return frames / self.codec.frame_rate > opt.stream_seconds

    def _process_streamed(self, entry: _Loaded) -> Iterator[JobEvent]:
        """Encode (in memory) if needed, then decode ``entry`` chunk by chunk into its WAV
        (see :func:`decode_stream`), committed with its tokens as one set."""
        codec, opt = self.codec, self.options
        yield JobEvent(EventKind.FILE_STARTED, entry.index, entry.item)
        share = ENCODE_SHARE if self.encodes else 0.0
        try:
            if self.encodes:
                codes = codec.encode([entry.data], **opt.encode_options(), batch_size=opt.batch_size,
                                     progress=self._window_progress(1, 0.0, share), cancel=self.cancel)[0]
                entry.data = None   # the input audio is not needed any more
            else:
                codes = entry.data
            result = self._result(entry, codes, None)
            result.outputs = _write_streamed(codec, result, entry.plan, opt,
                                             progress=self._window_progress(1, share, 1.0 - share),
                                             cancel=self.cancel)
        except Cancelled:
            raise
        except _AlreadyWritten as exc:
            yield self._close(JobEvent(EventKind.FILE_SKIPPED, entry.index, entry.item,
                                       message=f"{entry.item.path}: {exc}, skipped ({SKIP_HINT})"))
            return
        except Exception as exc:
            yield self._fail(entry.index, entry.item, exc)
            return
        result = replace(result, codes=None, original=None, audio=None)
        self.summary.audio_seconds += result.duration
        yield self._close(JobEvent(EventKind.FILE_DONE, entry.index, entry.item, result=result))

    # -- the job
    def events(self) -> Iterator[JobEvent]:
        start = time.monotonic()
        opt = self.options
        self._job_thread = threading.get_ident()
        yield JobEvent(EventKind.STARTED, total=float(len(self.items)),
                       message=f"{opt.mode}: {len(self.items)} files")
        reader = ReadAhead(list(enumerate(self.items)), self._prepare,
                           lambda outcome: outcome.seconds if isinstance(outcome, _Loaded) else 0.0,
                           window_seconds=WINDOW_SECONDS, window_files=opt.batch_size * WINDOW_BATCHES,
                           threaded=self.prefetch, cancel=self.cancel)
        try:
            self._check_cancel()
            for window in reader.windows():
                loaded: list[_Loaded] = []
                for outcome in window:
                    if isinstance(outcome, _Loaded):
                        loaded.append(outcome)
                    else:
                        yield self._close(outcome)
                self._check_cancel()
                yield self._progress_event()
                loaded.sort(key=lambda e: e.length)
                streamed = [e for e in loaded if self._streams(e)]
                loaded = [e for e in loaded if not self._streams(e)]
                for entry in streamed:
                    self._check_cancel()
                    yield from self._process_streamed(entry)
                    yield self._progress_event()
                for batch in self._window_batches(loaded):
                    self._check_cancel()
                    yield from self._process(batch)
                    yield self._progress_event()
            if reader.stopped_early:
                raise Cancelled("the job was cancelled")
            yield from self._collect_writes()
        except Cancelled as exc:
            reader.close()
            yield from self._collect_writes()
            self.summary.cancelled = True
            self.summary.elapsed = time.monotonic() - start
            yield JobEvent(EventKind.CANCELLED, done=float(self.finished), total=float(len(self.items)),
                           message=f"{exc}; {self.summary.text()}", summary=self.summary)
            return
        finally:
            reader.close()
            self.writer.close()
        self.summary.elapsed = time.monotonic() - start
        yield JobEvent(EventKind.FINISHED, done=float(self.finished), total=float(len(self.items)),
                       message=self.summary.text(), summary=self.summary)


def _failure_event(index: int, item: JobItem, exc: BaseException) -> JobEvent:
    return JobEvent(EventKind.FILE_FAILED, index, item, message=_failure_message(item, exc))


def _bind(fn: Callable, *args: Any) -> Callable[[], Any]:
    return lambda: fn(*args)


def _load_codes(path: Path, codec: Any) -> tuple[np.ndarray, dict | None]:
    """Codes ``(levels, T)`` and sidecar of a token file, or of a shard row (``SHARD.parquet#row=N``)."""
    from xy_tokenizer.datasets import is_shard_ref, load_shard_ref

    if is_shard_ref(path):
        return load_shard_ref(path, codec.codebook_size, codec.num_quantizers)
    return load_tokens(path, codec.codebook_size, codec.num_quantizers)


def run_job(codec: Any, items: Iterable[JobItem], options: JobOptions,
            cancel: Callable[[], bool] | None = None,
            on_progress: Callable[[float, float], None] | None = None, *,
            prefetch: bool = True) -> Iterator[JobEvent]:
    """Encode, decode or reconstruct ``items`` with ``codec``; a generator of :class:`JobEvent`.

    encode: audio files -> ``<rel stem>.npy`` + ``.json`` under ``options.out_dir``;
    decode: token files -> ``<rel stem>.wav``; reconstruct: audio -> both. With
    ``out_dir=None`` nothing is written and results live in the events only. Files are loaded
    ahead, sorted by length and run ``options.batch_size`` at a time; if the model fails on a
    batch its files are retried one by one. ``cancel()`` returning True stops the job between
    model windows with a ``cancelled`` event; no partial file remains. See the module docstring
    for the events and ``on_progress``. ``prefetch=False`` reads, computes and writes one step
    after the other on the calling thread (the plain loop; same events and outputs). Raises
    :class:`XYTokenizerError` at once for invalid options.
    """
    _validate(codec, options)
    return _JobRunner(codec, list(items), options, cancel, on_progress, prefetch).events()


# ----------------------------------------------------------------------------- export

def export_results(codec: Any, results: Iterable[FileResult], out_dir: Path, *, tokens: bool = True,
                   audio: bool = True, overwrite: bool = False, audio_subtype: str = "PCM_16",
                   cancel: Callable[[], bool] | None = None) -> Iterator[JobEvent]:
    """Write results kept in memory (``run_job`` with ``out_dir=None``) under ``out_dir``.

    Per result: ``<rel stem>.npy`` + ``.json`` when ``tokens`` and it has codes (the sidecar is
    the result's ``token_meta``, else built from ``codec``), ``<rel stem>.wav`` when ``audio``
    and it has audio. Events as for :func:`run_job` (``progress`` after every file, no
    ``file_started``); ``done``/``total`` count files.
    """
    results = list(results)
    summary = JobSummary(mode="export")
    start = time.monotonic()
    total = float(len(results))
    yield JobEvent(EventKind.STARTED, total=total, message=f"export: {len(results)} files")
    for index, result in enumerate(results):
        if cancel is not None and cancel():
            summary.cancelled = True
            summary.elapsed = time.monotonic() - start
            yield JobEvent(EventKind.CANCELLED, done=float(index), total=total,
                           message=f"the export was cancelled; {summary.text()}", summary=summary)
            return
        item = result.item
        plan = _plan(Path(out_dir), item, tokens=tokens and result.codes is not None,
                     audio=audio and result.audio is not None)
        event = _precheck(index, item, plan, overwrite)
        if event is None and not plan.paths():
            event = JobEvent(EventKind.FILE_FAILED, index, item,
                             message=f"{item.path}: nothing to export (no tokens or audio kept)")
        if event is None:
            try:
                outputs = _write_outputs(codec, result, plan, overwrite=overwrite,
                                         audio_subtype=audio_subtype)
                event = JobEvent(EventKind.FILE_DONE, index, item, result=replace(result, outputs=outputs))
            except _AlreadyWritten as exc:
                event = JobEvent(EventKind.FILE_SKIPPED, index, item,
                                 message=f"{item.path}: {exc}, skipped ({SKIP_HINT})")
            except Exception as exc:
                event = JobEvent(EventKind.FILE_FAILED, index, item, message=_failure_message(item, exc))
        if event.kind is EventKind.FILE_DONE:
            summary.done += 1
        elif event.kind is EventKind.FILE_SKIPPED:
            summary.skipped += 1
        else:
            summary.failed += 1
            summary.failures.append((str(item.path), event.message))
        yield event
        yield JobEvent(EventKind.PROGRESS, done=float(index + 1), total=total)
    summary.elapsed = time.monotonic() - start
    yield JobEvent(EventKind.FINISHED, done=total, total=total, message=summary.text(), summary=summary)
