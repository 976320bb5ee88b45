"""Files the user brings in: audio to reconstruct and ``.npy`` token files to decode.

:func:`rows_for_paths` turns dropped or chosen paths (files and folders) into file-list rows:
audio through ``jobs.collect_inputs`` (folders recurse) with cheap header facts from
``audio.audio_info``; token files with their shape read from the ``.npy`` header and sidecar.
Nothing here imports torch; the decoding itself is a ``run_job(mode="decode")`` on the worker.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from xy_tokenizer.io.audio import audio_info
from xy_tokenizer.codecs.xy.constants import FRAME_RATE
from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.jobs import JobItem, collect_inputs
from xy_tokenizer.io.tokens import TOKEN_SUFFIX, check_layout, load_token_meta

from .file_list import AUDIO, FAILED, TOKENS, FileRow


def is_token_path(path: Path) -> bool:
    return Path(path).suffix.lower() == TOKEN_SUFFIX


def audio_row(item: JobItem) -> FileRow:
    """A row for an audio file; FAILED with the reason when its header cannot be read."""
    row = FileRow(item.path, AUDIO, rel=item.rel)
    try:
        info = audio_info(item.path)
    except XYTokenizerError as exc:
        row.status, row.message = FAILED, str(exc)
        return row
    row.duration, row.sample_rate, row.channels = info.duration, info.sample_rate, info.channels
    return row


def token_row(item: JobItem, max_levels: int | None = None, frame_rate: float | None = None) -> FileRow:
    """A row for a ``.npy`` token file ``(k, T)``: shape from the header, without reading codes.

    The duration is ``T`` over the sidecar's frame rate (else ``frame_rate``, the loaded
    codec's); FAILED with the reason when the file is not a 2-D integer array with at most
    ``max_levels`` levels (the loaded codec's) or its sidecar is unreadable (decoding would
    fail the same way).
    """
    row = FileRow(item.path, TOKENS, rel=item.rel)
    try:
        codes = np.load(item.path, mmap_mode="r", allow_pickle=False)
        if not isinstance(codes, np.ndarray):
            raise XYTokenizerError(f"{item.path}: not a token file (expected one integer array (k, T))")
        check_layout(codes, str(item.path), max_levels)
        row.levels, row.frames = int(codes.shape[0]), int(codes.shape[1])
        meta = load_token_meta(item.path)
    except (OSError, ValueError, EOFError) as exc:
        row.status, row.message = FAILED, f"{item.path}: cannot be read as a .npy file ({exc})"
        return row
    except XYTokenizerError as exc:
        row.status, row.message = FAILED, str(exc)
        return row
    rate = meta.get("frame_rate") if meta else None
    rate = rate if isinstance(rate, (int, float)) and rate > 0 else frame_rate or FRAME_RATE
    row.duration = row.frames / rate
    if meta and isinstance(meta.get("source_sample_rate"), int):
        row.sample_rate = meta["source_sample_rate"]
    return row


def _is_token_folder(path: Path) -> bool:
    """A folder without audio files but with token files."""
    return (path.is_dir() and not collect_inputs([path], "audio")[0]
            and bool(collect_inputs([path], "tokens")[0]))


def rows_for_paths(paths: Sequence[str | Path]) -> tuple[list[FileRow], list[str]]:
    """Rows for files and folders: ``.npy`` files are token files, the rest audio.

    A folder contributes its audio files (recursively); a folder holding no audio but token
    files contributes those. Returns ``(rows, problems)``: messages about inputs that do not
    exist, folders with nothing to process and output-name clashes (see ``collect_inputs``).
    """
    paths = [Path(p) for p in paths]
    token_inputs = [p for p in paths if (p.is_file() and is_token_path(p)) or _is_token_folder(p)]
    audio_inputs = [p for p in paths if p not in token_inputs]
    rows: list[FileRow] = []
    problems: list[str] = []
    if audio_inputs:
        items, found = collect_inputs(audio_inputs, "audio")
        rows += [audio_row(item) for item in items]
        problems += found
    if token_inputs:
        items, found = collect_inputs(token_inputs, "tokens")
        rows += [token_row(item) for item in items]
        problems += found
    return rows, problems
