"""Compare codecs on the same clips: metrics per file and codec, summaries with bitrate, files, plot data.

Qt-free; torch is imported only when :func:`run_comparison` loads a model.

* :class:`CodecDescription` names a codec in a comparison (a unique ``label``, its variant,
  family and bitrate at the levels it decodes with).
* :func:`clip_metrics` scores one reconstruction against its original with
  :func:`xy_tokenizer.analysis.metrics.compute_metrics` at :data:`METRICS_SAMPLE_RATE` (both
  resampled there first), so codecs with different output rates are compared alike.
* :class:`ComparisonSession` collects rows (one per file and codec) and failures; it gives
  per-codec mean/median (:meth:`~ComparisonSession.summary`), the "metric vs bitrate" series a
  plot draws (:meth:`~ComparisonSession.series`), a CSV (one row per file x codec, then a mean
  and a median row per codec) and a JSON document.
* :func:`run_comparison` runs files through several codecs one after another with the shared
  job code (:func:`xy_tokenizer.jobs.run_job`, mode reconstruct), loading each model when its
  turn comes and freeing it before the next, and fills a session as files finish.
"""
from __future__ import annotations

import csv
import gc
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from xy_tokenizer._version import __version__
from xy_tokenizer.analysis.metrics import METRIC_LABELS, METRIC_NAMES, METRICS_SAMPLE_RATE, compute_metrics
from xy_tokenizer.errors import Cancelled, XYTokenizerError
from xy_tokenizer.io.audio import load_audio, resample
from xy_tokenizer.io.fsutil import atomic_write

#: Statistics of a summary, in file order.
STATS = ("mean", "median")
#: Which way each metric is better ("higher" or "lower"), from the arrows of METRIC_LABELS.
BETTER = {name: ("higher" if METRIC_LABELS[name].endswith("↑") else "lower") for name in METRIC_NAMES}
#: Columns of the comparison CSV before the metrics, and after them.
CSV_LEAD_COLUMNS = ("file", "codec", "variant", "family", "bitrate_bps")
CSV_TAIL_COLUMNS = ("n_files", "reconstruction", "original", "error")
#: Names accepted as codec labels: they become folder names, so no path separators.
_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
#: Weight file names too generic to label a codec (the folder name is used instead).
_GENERIC_STEMS = {"model", "pytorch_model", "checkpoint", "weights", "default"}


class ComparisonError(XYTokenizerError):
    """A comparison set up wrongly (labels, codecs) or a model that cannot be loaded."""


# ----------------------------------------------------------------------------- codecs

@dataclass(frozen=True)
class CodecDescription:
    """One codec of a comparison.

    ``label``: unique in the comparison, safe as a folder name; ``bitrate``: bit/s at the
    ``num_quantizers`` levels it decodes with; ``checkpoint``: where it was loaded from.
    """

    label: str
    variant: str = ""
    family: str = ""
    bitrate: float = math.nan
    frame_rate: float = math.nan
    num_quantizers: int = 0
    codebook_size: int = 0
    output_sample_rate: int = 0
    checkpoint: str | None = None

    @classmethod
    def from_codec(cls, codec: Any, label: str | None = None, *,
                   num_quantizers: int | None = None) -> "CodecDescription":
        """Describe a loaded :class:`~xy_tokenizer.codecs.base.Codec` (``label`` default: its variant)."""
        levels = codec.num_quantizers if num_quantizers is None else min(num_quantizers, codec.num_quantizers)
        return cls(label=check_label(label or codec.variant), variant=codec.variant, family=codec.family,
                   bitrate=float(codec.bitrate_at(levels)), frame_rate=float(codec.frame_rate),
                   num_quantizers=int(levels), codebook_size=int(codec.codebook_size),
                   output_sample_rate=int(codec.output_sample_rate),
                   checkpoint=None if codec.checkpoint_path is None else str(codec.checkpoint_path))

    def to_dict(self) -> dict:
        return {"label": self.label, "variant": self.variant, "family": self.family,
                "bitrate_bps": _json_number(self.bitrate), "frame_rate": _json_number(self.frame_rate),
                "num_quantizers": self.num_quantizers, "codebook_size": self.codebook_size,
                "output_sample_rate": self.output_sample_rate, "checkpoint": self.checkpoint}


