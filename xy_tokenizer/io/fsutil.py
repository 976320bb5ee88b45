"""Atomic file writes, per-output locks, stale temporary files, checksums.

Every file the engine writes goes through :func:`atomic_write` (or :func:`atomic_write_group`
for files that belong together): the data lands in a hidden temporary file in the destination
folder and is renamed over the destination only once every file of the group is complete, so an
error, Ctrl-C, SIGTERM or a full disk never leaves a partial file behind and never loses the
files an ``overwrite`` was replacing. Temporary names carry the writing process's id
(:func:`temp_path_for`), so :func:`remove_stale_temps` can delete those of a killed run without
touching those of a run still going. :func:`output_lock` serialises processes that write the
same outputs.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Iterator, Sequence

from xy_tokenizer.errors import XYTokenizerError

try:  # POSIX; elsewhere writers are not serialised, but never delete each other's files either
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

#: Marker in the name of temporary files (``.<stem>.<pid>.<random>.part<suffix>``).
PART_MARKER = ".part"
#: Suffix of the per-output lock files of :func:`output_lock` (``.<name>.xytok-lock``).
LOCK_SUFFIX = ".xytok-lock"
#: Temporary files of the older name pattern (no process id) count as stale after this long.
LEGACY_TEMP_STALE_SECONDS = 3600
#: A failed write with less free space than this in the destination's file system is "disk full"
#: (libsndfile reports a full disk as "System error").
DISK_FULL_MARGIN_BYTES = 1 << 20
_HASH_CHUNK = 1 << 20
_RANDOM_HEX = 8
#: ``.<stem>.<pid>.<hex>.part<suffix>`` (this version) and ``.<stem>.<16 hex>.part<suffix>`` (before).
_TEMP_NAME = re.compile(r"^\..+\.(?P<pid>\d+)\.[0-9a-f]{%d}\.part(\.[^.]*)?$" % _RANDOM_HEX)
_LEGACY_TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{16}\.part(\.[^.]*)?$")
_DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class OutputExistsError(XYTokenizerError, FileExistsError):
    """The destination of a write exists and overwriting was not asked for."""


class DiskFullError(XYTokenizerError, OSError):
    """A write failed because the destination's disk (or quota) is full."""


def temp_path_for(path: Path) -> Path:
    """A fresh hidden temporary name beside ``path`` that keeps its extension.

    ``out/clip.wav`` -> ``out/.clip.4242.3f9a0c1e.part.wav`` (4242: this process's id):
    libraries that pick a format from the suffix (``np.save`` appends ``.npy`` otherwise) see
    the final extension, and :func:`remove_stale_temps` can tell a live writer's file from a
    dead one's.
    """
    return path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(_RANDOM_HEX // 2)}"
                          f"{PART_MARKER}{path.suffix}")


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of this program's temporary file names (either pattern)."""
    return bool(_TEMP_NAME.match(name) or _LEGACY_TEMP_NAME.match(name))


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True     # exists (another user's), or cannot tell: keep its files
    return True


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete the temporary files a killed run left in ``folder`` (not recursive); returns them.

    Only names of this program's patterns are touched: those whose process id is no longer
    running, and those of the older pattern (no id) untouched for
    :data:`LEGACY_TEMP_STALE_SECONDS`. Lock files nobody holds go too.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        name = entry.name
        if not name.startswith("."):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            match = _TEMP_NAME.match(name)
            if match is not None:
                stale = not _process_alive(int(match["pid"]))
            elif _LEGACY_TEMP_NAME.match(name):
                stale = now - entry.stat(follow_symlinks=False).st_mtime > LEGACY_TEMP_STALE_SECONDS
            elif name.endswith(LOCK_SUFFIX):
                stale = _lock_is_free(Path(entry.path))
            else:
                continue
            if stale:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _lock_is_free(lock: Path) -> bool:
    if fcntl is None:
        return False
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)    # closing drops the lock taken just now
    return True


def lock_path_for(path: Path) -> Path:
    """The lock file :func:`output_lock` uses for ``path``: ``.<name>.xytok-lock`` beside it."""
    return path.with_name(f".{path.name}{LOCK_SUFFIX}")


