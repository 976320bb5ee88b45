"""Codebook usage statistics of token arrays and files, and a 2-D view of the codebooks.

Internally levels are indexed from 0 (row 0 of a ``(k, T)`` codes array is the first,
coarsest residual level); users see them numbered from 1, "L1".."L8" (:func:`level_label`), in
the text report and the CSV, as in the studio's token grid. Statistics of several arrays
aggregate their counts level by level.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from xy_tokenizer.errors import TokenFileError, XYTokenizerError
from xy_tokenizer.io.fsutil import atomic_write
from xy_tokenizer.io.tokens import check_codes, load_tokens

#: Most frequent codes listed per level.
DEFAULT_TOP_N = 10
#: Label of the aggregate rows in reports.
ALL_FILES = "ALL"
#: Columns of the CSV written by :func:`write_report`.
CSV_COLUMNS = ("file", "level", "total", "used", "utilisation", "entropy_bits", "perplexity", "top")
_TABLE_TOP = 5


def level_label(level: int) -> str:
    """The name users see for the 0-based level index ``level``: "L1" for 0 ... "L8" for 7."""
    return f"L{level + 1}"


@dataclass
class LevelStats:
    """Usage of one codebook level.

    ``level``: 0-based index of the level (shown as :func:`level_label`, "L1" for 0);
    ``counts``: (codebook_size,) int64, occurrences of each code; ``total`` = counts.sum();
    ``used``: codes with a count > 0; ``utilisation`` = used / codebook_size;
    ``entropy_bits``: Shannon entropy (log2) of counts / total (0 for an empty level);
    ``max_entropy_bits`` = log2(codebook_size) (10 for 1024 codes);
    ``perplexity`` = 2 ** entropy_bits (the number of equally likely codes with that entropy);
    ``top``: up to ``top_n`` (code, count) pairs of used codes, most frequent first, ties by
    lower code; ``unused``: (codebook_size - used,) int64 codes never seen, ascending.
    """

    level: int
    counts: np.ndarray
    total: int
    used: int
    utilisation: float
    entropy_bits: float
    max_entropy_bits: float
    perplexity: float
    top: list[tuple[int, int]]
    unused: np.ndarray

    @classmethod
    def from_counts(cls, level: int, counts: np.ndarray, top_n: int = DEFAULT_TOP_N) -> "LevelStats":
        """Statistics of one level from its code counts ``(codebook_size,)``."""
        counts = np.asarray(counts, dtype=np.int64)
        size = counts.size
        total = int(counts.sum())
        used_mask = counts > 0
        if total:
            p = counts[used_mask] / total
            entropy = float(-(p * np.log2(p)).sum()) + 0.0   # + 0.0 turns -0.0 into 0.0
        else:
            entropy = 0.0
        order = np.argsort(-counts, kind="stable")               # stable: ties by lower code
        top = [(int(c), int(counts[c])) for c in order[:top_n] if counts[c] > 0]
        return cls(
            level=level,
            counts=counts,
            total=total,
            used=int(used_mask.sum()),
            utilisation=float(used_mask.sum()) / size,
            entropy_bits=entropy,
            max_entropy_bits=math.log2(size),
            perplexity=2.0 ** entropy,
            top=top,
            unused=np.flatnonzero(~used_mask).astype(np.int64),
        )

    @property
    def label(self) -> str:
        """The level as users see it: "L1".."L8"."""
        return level_label(self.level)

    def to_dict(self) -> dict:
        """Plain JSON-ready form: every field, arrays as lists, ``top`` as [code, count] pairs;
        ``level`` is the 0-based index and ``label`` its name ("L1" for level 0)."""
        return {
            "level": self.level,
            "label": self.label,
            "total": self.total,
            "used": self.used,
            "utilisation": self.utilisation,
            "entropy_bits": self.entropy_bits,
            "max_entropy_bits": self.max_entropy_bits,
            "perplexity": self.perplexity,
            "top": [[code, count] for code, count in self.top],
            "unused": self.unused.tolist(),
            "counts": self.counts.tolist(),
        }


@dataclass
class StatsReport:
    """Statistics per token file (keyed by its path as given) and over all of them."""

    per_file: dict[str, list[LevelStats]]
    overall: list[LevelStats]
    #: Messages about files left out (``token_file_stats(..., keep_going=True)``), each naming its file.
    problems: list[str] = field(default_factory=list)


def level_stats(codes: np.ndarray | Sequence[np.ndarray], codebook_size: int,
                top_n: int = DEFAULT_TOP_N) -> list[LevelStats]:
    """Per-level statistics of codes ``(k, T)``, or of a list of such arrays together.

    With a list, counts of the same level are added across arrays (arrays may have different
    k and T; level ``i`` counts the arrays that have it). Returns one :class:`LevelStats` per
    level, ``max(k)`` in all. Raises :class:`~xy_tokenizer.errors.TokenFileError` for arrays
    that are not integer ``(k, T)`` with values in ``0..codebook_size-1``.
    """
    single = isinstance(codes, np.ndarray)
    arrays = [codes] if single else list(codes)
    if not arrays:
        raise XYTokenizerError("no token arrays given; statistics need at least one (k, T) array")
    checked = [check_codes(np.asarray(a), "codes" if single else f"codes[{i}]", codebook_size)
               for i, a in enumerate(arrays)]
    levels = max(a.shape[0] for a in checked)
    counts = np.zeros((levels, codebook_size), dtype=np.int64)
    for array in checked:
        for level, row in enumerate(array):
            counts[level] += np.bincount(row, minlength=codebook_size)
    return [LevelStats.from_counts(level, counts[level], top_n) for level in range(levels)]


def token_file_stats(paths: Iterable[str | Path], codebook_size: int | None = None,
                     top_n: int = DEFAULT_TOP_N, *, keep_going: bool = False) -> StatsReport:
    """Statistics of each token file (``<stem>.npy``) and of all of them together.

    ``codebook_size`` None: the size the files' sidecars record (they must agree), or
    for files without one the smallest power of two above their largest code. A path given
    twice counts once. An unreadable or invalid token file raises
    :class:`~xy_tokenizer.errors.TokenFileError` naming it, or with ``keep_going`` is left out
    with its message in ``report.problems`` (an error is raised only when no file is usable).
    """
    loaded: dict[str, tuple[np.ndarray, dict | None]] = {}
    problems: list[str] = []
    for path in paths:
        key = str(path)
        if key in loaded:
            continue
        try:
            loaded[key] = load_tokens(Path(path), codebook_size=codebook_size)
        except TokenFileError as exc:
            if not keep_going:
                raise
            problems.append(str(exc))
    if not loaded:
        if problems:
            raise TokenFileError("no usable token file: " + "; ".join(problems))
        raise XYTokenizerError("no token files given; pass one or more .npy token files")
    if codebook_size is None:
        recorded = {key: int(meta["codebook_size"]) for key, (_, meta) in loaded.items()
                    if meta and meta.get("codebook_size")}
        sizes = set(recorded.values())
        if len(sizes) > 1:
            raise XYTokenizerError(
                "token files from codebooks of different sizes cannot be summed: "
                + ", ".join(f"{key} ({size})" for key, size in recorded.items()))
        codebook_size = sizes.pop() if sizes else _inferred_size(codes for codes, _ in loaded.values())
    per_file = {}
    for key, (codes, _) in loaded.items():
        try:
            per_file[key] = level_stats(codes, codebook_size, top_n)
        except TokenFileError as exc:     # codes beyond the codebook size the others agree on
            if not keep_going:
                raise
            problems.append(str(exc).replace("codes", key, 1))
    if not per_file:
        raise TokenFileError("no usable token file: " + "; ".join(problems))
    return StatsReport(per_file=per_file, overall=_sum_levels(per_file.values(), codebook_size, top_n),
                       problems=problems)


def _inferred_size(arrays: Iterable[np.ndarray]) -> int:
    """Codebook size for token files without a sidecar: the smallest power of two above the largest code."""
    largest = max(int(a.max()) for a in arrays)
    return 1 << max(1, largest.bit_length())


def _sum_levels(reports: Iterable[list[LevelStats]], codebook_size: int, top_n: int) -> list[LevelStats]:
    """Statistics of several files together, from their per-level counts (no second pass)."""
    reports = list(reports)
    levels = max(len(levels) for levels in reports)
    counts = np.zeros((levels, codebook_size), dtype=np.int64)
    for per_level in reports:
        for stats in per_level:
            counts[stats.level] += stats.counts
    return [LevelStats.from_counts(level, counts[level], top_n) for level in range(levels)]


def _top_text(top: list[tuple[int, int]], limit: int | None = None) -> str:
    return ";".join(f"{code}:{count}" for code, count in top[:limit])


def _table(title: str, levels: list[LevelStats]) -> list[str]:
    size = levels[0].counts.size
    lines = [title,
             f"  {'level':>5}  {'total':>8}  {'used':>5}  {'util':>7}  "
             f"{'entropy (bits / ' + format(levels[0].max_entropy_bits, 'g') + ')':>20}  "
             f"{'perplexity':>10}  {'unused':>6}  top codes (code:count)"]
    for s in levels:
        lines.append(f"  {s.label:>5}  {s.total:>8}  {s.used:>5}  {s.utilisation:>7.2%}  "
                     f"{s.entropy_bits:>20.3f}  {s.perplexity:>10.1f}  {size - s.used:>6}  "
                     f"{_top_text(s.top, _TABLE_TOP).replace(';', ' ')}")
    return lines


def format_report(report: StatsReport) -> str:
    """A text table per file and, for several files, one for all files together."""
    lines: list[str] = []
    for name, levels in report.per_file.items():
        lines += _table(name, levels) + [""]
    if len(report.per_file) > 1:
        lines += _table(f"{ALL_FILES} ({len(report.per_file)} files)", report.overall) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _csv_text(report: StatsReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    sections = list(report.per_file.items()) + [(ALL_FILES, report.overall)]
    for name, levels in sections:
        for s in levels:
            writer.writerow([name, s.label, s.total, s.used, repr(s.utilisation), repr(s.entropy_bits),
                             repr(s.perplexity), _top_text(s.top)])
    return buffer.getvalue()


def _json_text(report: StatsReport) -> str:
    document = {
        "codebook_size": int(report.overall[0].counts.size),
        "files": {name: [s.to_dict() for s in levels] for name, levels in report.per_file.items()},
        "overall": [s.to_dict() for s in report.overall],
    }
    return json.dumps(document, indent=1) + "\n"


def write_report(report: StatsReport, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``report`` atomically as CSV (``.csv``) or JSON (``.json``); returns the path.

    CSV: one row per file and level, then :data:`ALL_FILES` rows for all files together;
    columns :data:`CSV_COLUMNS`, ``level`` as "L1".."L8", ``top`` as
    ``code:count;code:count;...``. JSON: every field
    of every :class:`LevelStats` (counts and unused codes as lists) under ``files`` and
    ``overall``. Raises :class:`~xy_tokenizer.fsutil.OutputExistsError` when ``path`` exists
    and not ``overwrite``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        text = _csv_text(report)
    elif suffix == ".json":
        text = _json_text(report)
    else:
        raise XYTokenizerError(f"cannot write statistics to {path.name}: choose a .csv or .json file name")
    with atomic_write(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """Project ``vectors`` (N, D) on their first two principal axes -> (N, 2) float64.

    The data is centred and decomposed by SVD; column ``j`` holds the coordinates along the
    ``j``-th axis, its sign fixed so that the entry of largest magnitude is positive (the
    result does not depend on the SVD's arbitrary signs). An axis along which the data does
    not vary (numerically: fewer than 3 distinct vectors, D < 2) is all zeros.
    """
    data = np.asarray(vectors, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] == 0:
        raise XYTokenizerError(f"expected code vectors of shape (N, D) with N, D >= 1; got shape {data.shape}")
    if not np.all(np.isfinite(data)):
        raise XYTokenizerError("the code vectors hold NaN or infinite values; the codebook is damaged")
    centred = data - data.mean(axis=0)
    u, singular, _ = np.linalg.svd(centred, full_matrices=False)
    out = np.zeros((data.shape[0], 2))
    tolerance = singular.max() * max(data.shape) * np.finfo(np.float64).eps
    axes = int(np.count_nonzero(singular[:2] > tolerance))
    out[:, :axes] = u[:, :axes] * singular[:axes]
    for j in range(axes):
        if out[np.argmax(np.abs(out[:, j])), j] < 0:
            out[:, j] = -out[:, j]
    return out