def check_label(label: str) -> str:
    """``label`` if it can name a codec (a folder name: letters, digits, ``. _ + -``), else :class:`ComparisonError`."""
    if not label or _LABEL_UNSAFE.search(label) or label in (".", ".."):
        raise ComparisonError(f"codec label {label!r} cannot be a folder name; use letters, digits and . _ + - "
                              f"(e.g. {safe_label(label)!r})")
    return label


def safe_label(text: str) -> str:
    """``text`` made into a codec label (unsafe characters become ``_``)."""
    cleaned = _LABEL_UNSAFE.sub("_", str(text)).strip("_.")
    return cleaned or "codec"


def checkpoint_label(path: str | Path) -> str:
    """A label for a checkpoint: its file stem, or its folder's name for a folder or a generic stem
    (``tests/fixtures/tiny16k/model.ckpt`` -> ``tiny16k``)."""
    path = Path(path)
    name = path.name if path.is_dir() else (path.parent.name if path.stem in _GENERIC_STEMS else path.stem)
    return safe_label(name or path.stem)


def unique_labels(labels: Sequence[str]) -> list[str]:
    """``labels`` with repeats made unique by ``-2``, ``-3``, ... (order kept)."""
    seen: set[str] = set()
    out = []
    for label in labels:
        candidate, n = label, 1
        while candidate in seen:
            n += 1
            candidate = f"{label}-{n}"
        seen.add(candidate)
        out.append(candidate)
    return out


# ----------------------------------------------------------------------------- metrics of one clip

def clip_metrics(original, original_rate: int, reconstruction, reconstruction_rate: int, *,
                 notes: dict[str, str] | None = None) -> dict[str, float]:
    """Every metric of :data:`METRIC_NAMES` for one reconstruction, at :data:`METRICS_SAMPLE_RATE`.

    ``original`` (N,) at ``original_rate`` and ``reconstruction`` (M,) at ``reconstruction_rate``
    are resampled to 16 kHz, aligned and scored by :func:`compute_metrics`; NaN where a metric
    cannot be computed (reason in ``notes``). Raises :class:`~xy_tokenizer.errors.AudioError`
    for unusable signals.
    """
    ref = resample(np.asarray(original, dtype=np.float32), int(original_rate), METRICS_SAMPLE_RATE)
    est = resample(np.asarray(reconstruction, dtype=np.float32), int(reconstruction_rate), METRICS_SAMPLE_RATE)
    return compute_metrics(ref, est, METRICS_SAMPLE_RATE, notes=notes)


# ----------------------------------------------------------------------------- the session

@dataclass
class ComparisonRow:
    """Metrics of one file reconstructed by one codec (``codec`` is its label)."""

    file: str
    codec: str
    metrics: dict[str, float]
    notes: dict[str, str] = field(default_factory=dict)
    reconstruction: str | None = None
    original: str | None = None


@dataclass(frozen=True)
class CodecSummary:
    """One codec over a session: ``stats[metric][stat]`` for stat in :data:`STATS` (NaN: no value),
    ``files`` scored, ``failed`` files."""

    codec: CodecDescription
    files: int
    failed: int
    stats: dict[str, dict[str, float]]

    def to_dict(self) -> dict:
        return {**self.codec.to_dict(), "files": self.files, "failed": self.failed,
                "metrics": {m: {s: _json_number(v) for s, v in by.items()} for m, by in self.stats.items()}}


@dataclass(frozen=True)
class SeriesPoint:
    codec: str          # label
    bitrate: float      # bit/s
    value: float        # the statistic of the metric (NaN: no value)


