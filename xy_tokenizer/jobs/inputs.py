"""Finding a job's inputs: files and folders expanded into :class:`JobItem` s, with shards."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.io.audio import AUDIO_EXTENSIONS
from xy_tokenizer.io.tokens import TOKEN_SUFFIX
from xy_tokenizer.jobs.events import JobItem

#: Input kinds of :func:`collect_inputs` and the file extensions a folder scan picks up.
INPUT_KINDS = {"audio": AUDIO_EXTENSIONS, "tokens": frozenset({TOKEN_SUFFIX})}

def _scan_folder(root: Path, suffixes: frozenset[str]) -> list[Path]:
    """Files under ``root`` with one of ``suffixes``, hidden files and folders left out."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(folder) / name for name in files
                     if not name.startswith(".") and Path(name).suffix.lower() in suffixes)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def collect_inputs(inputs: Sequence[str | Path], kind: str = "audio",
                   shard: tuple[int, int] | None = None) -> tuple[list[JobItem], list[str]]:
    """Expand files and folders into job items.

    ``kind`` "audio" (libsndfile extensions) or "tokens" (``.npy``) chooses what a folder scan
    picks up (recursively, hidden entries left out); files named directly are always taken.
    Items keep the order of ``inputs``, each folder's files sorted by relative path. A file
    named twice is taken once; a file whose outputs would have the same name as an earlier
    one's (``a.wav`` and ``a.flac``, or equal relative paths under two input folders) is left
    out with a problem. ``shard=(i, n)`` keeps items whose position % n == i (0-based i).

    Returns ``(items, problems)``: problems are messages about inputs that do not exist,
    folders with nothing to process, and such name clashes.
    """
    if kind not in INPUT_KINDS:
        raise XYTokenizerError(f"unknown input kind {kind!r}; use one of {', '.join(INPUT_KINDS)}")
    if shard is not None:
        index, count = shard
        if count < 1 or not 0 <= index < count:
            raise XYTokenizerError(f"shard {index} of {count} does not exist; need 0 <= i < n")
    suffixes = INPUT_KINDS[kind]
    items: list[JobItem] = []
    problems: list[str] = []
    seen: set[Path] = set()
    claimed: dict[Path, Path] = {}
    for raw in inputs:
        root = Path(raw)
        if root.is_dir():
            found = [JobItem(p, p.relative_to(root)) for p in _scan_folder(root, suffixes)]
            if not found:
                problems.append(f"{root}: no {kind} files ({', '.join(sorted(suffixes))}) in this folder")
        elif root.is_file():
            found = [JobItem(root, Path(root.name))]
        else:
            problems.append(f"{root}: no such file or folder")
            continue
        for item in found:
            real = item.path.resolve()
            if real in seen:
                continue
            seen.add(real)
            stem = item.rel.with_suffix("")
            if stem in claimed:
                problems.append(f"{item.path}: left out, its outputs would have the same names as "
                                f"those of {claimed[stem]} ({stem}.*); rename one of them")
                continue
            claimed[stem] = item.path
            items.append(item)
    if shard is not None:
        items = [item for position, item in enumerate(items) if position % shard[1] == shard[0]]
    return items, problems


