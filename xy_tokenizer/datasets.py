"""Reading token shards (``xytok encode --engine ray``) and converting them to and from ``.npy`` folders.

>>> from xy_tokenizer.datasets import iter_shards
>>> for path, codes in iter_shards("shards/"):       # codes: (levels, T) integer array  # doctest: +SKIP
...     ...

The shard format is described in :mod:`xy_tokenizer.scale.shards`. A single row is addressed as
``SHARD.parquet#row=N`` (0-based row number) or ``SHARD.parquet#path=REL`` (its ``path``
value); ``xytok decode`` takes such references, and whole shards. Needs pyarrow (imported on
first use).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from xy_tokenizer.errors import TokenFileError, XYTokenizerError
from xy_tokenizer.io.tokens import TOKEN_SUFFIX, build_token_meta, check_codes, load_tokens, save_tokens
from xy_tokenizer.scale.shards import (
    DEFAULT_FILES_PER_SHARD, META_KEY, SHARD_SUFFIX, ShardFacts, ShardRow, bucket_count, folder_lock, open_state,
    pending_by_bucket, remove_partials, require_pyarrow, shard_files, write_shard, written_paths,
)

#: Separates a shard file from the row it names: ``shard.parquet#row=3``, ``shard.parquet#path=a/b.wav``.
REF_MARK = "#"
ROW_KEY, PATH_KEY = "row", "path"

__all__ = ["iter_shards", "iter_shard_rows", "read_shard_facts", "shard_files", "is_shard_ref", "load_shard_ref",
           "shard_job_items", "split_shard_inputs", "shards_to_npy", "npy_to_shards", "ConvertSummary"]


def _sources(source: str | Path | Sequence[str | Path]) -> list[Path]:
    """Shard files of a folder, a file, or a list of either."""
    items = [source] if isinstance(source, (str, Path)) else list(source)
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found.extend(shard_files(path))
        elif path.is_file():
            found.append(path)
        else:
            raise XYTokenizerError(f"{path}: no such shard file or folder")
    return found


def _open(shard: Path) -> Any:
    pq = require_pyarrow().parquet
    try:
        return pq.ParquetFile(str(shard))
    except Exception as exc:       # ArrowInvalid, OSError: not Parquet, truncated
        raise XYTokenizerError(f"{shard}: cannot be read as a token shard ({exc})") from exc


def read_shard_facts(shard: str | Path) -> ShardFacts:
    """Codec facts and encode options a shard was written with (its schema metadata)."""
    import json

    shard = Path(shard)
    metadata = _open(shard).schema_arrow.metadata or {}
    if META_KEY not in metadata:
        raise XYTokenizerError(f"{shard}: not a token shard of this program (no '{META_KEY.decode()}' metadata)")
    return ShardFacts.from_metadata(json.loads(metadata[META_KEY]), str(shard))


def _batch_rows(batch: Any) -> Iterator[ShardRow]:
    """Rows of a record batch; codes reshaped to ``(levels, T)`` without copying."""
    codes = batch.column("codes")
    values = codes.values.to_numpy(zero_copy_only=False)
    offsets = codes.offsets.to_numpy()
    valid = codes.is_valid().to_numpy(zero_copy_only=False)
    columns = {name: batch.column(name).to_pylist()
               for name in ("path", "levels", "num_frames", "duration", "source_sample_rate", "error")}
    for i, path in enumerate(columns["path"]):
        array = None
        if valid[i] and columns["error"][i] is None:
            flat = values[offsets[i]:offsets[i + 1]]
            array = flat.reshape(columns["levels"][i], columns["num_frames"][i])
        yield ShardRow(path, array, columns["duration"][i], columns["source_sample_rate"][i], columns["error"][i])


def iter_shard_rows(source: str | Path | Sequence[str | Path]) -> Iterator[ShardRow]:
    """Every row of the shards in ``source`` (a folder, a shard file, or a list), failed ones included."""
    for shard in _sources(source):
        handle = _open(shard)
        try:
            for batch in handle.iter_batches():
                yield from _batch_rows(batch)
        except XYTokenizerError:
            raise
        except Exception as exc:
            raise XYTokenizerError(f"{shard}: cannot be read as a token shard ({exc})") from exc


def iter_shards(source: str | Path | Sequence[str | Path]) -> Iterator[tuple[str, np.ndarray]]:
    """``(path, codes)`` for every file encoded fine; ``codes`` is a read-only ``(levels, T)``
    int16/int32 array (a view of the shard's memory: copy it to keep or change it)."""
    for row in iter_shard_rows(source):
        if row.codes is not None:
            yield row.path, row.codes


# ----------------------------------------------------------------------------- row references

def is_shard_ref(path: str | Path) -> bool:
    """True for ``X.parquet`` and ``X.parquet#row=N`` / ``X.parquet#path=REL``."""
    text = str(path)
    return text.split(REF_MARK, 1)[0].lower().endswith(SHARD_SUFFIX)


def _split_ref(ref: str | Path) -> tuple[Path, str | None, str | None]:
    text = str(ref)
    shard, _, selector = text.partition(REF_MARK)
    if not selector:
        return Path(shard), None, None
    key, sep, value = selector.partition("=")
    if not sep or key not in (ROW_KEY, PATH_KEY) or not value:
        raise XYTokenizerError(f"{text}: name a row as {shard}#row=N (0-based) or {shard}#path=RELATIVE/PATH")
    return Path(shard), key, value


@functools.lru_cache(maxsize=2)
def _table(shard: str, stamp: tuple[int, int]) -> Any:
    """A whole shard in memory (cached: decoding a shard row by row reads it once)."""
    try:
        return _open(Path(shard)).read()
    except XYTokenizerError:
        raise
    except Exception as exc:
        raise XYTokenizerError(f"{shard}: cannot be read as a token shard ({exc})") from exc


def _shard_table(shard: Path) -> Any:
    stat = shard.stat()
    return _table(str(shard.resolve()), (stat.st_mtime_ns, stat.st_size))


def _select(ref: str | Path) -> tuple[Path, list[tuple[int, str]]]:
    """The shard of ``ref`` and the ``(row number, path)`` of the rows it names."""
    shard, key, value = _split_ref(ref)
    if not shard.is_file():
        raise XYTokenizerError(f"{shard}: no such shard file")
    read_shard_facts(shard)                   # refuses Parquet files that are not token shards
    paths = [str(p) for p in _shard_table(shard).column("path").to_pylist()]
    if key is None:
        return shard, list(enumerate(paths))
    if key == ROW_KEY:
        if not value.isdigit() or int(value) >= len(paths):
            raise XYTokenizerError(f"{ref}: the shard has rows 0..{len(paths) - 1}")
        return shard, [(int(value), paths[int(value)])]
    chosen = [(i, path) for i, path in enumerate(paths) if path == value]
    if not chosen:
        raise XYTokenizerError(f"{ref}: no row with path {value!r} in {shard}")
    return shard, chosen


def shard_job_items(ref: str | Path) -> list[Any]:
    """Job items (for ``run_job(mode="decode")``) for a shard or one of its rows.

    Each item's path is ``SHARD#row=N``; its ``rel`` is the row's path with ``.npy``, so the
    decoded audio lands at ``OUT/<path stem>.wav``. Failed rows are included (they fail with
    their error when decoded).
    """
    from xy_tokenizer.jobs.events import JobItem

    shard, rows = _select(ref)
    return [JobItem(Path(f"{shard}{REF_MARK}{ROW_KEY}={i}"), Path(path).with_suffix(TOKEN_SUFFIX))
            for i, path in rows]


def split_shard_inputs(inputs: Sequence[str | Path]) -> tuple[list[str | Path], list[Any]]:
    """``(other inputs, job items of the shard references among them)`` for ``xytok decode``."""
    others, items = [], []
    for raw in inputs:
        if is_shard_ref(raw) and (REF_MARK in str(raw) or Path(raw).is_file()):
            items.extend(shard_job_items(raw))
        else:
            others.append(raw)
    return others, items


def sidecar_for(row: ShardRow, facts: ShardFacts) -> dict:
    """The token sidecar (format 2) of a shard row, as ``xytok encode`` writes it."""
    meta = build_token_meta(_FactsCodec(facts), row.codes, source=row.path,
                            encode_options=facts.encode_options)
    meta["source_sample_rate"] = row.source_sample_rate
    meta["source_duration"] = row.duration
    return meta


def load_shard_ref(ref: str | Path, codebook_size: int | None = None,
                   max_levels: int | None = None) -> tuple[np.ndarray, dict]:
    """Codes ``(levels, T)`` int64 and sidecar of one shard row (``SHARD#row=N`` or ``#path=REL``).

    Raises :class:`TokenFileError` for a failed row or codes outside ``codebook_size``/``max_levels``.
    """
    shard, rows = _select(ref)
    if len(rows) != 1:
        raise XYTokenizerError(f"{ref}: name one row ({shard}#row=N)")
    index = rows[0][0]
    [row] = _batch_rows(_shard_table(shard).slice(index, 1).combine_chunks().to_batches()[0])
    if row.codes is None:
        raise TokenFileError(f"{ref} ({row.path}): has no codes, encoding it failed: {row.error}")
    facts = read_shard_facts(shard)
    size = codebook_size if codebook_size is not None else facts.codebook_size
    codes = check_codes(np.asarray(row.codes), f"{ref} ({row.path})", size, max_levels)
    return codes, sidecar_for(row, facts)


class _FactsCodec:
    """What :func:`build_token_meta` reads from a codec, taken from a shard's facts."""

    def __init__(self, facts: ShardFacts) -> None:
        self._facts = facts

    def facts(self) -> dict:
        return dict(self._facts.facts)

    @property
    def checkpoint_sha256(self) -> str | None:
        return self._facts.checkpoint_sha256


# ----------------------------------------------------------------------------- conversions

@dataclass
class ConvertSummary:
    written: list[Path]
    skipped: list[str]          # rows/files not converted: "<path>: why"


def shards_to_npy(source: str | Path | Sequence[str | Path], out_dir: str | Path, *, overwrite: bool = False,
                  cancel: Callable[[], bool] | None = None) -> ConvertSummary:
    """Write every fine row as ``OUT/<path stem>.npy`` + ``.json`` sidecar (format 2), as
    ``xytok encode`` would have; failed rows and existing outputs (unless ``overwrite``) are
    listed in ``skipped``."""
    out_dir = Path(out_dir)
    summary = ConvertSummary([], [])
    for shard in _sources(source):
        facts = read_shard_facts(shard)
        for row in iter_shard_rows(shard):
            if cancel is not None and cancel():
                return summary
            if row.codes is None:
                summary.skipped.append(f"{row.path}: encoding failed: {row.error}")
                continue
            target = out_dir / Path(row.path).with_suffix(TOKEN_SUFFIX)
            if target.exists() and not overwrite:
                summary.skipped.append(f"{row.path}: {target} exists")
                continue
            summary.written.append(save_tokens(target, row.codes, sidecar_for(row, facts), overwrite=overwrite)[0])
    return summary


def npy_to_shards(source: str | Path, out_dir: str | Path, *,
                  files_per_shard: int = DEFAULT_FILES_PER_SHARD) -> ConvertSummary:
    """Pack a folder of token files (``.npy`` + sidecars, as ``xytok encode`` writes) into shards.

    Every file must come from the same codec (family, variant, checkpoint, encode options per
    its sidecar). A row's ``path`` is the file's relative path with its source's extension
    (``a/b.npy`` made from ``b.wav`` -> ``a/b.wav``). Files already in ``out_dir``'s shards are
    left out (resume); unreadable files are listed in ``skipped``.
    """
    from xy_tokenizer.jobs.inputs import collect_inputs

    items, problems = collect_inputs([source], kind="tokens")
    if problems and not items:
        raise XYTokenizerError("; ".join(problems))
    summary = ConvertSummary([], list(problems))
    rows: dict[str, ShardRow] = {}
    facts: ShardFacts | None = None
    for item in items:
        try:
            codes, meta = load_tokens(item.path)
        except XYTokenizerError as exc:
            summary.skipped.append(str(exc))
            continue
        if meta is None:
            summary.skipped.append(f"{item.path}: no sidecar (.json): its codec is unknown")
            continue
        these = _facts_of_sidecar(meta)
        if facts is None:
            facts = these
        elif (these.facts, these.checkpoint_sha256, these.encode_options) != \
                (facts.facts, facts.checkpoint_sha256, facts.encode_options):
            raise XYTokenizerError(f"{item.path}: made by {these.facts.get('variant')} "
                                   f"({these.checkpoint_sha256}), the files before it by "
                                   f"{facts.facts.get('variant')} ({facts.checkpoint_sha256}); "
                                   "a shard folder holds one codec's tokens: convert them separately")
        source_name = meta.get("source")
        suffix = Path(source_name).suffix if source_name else ""
        path = item.rel.with_suffix(suffix).as_posix()
        rows[path] = ShardRow(path, codes, meta.get("source_duration"), meta.get("source_sample_rate"))
    if facts is None:
        return summary
    out_dir = Path(out_dir)
    with folder_lock(out_dir):
        remove_partials(out_dir)
        buckets = open_state(out_dir, facts, bucket_count(len(rows), files_per_shard))
        done = written_paths(out_dir)
        for bucket, paths in pending_by_bucket(rows, done, buckets).items():
            summary.written.append(write_shard(out_dir, bucket, [rows[p] for p in paths], facts))
    return summary


_SIDECAR_ONLY = ("format_version", "checkpoint_sha256", "levels", "num_frames", "decode_levels", "encode_options",
                 "source", "source_sample_rate", "source_duration", "package_version", "created")


def _facts_of_sidecar(meta: dict) -> ShardFacts:
    facts = {k: v for k, v in meta.items() if k not in _SIDECAR_ONLY}
    return ShardFacts(facts, meta.get("checkpoint_sha256"), dict(meta.get("encode_options") or {}))


def iter_paths(source: str | Path | Sequence[str | Path]) -> Iterable[str]:
    """The ``path`` of every row (fine or failed), reading only that column."""
    pq = require_pyarrow().parquet
    for shard in _sources(source):
        yield from pq.read_table(str(shard), columns=["path"]).column("path").to_pylist()
