"""Atomic file writes and checksums.

Every file the engine writes goes through :func:`atomic_write` (or :func:`atomic_write_group`
for files that belong together): the data lands in a hidden temporary file in the destination
folder and is renamed over the destination only once it is complete, so an error, Ctrl-C or a
cancel never leaves a partial file behind.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import Iterator, Sequence

from xy_tokenizer.errors import XYTokenizerError

#: Marker in the name of temporary files (``.<stem>.<random>.part<suffix>``).
PART_MARKER = ".part"
_HASH_CHUNK = 1 << 20


class OutputExistsError(XYTokenizerError, FileExistsError):
    """The destination of a write exists and overwriting was not asked for."""


def temp_path_for(path: Path) -> Path:
    """A fresh hidden temporary name beside ``path`` that keeps its extension.

    ``out/clip.wav`` -> ``out/.clip.3f9a0c1e2b4d5a6f.part.wav``: libraries that pick a format
    from the suffix (``np.save`` appends ``.npy`` otherwise) see the final extension.
    """
    return path.with_name(f".{path.stem}.{secrets.token_hex(8)}{PART_MARKER}{path.suffix}")


def _prepare(path: Path, overwrite: bool) -> Path:
    """Check the destination, create its folder and reserve a temporary file; return it."""
    if path.is_dir():
        raise XYTokenizerError(f"{path} is a folder; cannot write a file there")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass overwrite (--overwrite) to replace it")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XYTokenizerError(
            f"cannot create the folder {folder} for {path.name} ({exc.strerror or exc}); "
            "choose an output folder you can write to"
        ) from exc
    tmp = temp_path_for(path)
    try:
        # Created here (mode 'x': respects the umask, unlike mkstemp's 0600) so an unwritable
        # folder is reported before any work goes into the file.
        with open(tmp, "xb"):
            pass
    except OSError as exc:
        raise XYTokenizerError(
            f"cannot write {path} ({exc.strerror or exc}); choose an output folder you can write to"
        ) from exc
    return tmp


def _flush_to_disk(tmp: Path) -> None:
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


@contextlib.contextmanager
def atomic_write_group(paths: Sequence[Path], *, overwrite: bool = False) -> Iterator[list[Path]]:
    """Write several files that belong together, all or none.

    Yields one temporary path per destination (same folder, same extension); the caller writes
    each completely. On success the temporaries replace the destinations in the given order
    (put the file readers look for last); if a rename fails, destinations already renamed are
    removed again. On any exception, ``KeyboardInterrupt`` included, every temporary is deleted.

    Raises :class:`OutputExistsError` when a destination exists and not ``overwrite``, and
    :class:`XYTokenizerError` when a destination folder cannot be written.
    """
    finals = [Path(p) for p in paths]
    temps: list[Path] = []
    try:
        for final in finals:
            temps.append(_prepare(final, overwrite))
        yield list(temps)
        for tmp, final in zip(temps, finals):
            if not tmp.is_file() or tmp.stat().st_size == 0:
                raise XYTokenizerError(f"nothing was written for {final}")
            _flush_to_disk(tmp)
    except BaseException:
        for tmp in temps:
            _unlink_quietly(tmp)
        raise
    renamed: list[Path] = []
    try:
        for tmp, final in zip(temps, finals):
            os.replace(tmp, final)
            renamed.append(final)
    except BaseException as exc:
        for final in renamed:
            _unlink_quietly(final)
        for tmp in temps:
            _unlink_quietly(tmp)
        if isinstance(exc, OSError):
            raise XYTokenizerError(f"cannot move the finished file into place at {finals[len(renamed)]} "
                                   f"({exc.strerror or exc})") from exc
        raise


@contextlib.contextmanager
def atomic_write(path: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Write one file atomically: ``with atomic_write(p) as tmp: write(tmp)``.

    See :func:`atomic_write_group` for the guarantees and errors.
    """
    with atomic_write_group([path], overwrite=overwrite) as temps:
        yield temps[0]


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