@dataclass(frozen=True)
class MetricSeries:
    """One line of a "metric vs bitrate" plot: the codecs of one group, by increasing bitrate."""

    name: str                    # the group (a family, or a codec label)
    metric: str
    stat: str
    better: str                  # "higher" or "lower"
    points: tuple[SeriesPoint, ...]

    def to_dict(self) -> dict:
        return {"name": self.name, "metric": self.metric, "stat": self.stat, "better": self.better,
                "points": [{"codec": p.codec, "bitrate_bps": _json_number(p.bitrate), "value": _json_number(p.value)}
                           for p in self.points]}


def _json_number(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else repr(float(value))
    return str(value)


def _stats(values: Iterable[float]) -> dict[str, float]:
    data = np.array([float(v) for v in values], dtype=np.float64)
    data = data[np.isfinite(data)]
    if not data.size:
        return {s: math.nan for s in STATS}
    return {"mean": float(data.mean()), "median": float(np.median(data))}


class ComparisonSession:
    """Rows of metrics (file x codec) and failures of one comparison; codecs in the order added."""

    def __init__(self, codecs: Iterable[CodecDescription] = ()) -> None:
        self.codecs: dict[str, CodecDescription] = {}
        self.rows: list[ComparisonRow] = []
        #: (file, codec label, message) of every file a codec could not reconstruct or score.
        self.failures: list[tuple[str, str, str]] = []
        for codec in codecs:
            self.add_codec(codec)

    # -- filling
    def add_codec(self, codec: CodecDescription) -> None:
        """Add a codec; adding one with the same label again replaces its description."""
        check_label(codec.label)
        self.codecs[codec.label] = codec

    def _known(self, label: str) -> None:
        if label not in self.codecs:
            raise ComparisonError(f"no codec labelled {label!r} in this comparison; add it first "
                                  f"(known: {', '.join(self.codecs) or 'none'})")

    def add_row(self, file: str | Path, codec: str, metrics: Mapping[str, float], *,
                notes: Mapping[str, str] | None = None, reconstruction: str | Path | None = None,
                original: str | Path | None = None) -> ComparisonRow:
        self._known(codec)
        row = ComparisonRow(str(file), codec, {m: float(metrics.get(m, math.nan)) for m in METRIC_NAMES},
                            dict(notes or {}), None if reconstruction is None else str(reconstruction),
                            None if original is None else str(original))
        self.rows.append(row)
        return row

    def add_failure(self, file: str | Path, codec: str, message: str) -> None:
        self._known(codec)
        self.failures.append((str(file), codec, message))

    def score(self, file: str | Path, original, original_rate: int, codec: str, reconstruction,
              reconstruction_rate: int, *, reconstruction_path: str | Path | None = None,
              original_path: str | Path | None = None) -> ComparisonRow:
        """:func:`clip_metrics` of one reconstruction, added as a row (``file``: the name it is listed under)."""
        self._known(codec)
        notes: dict[str, str] = {}
        values = clip_metrics(original, original_rate, reconstruction, reconstruction_rate, notes=notes)
        return self.add_row(file, codec, values, notes=notes, reconstruction=reconstruction_path,
                            original=original_path)

    def add_clip(self, file: str | Path, original, rate: int,
                 reconstructions: Mapping[str, tuple[np.ndarray, int]], *,
                 cancel: Callable[[], bool] | None = None) -> list[ComparisonRow]:
        """Score one original (N,) at ``rate`` against each codec's reconstruction
        (label -> ``(audio (M,), its rate)``). A reconstruction that cannot be scored becomes a
        failure naming the file and the codec; the others still get their rows. ``cancel()``
        returning True stops between codecs with :class:`~xy_tokenizer.errors.Cancelled`."""
        rows = []
        for label, (audio, audio_rate) in reconstructions.items():
            if cancel is not None and cancel():
                raise Cancelled("the comparison was cancelled")
            try:
                rows.append(self.score(file, original, rate, label, audio, audio_rate))
            except ComparisonError:
                raise
            except XYTokenizerError as exc:
                self.add_failure(file, label, f"{file}: {label}: {exc}")
        return rows

    # -- results
    def rows_of(self, codec: str) -> list[ComparisonRow]:
        return [r for r in self.rows if r.codec == codec]

    def summary(self) -> dict[str, CodecSummary]:
        """Per codec (in the order added): mean and median of each metric over its rows (NaN ignored)."""
        out = {}
        for label, codec in self.codecs.items():
            rows = self.rows_of(label)
            out[label] = CodecSummary(codec, len(rows), sum(1 for f in self.failures if f[1] == label),
                                      {m: _stats(r.metrics[m] for r in rows) for m in METRIC_NAMES})
        return out

    def series(self, metric: str, stat: str = "mean", *, group_by: str = "family") -> list[MetricSeries]:
        """Plot data for ``metric`` against bitrate: one :class:`MetricSeries` per group.

        ``group_by``: ``"family"`` (codecs of one family form a line through their bitrates) or
        ``"codec"`` (one point per series). Points are sorted by bitrate; groups keep the order
        their first codec was added in. Codecs without a bitrate are left out.
        """
        if metric not in METRIC_NAMES:
            raise ComparisonError(f"unknown metric {metric!r}; choose one of {', '.join(METRIC_NAMES)}")
        if stat not in STATS:
            raise ComparisonError(f"unknown statistic {stat!r}; choose one of {', '.join(STATS)}")
        if group_by not in ("family", "codec"):
            raise ComparisonError(f"group_by is 'family' or 'codec', not {group_by!r}")
        groups: dict[str, list[SeriesPoint]] = {}
        for label, summary in self.summary().items():
            codec = summary.codec
            if not math.isfinite(codec.bitrate):
                continue
            name = (codec.family or label) if group_by == "family" else label
            groups.setdefault(name, []).append(SeriesPoint(label, codec.bitrate, summary.stats[metric][stat]))
        return [MetricSeries(name, metric, stat, BETTER[metric], tuple(sorted(points, key=lambda p: p.bitrate)))
                for name, points in groups.items()]

    def csv_text(self) -> str:
        """The CSV: header; one row per file x codec (rows in the order scored, then one per
        failure with empty metrics and its ``error``); then per codec a ``mean`` and a ``median``
        row (``file`` column) with ``n_files``. NaN is an empty cell."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([*CSV_LEAD_COLUMNS, *METRIC_NAMES, *CSV_TAIL_COLUMNS])
        for row in self.rows:
            codec = self.codecs[row.codec]
            writer.writerow([row.file, codec.label, codec.variant, codec.family, _cell(codec.bitrate),
                             *(_cell(row.metrics[m]) for m in METRIC_NAMES), "", _cell(row.reconstruction),
                             _cell(row.original), ""])
        for file, label, message in self.failures:
            codec = self.codecs[label]
            writer.writerow([file, codec.label, codec.variant, codec.family, _cell(codec.bitrate),
                             *([""] * len(METRIC_NAMES)), "", "", "", message])
        for label, summary in self.summary().items():
            codec = summary.codec
            for stat in STATS:
                writer.writerow([stat, label, codec.variant, codec.family, _cell(codec.bitrate),
                                 *(_cell(summary.stats[m][stat]) for m in METRIC_NAMES), summary.files, "", "", ""])
        return buffer.getvalue()

    def write_csv(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write :meth:`csv_text` atomically; :class:`~xy_tokenizer.io.fsutil.OutputExistsError`
        when ``path`` exists and not ``overwrite``."""
        path = Path(path)
        with atomic_write(path, overwrite=overwrite) as tmp:
            tmp.write_text(self.csv_text(), encoding="utf-8")
        return path

    def to_dict(self) -> dict:
        """Codecs with their summaries, every row, failures and the mean-vs-bitrate series of each
        metric (JSON-ready: NaN is null)."""
        return {
            "version": __version__,
            "metrics": {m: {"label": METRIC_LABELS[m], "better": BETTER[m]} for m in METRIC_NAMES},
            "codecs": [s.to_dict() for s in self.summary().values()],
            "rows": [{"file": r.file, "codec": r.codec, "metrics": {m: _json_number(v) for m, v in r.metrics.items()},
                      "notes": r.notes, "reconstruction": r.reconstruction, "original": r.original}
                     for r in self.rows],
            "failures": [{"file": f, "codec": c, "message": m} for f, c, m in self.failures],
            "series": {m: [s.to_dict() for s in self.series(m)] for m in METRIC_NAMES},
        }

    def write_json(self, path: str | Path, *, overwrite: bool = False, extra: Mapping[str, Any] | None = None) -> Path:
        """Write :meth:`to_dict` (plus ``extra`` keys) atomically as JSON."""
        path = Path(path)
        document = {**self.to_dict(), **(extra or {})}
        with atomic_write(path, overwrite=overwrite) as tmp:
            tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


# ----------------------------------------------------------------------------- running codecs

@dataclass
class CodecSource:
    """A codec to compare: a checkpoint (file or folder, with an optional family ``config``) to load
    when its turn comes, or a ``codec`` already loaded (kept loaded afterwards)."""

    label: str
    checkpoint: Path | None = None
    config: Any = None
    codec: Any = None

    def __post_init__(self) -> None:
        check_label(self.label)
        if (self.checkpoint is None) == (self.codec is None):
            raise ComparisonError(f"codec {self.label}: give a checkpoint or a loaded codec (one of them)")


@dataclass
class ComparisonEvent:
    """What :func:`run_comparison` yields: a job event of one codec's run (``job``), or a
    codec-level event (``kind`` "codec_started", "codec_failed", "codec_finished"), with the
    row a finished file added (``row``) and the session's running totals in ``done``/``total``
    (files x codecs)."""

    kind: str
    codec: str
    job: Any = None                 # xy_tokenizer.jobs.JobEvent for kind "job"
    row: ComparisonRow | None = None
    message: str = ""
    done: float = 0.0
    total: float = 0.0


def release_memory() -> None:
    """Collect garbage and give cached accelerator memory back (after dropping a model).

    When automatic collection is off, whoever turned it off collects (the studio does so on its
    GUI thread only: a collection on a worker could free Qt objects there), so only the cache
    is released here."""
    if gc.isenabled():
        gc.collect()
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_comparison(sources: Sequence[CodecSource], items: Sequence[Any], out_dir: Path | None, *,
                   session: ComparisonSession | None = None, device: str = "auto", dtype: str = "float32",
                   trust: bool = False, overwrite: bool = False, batch_size: int = 4,
                   num_quantizers: int | None = None, audio_subtype: str = "PCM_16",
                   cancel: Callable[[], bool] | None = None,
                   on_progress: Callable[[float, float], None] | None = None) -> Iterator[ComparisonEvent]:
    """Reconstruct ``items`` (:class:`~xy_tokenizer.jobs.JobItem`) with each codec in turn and score them.

    For each source: ``codec_started``; its model is loaded (``xy_tokenizer.load``; a failure is
    a ``codec_failed`` event and the comparison goes on with the next codec); ``run_job`` in
    reconstruct mode writes ``out_dir/<label>/<rel>.wav`` and the tokens (``.npy`` + ``.json``)
    (``out_dir`` None: nothing written); every job event is passed on as kind ``"job"``. A
    finished file is scored against its original (read again at 16 kHz) and added to
    ``session`` (``row``); a file skipped because its outputs exist is scored from the existing
    ``.wav``. Failures (reconstruction or scoring) go to ``session.failures`` naming the file and
    codec. Then the model is freed (unless the source brought a loaded codec) and
    ``codec_finished`` follows. ``cancel()`` stops the run (the job's ``cancelled`` event, then
    :class:`~xy_tokenizer.errors.Cancelled` is raised). ``on_progress(done, total)`` counts files
    x codecs. The session (new one if None) is filled in place: read it afterwards.
    """
    from xy_tokenizer.jobs import AUDIO_SUFFIX, EventKind, JobOptions, run_job

    sources = list(sources)
    items = list(items)
    labels = [s.label for s in sources]
    if len(set(labels)) != len(labels):
        raise ComparisonError(f"codec labels must be unique; got {', '.join(labels)}")
    session = ComparisonSession() if session is None else session
    total = float(len(sources) * len(items))
    originals_rate = METRICS_SAMPLE_RATE

    def progress(base: int) -> Callable[[float, float], None]:
        def report(done: float, _total: float) -> None:
            if on_progress is not None:
                on_progress(base * len(items) + done, total)
        return report

    for position, source in enumerate(sources):
        label = source.label
        base = float(position * len(items))
        yield ComparisonEvent("codec_started", label, message=f"{label}: {len(items)} files", done=base, total=total)
        codec = source.codec
        if codec is None:
            import xy_tokenizer

            try:
                codec = xy_tokenizer.load(source.checkpoint, config=source.config, device=device, dtype=dtype,
                                          trust=trust)
            except (XYTokenizerError, OSError, RuntimeError, ValueError) as exc:
                message = f"{label}: cannot load the model {source.checkpoint}: {exc}"
                if label not in session.codecs:
                    session.add_codec(CodecDescription(label, checkpoint=str(source.checkpoint)))
                for item in items:
                    session.add_failure(item.rel.as_posix(), label, message)
                yield ComparisonEvent("codec_failed", label, message=message, done=base + len(items), total=total)
                continue
        try:
            session.add_codec(CodecDescription.from_codec(codec, label, num_quantizers=num_quantizers))
            levels = None if num_quantizers is None else min(num_quantizers, codec.num_quantizers)
            options = JobOptions(mode="reconstruct", out_dir=None if out_dir is None else Path(out_dir) / label,
                                 overwrite=overwrite, batch_size=batch_size, num_quantizers=levels,
                                 audio_subtype=audio_subtype, keep_arrays=True)
            events = run_job(codec, items, options, cancel=cancel, on_progress=progress(position))
            done = base
            for event in events:
                row = None
                if event.kind in (EventKind.FILE_DONE, EventKind.FILE_SKIPPED):
                    row = _score_event(session, event, label, codec.output_sample_rate, options, AUDIO_SUFFIX,
                                       originals_rate)
                elif event.kind is EventKind.FILE_FAILED:
                    session.add_failure(event.item.rel.as_posix(), label, event.message)
                if event.kind in (EventKind.PROGRESS, EventKind.FINISHED, EventKind.CANCELLED):
                    done = base + event.done
                yield ComparisonEvent("job", label, job=event, row=row, done=done, total=total)
                if event.kind is EventKind.CANCELLED:
                    raise Cancelled("the comparison was cancelled")
        finally:
            # Drop every reference to a model this function loaded (the job holds one too) before the next.
            events = None
            codec = None
            if source.codec is None:
                release_memory()
        yield ComparisonEvent("codec_finished", label, done=base + len(items), total=total)


def _score_event(session: ComparisonSession, event: Any, label: str, output_rate: int, options: Any,
                 audio_suffix: str, originals_rate: int) -> ComparisonRow | None:
    """Score a finished (or skipped, from its existing output) file; a failure is recorded, not raised."""
    item = event.item
    try:
        original, _ = load_audio(item.path, originals_rate)
        if event.result is not None and event.result.audio is not None:
            audio, rate = event.result.audio, output_rate
            written = next((p for p in event.result.outputs if p.suffix == audio_suffix), None)
        elif options.out_dir is not None:
            written = (Path(options.out_dir) / item.rel).with_suffix(audio_suffix)
            audio, _ = load_audio(written, output_rate)
            rate = output_rate
        else:
            return None
        return session.score(item.rel.as_posix(), original, originals_rate, label, audio, rate,
                             reconstruction_path=written, original_path=item.path)
    except XYTokenizerError as exc:
        message = str(exc) if str(item.path) in str(exc) else f"{item.path}: {exc}"
        session.add_failure(item.rel.as_posix(), label, f"{label}: scoring failed: {message}")
        return None