@contextlib.contextmanager
def output_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the outputs named after ``path`` (blocks until it is free).

    Processes writing the same outputs take turns: inside the lock a writer can check what the
    other one committed. The lock is an ``flock`` on a hidden lock file beside ``path``
    (released by the kernel if the process dies; the file is removed on release). Where
    ``fcntl`` does not exist (Windows) this does nothing.
    """
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    path = Path(path)
    _make_folder(path)
    lock = lock_path_for(path)
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise XYTokenizerError(f"cannot write {path} ({exc.strerror or exc}); choose an output folder "
                                   "you can write to") from exc
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            current = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)    # the holder before us removed that file: lock the new one
    try:
        yield
    finally:
        _unlink_quietly(lock)
        os.close(fd)


def _make_folder(path: Path) -> None:
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XYTokenizerError(
            f"cannot create the folder {folder} for {path.name} ({exc.strerror or exc}); "
            "choose an output folder you can write to"
        ) from exc


def _prepare(path: Path, overwrite: bool) -> Path:
    """Check the destination, create its folder and reserve a temporary file; return it."""
    if path.is_dir():
        raise XYTokenizerError(f"{path} is a folder; cannot write a file there")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass overwrite (--overwrite) to replace it")
    _make_folder(path)
    tmp = temp_path_for(path)
    try:
        # Created here (mode 'x': respects the umask, unlike mkstemp's 0600) so an unwritable
        # folder is reported before any work goes into the file.
        with open(tmp, "xb"):
            pass
    except OSError as exc:
        full = disk_full_error(path, exc)
        if full is not None:
            raise full from exc
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


def free_bytes(folder: Path) -> int | None:
    """Bytes free to this user in the file system holding ``folder`` (None if unknown)."""
    try:
        stats = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return stats.f_bavail * stats.f_frsize


def disk_full_error(path: Path, exc: BaseException) -> DiskFullError | None:
    """A :class:`DiskFullError` naming ``path`` when ``exc`` (raised while writing it) came from a
    full disk: ENOSPC/EDQUOT, or any error (libsndfile's "System error") with less than
    :data:`DISK_FULL_MARGIN_BYTES` left; else None."""
    full = isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS
    if not full and isinstance(exc, Exception) and not isinstance(exc, XYTokenizerError):
        free = free_bytes(Path(path).parent)
        full = free is not None and free < DISK_FULL_MARGIN_BYTES
    if not full:
        return None
    free = free_bytes(Path(path).parent)
    left = f", {free:,} bytes left" if free is not None and free < DISK_FULL_MARGIN_BYTES else ""
    return DiskFullError(f"cannot write {path}: disk full (no space left on the device{left}); "
                         "free some space or choose an output folder on another disk, then run again")


def _backup(final: Path) -> Path | None:
    """A hard link to an existing ``final`` under a temporary name (None: nothing to keep, or
    the file system has no hard links)."""
    if not final.is_file():
        return None
    backup = temp_path_for(final)
    try:
        os.link(final, backup)
    except OSError:
        return None
    return backup


@contextlib.contextmanager
def writing(final: Path) -> Iterator[None]:
    """Name ``final`` in the error when writing its temporary fails for a full disk (inside an
    :func:`atomic_write_group` whose members are written one after the other)."""
    try:
        yield
    except Exception as exc:
        full = disk_full_error(final, exc)
        if full is not None:
            raise full from exc
        raise


@contextlib.contextmanager
def atomic_write_group(paths: Sequence[Path], *, overwrite: bool = False) -> Iterator[list[Path]]:
    """Write several files that belong together, all or none.

    Yields one temporary path per destination (same folder, same extension); the caller writes
    each completely. Only when all are written do they replace the destinations, in the given
    order (put the file readers look for last). If a rename fails, the destinations already
    replaced get their previous files back (or are removed when there were none). On any
    exception, ``KeyboardInterrupt`` and ``SystemExit`` included, every temporary is deleted and
    the destinations are as before.

    Raises :class:`OutputExistsError` when a destination exists and not ``overwrite``,
    :class:`DiskFullError` naming the file when the disk fills up, and
    :class:`XYTokenizerError` when a destination folder cannot be written.
    """
    finals = [Path(p) for p in paths]
    temps: list[Path] = []
    current: Path | None = None
    try:
        for final in finals:
            current = final
            temps.append(_prepare(final, overwrite))
        current = None
        yield list(temps)
        for tmp, final in zip(temps, finals):
            current = final
            if not tmp.is_file() or tmp.stat().st_size == 0:
                raise XYTokenizerError(f"nothing was written for {final}")
            _flush_to_disk(tmp)
    except BaseException as exc:
        full = disk_full_error(current or _largest(temps, finals), exc) if temps or current else None
        for tmp in temps:
            _unlink_quietly(tmp)
        if full is not None:
            raise full from exc
        raise
    _commit(temps, finals)


def _largest(temps: list[Path], finals: list[Path]) -> Path:
    """The destination whose temporary grew largest (the one being written when a write failed)."""
    sizes = []
    for tmp, final in zip(temps, finals):
        with contextlib.suppress(OSError):
            sizes.append((tmp.stat().st_size, str(final), final))
    return max(sizes)[2] if sizes else finals[0]


def _commit(temps: list[Path], finals: list[Path]) -> None:
    backups = [_backup(final) for final in finals]
    renamed: list[Path] = []
    try:
        for tmp, final in zip(temps, finals):
            os.replace(tmp, final)
            renamed.append(final)
    except BaseException as exc:
        for final, backup in zip(renamed, backups):
            if backup is not None:
                with contextlib.suppress(OSError):
                    os.replace(backup, final)
            else:
                _unlink_quietly(final)
        for path in temps + [b for b in backups if b is not None]:
            _unlink_quietly(path)
        if isinstance(exc, OSError):
            raise XYTokenizerError(f"cannot move the finished file into place at {finals[len(renamed)]} "
                                   f"({exc.strerror or exc})") from exc
        raise
    for backup in backups:
        if backup is not None:
            _unlink_quietly(backup)


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


def read_json_object(path: Path) -> dict | None:
    """The JSON object in ``path``, or None when it is missing, unreadable, not JSON or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
