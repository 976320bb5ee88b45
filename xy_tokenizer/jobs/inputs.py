"""Finding a job's inputs: files and folders expanded into :class:`JobItem` s, with shards."""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Sequence

from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.io.audio import AUDIO_EXTENSIONS
from xy_tokenizer.io.tokens import TOKEN_SUFFIX
from xy_tokenizer.jobs.events import JobItem

#: Input kinds of :func:`collect_inputs` and the file extensions a folder scan picks up.
INPUT_KINDS = {"audio": AUDIO_EXTENSIONS, "tokens": frozenset({TOKEN_SUFFIX})}

def _is_regular(path: Path) -> bool:
    """A regular file (after links); False for FIFOs, devices, sockets, broken links and loops."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _dir_key(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _scan_folder(root: Path, suffixes: frozenset[str], exclude: Sequence[Path] = (),
                 problems: list[str] | None = None) -> list[Path]:
    """Regular files under ``root`` with one of ``suffixes``, hidden files and folders left out.

    Linked sub-folders are followed, each real folder once (a link back up, or a second path to
    a folder already scanned, is reported in ``problems`` and skipped). Folders in ``exclude``
    (an output folder inside the input folder) are left out. Entries that are not regular
    files (FIFOs, devices, broken links, link loops) are reported and left out: opening a FIFO
    would block."""
    problems = [] if problems is None else problems
    excluded = {key for key in (_dir_key(p) for p in exclude) if key is not None}
    seen: dict[tuple[int, int], Path] = {}
    root_key = _dir_key(root)
    if root_key is not None:
        seen[root_key] = root
    found = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        kept = []
        # Real folders before links, so a folder linked from beside it is scanned under its own name.
        for name in sorted(dirs, key=lambda d: (os.path.islink(os.path.join(folder, d)), d)):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            key = _dir_key(path)
            if key is None or key in excluded:
                continue
            if key in seen:
                problems.append(f"{path}: the same folder as {seen[key]} (a link), scanned once; skipped here")
                continue
            seen[key] = path
            kept.append(name)
        dirs[:] = kept
        for name in files:
            if name.startswith(".") or Path(name).suffix.lower() not in suffixes:
                continue
            path = Path(folder) / name
            if _is_regular(path):
                found.append(path)
            else:
                problems.append(f"{path}: not a regular file (a pipe, device, broken link or link loop); skipped")
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def shard_of(item: JobItem, count: int) -> int:
    """The shard (0-based, of ``count``) an item belongs to: a stable hash of its relative path,
    so adding or removing a file moves no other file between shards."""
    digest = hashlib.sha1(item.rel.as_posix().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def collect_inputs(inputs: Sequence[str | Path], kind: str = "audio",
                   shard: tuple[int, int] | None = None,
                   exclude: Sequence[str | Path] = ()) -> tuple[list[JobItem], list[str]]:
    """Expand files and folders into job items.

    ``kind`` "audio" (libsndfile extensions) or "tokens" (``.npy``) chooses what a folder scan
    picks up (recursively, hidden entries left out, linked folders followed once); regular files
    named directly are always taken. Items keep the order of ``inputs``, each folder's files
    sorted by relative path. A file named twice is taken once; a file whose outputs would have
    the same name as an earlier one's (``a.wav`` and ``a.flac``, or equal relative paths under
    two input folders) is left out with a problem. ``exclude``: folders a scan leaves out (the
    output folder, when it lies inside an input folder, so outputs are not read back in).
    ``shard=(i, n)`` keeps the items :func:`shard_of` assigns to shard ``i`` (0-based).

    Returns ``(items, problems)``: problems are messages about inputs that do not exist, are
    not regular files, folders with nothing to process, links scanned twice and name clashes.
    """
    if kind not in INPUT_KINDS:
        raise XYTokenizerError(f"unknown input kind {kind!r}; use one of {', '.join(INPUT_KINDS)}")
    if shard is not None:
        index, count = shard
        if count < 1 or not 0 <= index < count:
            raise XYTokenizerError(f"shard {index} of {count} does not exist; need 0 <= i < n")
    suffixes = INPUT_KINDS[kind]
    excluded = [Path(p) for p in exclude]
    items: list[JobItem] = []
    problems: list[str] = []
    seen: set[str] = set()
    claimed: dict[Path, Path] = {}
    for raw in inputs:
        root = Path(raw)
        if root.is_dir():
            found = [JobItem(p, p.relative_to(root)) for p in _scan_folder(root, suffixes, excluded, problems)]
            if not found:
                problems.append(f"{root}: no {kind} files ({', '.join(sorted(suffixes))}) in this folder")
        elif _is_regular(root):
            found = [JobItem(root, Path(root.name))]
        elif os.path.lexists(root):
            problems.append(f"{root}: not a regular file (a pipe, device, broken link or link loop)")
            continue
        else:
            problems.append(f"{root}: no such file or folder")
            continue
        for item in found:
            real = os.path.realpath(item.path)      # never raises, even for a link loop
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
        items = [item for item in items if shard_of(item, shard[1]) == shard[0]]
    return items, problems
