"""Files the user brings in: audio to reconstruct and ``.npy`` token files to decode.

:func:`scan_paths` turns dropped or chosen paths (files and folders) into file-list rows, in
batches, meant to run on a worker (the studio's ``scan`` lane) so that the GUI thread never
walks a folder or reads a header: audio through ``jobs.collect_inputs`` (folders recurse)
with cheap header facts from ``audio.audio_info``; token files with their shape read from the
``.npy`` header and sidecar. A folder is walked once when it holds audio; a folder without
audio is walked a second time for its token files. Nothing here imports torch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.io.audio import audio_info
from xy_tokenizer.io.tokens import TOKEN_SUFFIX, check_layout, load_token_meta
from xy_tokenizer.jobs import JobItem, collect_inputs

from .file_list import FileRow, RowKind, RowStatus

#: A batch of rows is handed over after this many seconds of scanning ...
BATCH_SECONDS = 0.05
#: ... or this many rows, whichever comes first.
BATCH_ROWS = 256


@dataclass
class ScanBatch:
    """Rows found since the last batch, and messages about inputs that gave none."""

    rows: list[FileRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def is_token_path(path: Path) -> bool:
    return Path(path).suffix.lower() == TOKEN_SUFFIX


def audio_row(item: JobItem) -> FileRow:
    """A row for an audio file; FAILED with the reason when its header cannot be read."""
    row = FileRow(item.path, RowKind.AUDIO, rel=item.rel)
    try:
        info = audio_info(item.path)
    except XYTokenizerError as exc:
        row.status, row.message = RowStatus.FAILED, str(exc)
        return row
    row.duration, row.sample_rate, row.channels = info.duration, info.sample_rate, info.channels
    return row


def token_row(item: JobItem, max_levels: int | None = None, frame_rate: float | None = None) -> FileRow:
    """A row for a ``.npy`` token file ``(k, T)``: shape from the header, without reading codes.

    The duration is ``T`` over the sidecar's frame rate (kept as ``row.frame_rate``), else over
    ``frame_rate`` (the loaded codec's, or the registry's default; None leaves it unknown);
    FAILED with the reason when the file is not a 2-D integer array with at most
    ``max_levels`` levels (the loaded codec's) or its sidecar is unreadable (decoding would
    fail the same way).
    """
    row = FileRow(item.path, RowKind.TOKENS, rel=item.rel)
    try:
        codes = np.load(item.path, mmap_mode="r", allow_pickle=False)
        if not isinstance(codes, np.ndarray):
            raise XYTokenizerError(f"{item.path}: not a token file (expected one integer array (k, T))")
        check_layout(codes, str(item.path), max_levels)
        row.levels, row.frames = int(codes.shape[0]), int(codes.shape[1])
        meta = load_token_meta(item.path)
    except (OSError, ValueError, EOFError) as exc:
        row.status, row.message = RowStatus.FAILED, f"{item.path}: cannot be read as a .npy file ({exc})"
        return row
    except XYTokenizerError as exc:
        row.status, row.message = RowStatus.FAILED, str(exc)
        return row
    rate = meta.get("frame_rate") if meta else None
    if isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate > 0:
        row.frame_rate = float(rate)
    rate = row.frame_rate or frame_rate
    row.duration = row.frames / rate if rate else None
    if meta and isinstance(meta.get("source_sample_rate"), int):
        row.sample_rate = meta["source_sample_rate"]
    return row


def _split_inputs(paths: list[Path]) -> tuple[list[JobItem], list[JobItem], list[str]]:
    """(audio items, token items, problems) for ``paths``, each folder walked once for audio
    and, only when it holds none, once more for token files."""
    audio_inputs = [p for p in paths if not (p.is_file() and is_token_path(p))]
    audio_items, problems = collect_inputs(audio_inputs, "audio") if audio_inputs else ([], [])
    folders = [p for p in audio_inputs if p.is_dir()]
    with_audio = {root for root in folders for item in audio_items if _is_under(item.path, root)}
    token_inputs = [p for p in paths if p.is_file() and is_token_path(p)] + \
        [root for root in folders if root not in with_audio]
    token_items: list[JobItem] = []
    if token_inputs:
        token_items, token_problems = collect_inputs(token_inputs, "tokens")
        token_roots = {root for root in token_inputs if root.is_dir()
                       and any(_is_under(item.path, root) for item in token_items)}
        # a folder of token files is not "a folder without audio"
        problems = [p for p in problems if not any(p.startswith(f"{root}: ") for root in token_roots)]
        problems += [p for p in token_problems if not any(p.startswith(f"{root}: ") for root in folders
                                                          if root not in token_roots)]
    return audio_items, token_items, problems


def _is_under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def scan_paths(paths: Sequence[str | Path], *, frame_rate: float | None = None,
               is_cancelled: Callable[[], bool] | None = None,
               report: Callable[[float, float], None] | None = None) -> Iterator[ScanBatch]:
    """Rows for files and folders, in batches: ``.npy`` files are token files, the rest audio.

    A folder contributes its audio files (recursively); a folder holding no audio but token
    files contributes those. The first batch carries the problems (inputs that do not exist,
    folders with nothing to process, output-name clashes; see ``collect_inputs``); each batch
    holds the rows found in about :data:`BATCH_SECONDS`. ``frame_rate`` is given to
    :func:`token_row`. Stops early when ``is_cancelled()``; ``report(done, total)`` counts files.
    """
    audio_items, token_items, problems = _split_inputs([Path(p) for p in paths])
    work = [(audio_row, item) for item in audio_items] + \
        [(lambda item: token_row(item, frame_rate=frame_rate), item) for item in token_items]
    batch = ScanBatch(problems=problems)
    started = time.monotonic()
    for done, (make, item) in enumerate(work):
        if is_cancelled is not None and is_cancelled():
            break
        row = make(item)
        row.real_path()             # resolved here, not on the GUI thread
        time.sleep(0)               # let the GUI thread take the GIL between files
        batch.rows.append(row)
        if len(batch.rows) >= BATCH_ROWS or time.monotonic() - started >= BATCH_SECONDS:
            if report is not None:
                report(done + 1, len(work))
            yield batch
            batch, started = ScanBatch(), time.monotonic()
    if batch.rows or batch.problems:
        yield batch
