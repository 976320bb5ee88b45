"""Parquet token shards: one row per input file, deterministic names, atomic writes, resume.

Schema (one row per input file; a failed file is a row with its ``error`` and null codes):

=====================  =====================  ===============================================
column                 type                   meaning
=====================  =====================  ===============================================
path                   string                 the input's path relative to its root (POSIX)
family                 string                 codec family (``xy_tokenizer``, ...)
variant                string                 codec variant
frame_rate             float64                token frames per second
codebook_size          int32                  codes are ``0 .. codebook_size - 1``
levels                 int32 (null: error)    RVQ levels of ``codes``
num_frames             int64 (null: error)    frames T of ``codes``
codes                  list<int16> or         the ``(levels, T)`` array flattened level by
                       list<int32>            level (row-major): ``np.reshape(levels, T)``;
                       (null: error)          int16 when ``codebook_size <= 32768``
duration               float64 (null: unread) seconds of source audio
source_sample_rate     int32 (null: unread)   sample rate of the source file
checkpoint_sha256      string                 sha256 of the checkpoint that made the codes
error                  string                 null when fine, else why the file failed
=====================  =====================  ===============================================

The file's schema metadata (key ``xytok``) holds the codec facts of a token sidecar
(:func:`xy_tokenizer.io.tokens.build_token_meta`) and the encode options.

Layout of an output folder: ``shard-BBBBB-DDDDDDDD.parquet`` files and ``_xytok_shards.json``.
Every input belongs to bucket ``B = sha256(path) mod buckets`` (``buckets`` is fixed by the
first run and kept in ``_xytok_shards.json``); a bucket's pending files are written together as
one shard whose name ends with a digest of the paths it holds, so the same inputs always give
the same file names. A shard is written to a hidden temporary file, flushed and renamed: it
exists completely or not at all. Resume: the paths in the existing shards are done; a rerun
writes only the buckets (or the files of a bucket) that are missing, each input exactly once.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from xy_tokenizer._version import __version__
from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.io.fsutil import PART_MARKER, atomic_write
from xy_tokenizer.io.tokens import token_dtype

SHARD_PREFIX = "shard-"
SHARD_SUFFIX = ".parquet"
SHARD_GLOB = f"{SHARD_PREFIX}*{SHARD_SUFFIX}"
STATE_FILE = "_xytok_shards.json"  # "_": skipped by Parquet dataset readers
LOCK_FILE = ".xytok-shards.lock"
#: Version of the shard layout this program writes and reads.
SHARD_FORMAT_VERSION = 1
#: Key of the codec facts in each shard's schema metadata.
META_KEY = b"xytok"
#: Input files per shard on average (the bucket count is inputs / this, fixed by the first run).
DEFAULT_FILES_PER_SHARD = 1000
COLUMNS = ("path", "family", "variant", "frame_rate", "codebook_size", "levels", "num_frames", "codes",
           "duration", "source_sample_rate", "checkpoint_sha256", "error")
PYARROW_HINT = "install it with: pip install 'xy-tokenizer-studio[ray]' (or pip install pyarrow)"


def require_pyarrow() -> Any:
    """``pyarrow`` (with ``pyarrow.parquet`` loaded), or an error that says how to install it."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:
        raise XYTokenizerError(f"reading and writing token shards needs pyarrow; {PYARROW_HINT}") from exc
    return pyarrow


def bucket_of(path: str, buckets: int) -> int:
    """The bucket of a relative path: ``sha256(path) mod buckets`` (stable across runs and machines)."""
    digest = hashlib.sha256(path.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % buckets


def bucket_count(inputs: int, files_per_shard: int = DEFAULT_FILES_PER_SHARD) -> int:
    if files_per_shard < 1:
        raise XYTokenizerError(f"files per shard must be at least 1, got {files_per_shard}")
    return max(1, math.ceil(inputs / files_per_shard))


def shard_name(bucket: int, paths: Iterable[str]) -> str:
    """``shard-BBBBB-DDDDDDDD.parquet``: the bucket and a digest of the sorted paths it holds."""
    digest = hashlib.sha256("\n".join(sorted(paths)).encode("utf-8")).hexdigest()[:8]
    return f"{SHARD_PREFIX}{bucket:05d}-{digest}{SHARD_SUFFIX}"


@dataclass
class ShardFacts:
    """What every row of a shard shares: the codec facts (as in a token sidecar) and options."""

    facts: dict                                   # Codec.facts(): family, variant, rates, levels, ...
    checkpoint_sha256: str | None
    encode_options: dict = field(default_factory=dict)

    @classmethod
    def from_codec(cls, codec: Any, encode_options: Mapping[str, Any] | None = None) -> "ShardFacts":
        options = {k: v for k, v in (encode_options or {}).items() if v is not None}
        return cls(dict(codec.facts()), codec.checkpoint_sha256, options)

    @property
    def codebook_size(self) -> int:
        return int(self.facts["codebook_size"])

    def metadata(self) -> dict:
        return {"shard_format_version": SHARD_FORMAT_VERSION, **self.facts,
                "checkpoint_sha256": self.checkpoint_sha256, "encode_options": self.encode_options,
                "package_version": __version__}

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any], name: str) -> "ShardFacts":
        version = meta.get("shard_format_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise XYTokenizerError(f"{name}: not a token shard of this program (no shard format version)")
        if version > SHARD_FORMAT_VERSION:
            raise XYTokenizerError(f"{name}: shard format {version} is newer than this program reads "
                                   f"({SHARD_FORMAT_VERSION}); upgrade xy-tokenizer-studio")
        skip = {"shard_format_version", "checkpoint_sha256", "encode_options", "package_version"}
        return cls({k: v for k, v in meta.items() if k not in skip}, meta.get("checkpoint_sha256"),
                   dict(meta.get("encode_options") or {}))


@dataclass
class ShardRow:
    """One input file's result. ``codes``: ``(levels, T)`` integers, None when ``error``."""

    path: str
    codes: np.ndarray | None = None
    duration: float | None = None
    source_sample_rate: int | None = None
    error: str | None = None


def schema(facts: ShardFacts) -> Any:
    pa = require_pyarrow()
    code_type = pa.int16() if token_dtype(facts.codebook_size) == np.int16 else pa.int32()
    fields = [
        pa.field("path", pa.string(), nullable=False), pa.field("family", pa.string()),
        pa.field("variant", pa.string()), pa.field("frame_rate", pa.float64()),
        pa.field("codebook_size", pa.int32()), pa.field("levels", pa.int32()),
        pa.field("num_frames", pa.int64()), pa.field("codes", pa.list_(code_type)),
        pa.field("duration", pa.float64()), pa.field("source_sample_rate", pa.int32()),
        pa.field("checkpoint_sha256", pa.string()), pa.field("error", pa.string()),
    ]
    return pa.schema(fields, metadata={META_KEY: json.dumps(facts.metadata(), sort_keys=True).encode()})


def rows_to_table(rows: list[ShardRow], facts: ShardFacts) -> Any:
    """A shard table of ``rows`` (sorted by path) with the shared columns filled from ``facts``."""
    pa = require_pyarrow()
    rows = sorted(rows, key=lambda r: r.path)
    dtype = token_dtype(facts.codebook_size)
    n = len(rows)
    ok = [r.error is None and r.codes is not None for r in rows]
    columns = {
        "path": [r.path for r in rows],
        "family": [facts.facts.get("family")] * n,
        "variant": [facts.facts.get("variant")] * n,
        "frame_rate": [float(facts.facts["frame_rate"])] * n,
        "codebook_size": [facts.codebook_size] * n,
        "levels": [int(r.codes.shape[0]) if good else None for r, good in zip(rows, ok)],
        "num_frames": [int(r.codes.shape[1]) if good else None for r, good in zip(rows, ok)],
        "codes": [np.ascontiguousarray(r.codes, dtype=dtype).reshape(-1) if good else None
                  for r, good in zip(rows, ok)],
        "duration": [r.duration for r in rows],
        "source_sample_rate": [r.source_sample_rate for r in rows],
        "checkpoint_sha256": [facts.checkpoint_sha256] * n,
        "error": [None if good else (r.error or "no codes") for r, good in zip(rows, ok)],
    }
    return pa.Table.from_pydict(columns, schema=schema(facts))


def write_shard(folder: Path, bucket: int, rows: list[ShardRow], facts: ShardFacts) -> Path:
    """Write ``rows`` as the shard of ``bucket`` in ``folder`` atomically; returns its path.

    Raises :class:`~xy_tokenizer.io.fsutil.OutputExistsError` if a shard with the same name (the
    same files) exists.
    """
    pq = require_pyarrow().parquet
    table = rows_to_table(rows, facts)
    path = Path(folder) / shard_name(bucket, (r.path for r in rows))
    with atomic_write(path) as tmp:
        pq.write_table(table, str(tmp), compression="zstd")
    return path


def shard_files(folder: Path) -> list[Path]:
    """The complete shards in ``folder``, sorted by name (temporary files are hidden: left out)."""
    return sorted(p for p in Path(folder).glob(SHARD_GLOB) if p.is_file())


def written_paths(folder: Path) -> set[str]:
    """Paths of every row of the shards in ``folder`` (reads only the ``path`` column)."""
    pq = require_pyarrow().parquet
    done: set[str] = set()
    for shard in shard_files(folder):
        try:
            table = pq.read_table(str(shard), columns=["path"])
        except Exception as exc:   # pyarrow raises ArrowInvalid, OSError, ... for damaged files
            raise XYTokenizerError(f"{shard}: cannot be read as a token shard ({exc}); delete it and run "
                                   "again to encode its files again") from exc
        done.update(table.column("path").to_pylist())
    return done


def remove_partials(folder: Path) -> list[Path]:
    """Delete temporary shard files a killed run left in ``folder``; returns what was deleted."""
    removed = []
    for tmp in Path(folder).glob(f".{SHARD_PREFIX}*{PART_MARKER}{SHARD_SUFFIX}"):
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def open_state(folder: Path, facts: ShardFacts, buckets: int) -> int:
    """The bucket count of the shard folder: the recorded one, else ``buckets`` (then recorded).

    Raises :class:`XYTokenizerError` when the folder holds shards of another model or options.
    """
    folder = Path(folder)
    path = folder / STATE_FILE
    wanted = {"family": facts.facts.get("family"), "variant": facts.facts.get("variant"),
              "checkpoint_sha256": facts.checkpoint_sha256, "encode_options": facts.encode_options}
    if path.is_file():
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            recorded = int(state["buckets"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise XYTokenizerError(f"{path}: the shard folder's state cannot be read ({exc}); fix or delete it "
                                   "(its shards stay valid)") from exc
        for key, value in wanted.items():
            if state.get(key) != value:
                raise XYTokenizerError(
                    f"{folder}: holds shards made with {key} {state.get(key)!r}, this run uses {value!r}; "
                    "write to another output folder")
        return recorded
    if shard_files(folder):
        raise XYTokenizerError(f"{folder}: holds shards but no {STATE_FILE}; restore it or write to another folder")
    state = {"shard_format_version": SHARD_FORMAT_VERSION, "buckets": int(buckets), **wanted,
             "package_version": __version__}
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return int(buckets)


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on a shard folder for one run (a second run is refused at once)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XYTokenizerError(f"cannot create the output folder {folder} ({exc.strerror or exc})") from exc
    try:
        import fcntl
    except ImportError:          # Windows: no advisory locks; one run per folder is on the user
        yield
        return
    with open(folder / LOCK_FILE, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise XYTokenizerError(f"{folder}: another run is writing shards here; wait for it or use "
                                   "another output folder") from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def pending_by_bucket(paths: Iterable[str], done: set[str], buckets: int) -> dict[int, list[str]]:
    """Paths not in ``done``, grouped by bucket (each group sorted)."""
    groups: dict[int, list[str]] = {}
    for path in paths:
        if path not in done:
            groups.setdefault(bucket_of(path, buckets), []).append(path)
    return {b: sorted(group) for b, group in sorted(groups.items())}


def fsync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(str(folder), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
