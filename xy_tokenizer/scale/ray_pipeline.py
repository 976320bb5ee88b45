"""``xytok encode --engine ray``: a corpus to Parquet token shards with Ray Data.

The pipeline::

    inputs (driver: folder scan, manifests, the name column of audio tables; done rows dropped)
      -> read + decode + resample     Ray Data map_batches, CPU tasks (soundfile + soxr via
                                      xy_tokenizer.io.audio.load_audio, as the local engine)
      -> encode                       map_batches with a callable class: an actor pool, the model
                                      loaded once per actor; one GPU per actor when the cluster
                                      has GPUs (one actor per GPU), else CPU actors
      -> shards                       the driver gathers each bucket's rows and writes its shard
                                      atomically (see xy_tokenizer.scale.shards)

A file that cannot be read or encoded becomes a row with its ``error``; the job goes on. The
driver holds only the tokens of buckets still incomplete (inputs run in bucket order), and only
the output folder must be reachable from the driver; the inputs must be readable by the worker
nodes (a shared file system, or an audio table holding the bytes).
"""
from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.io.tokens import token_dtype
from xy_tokenizer.scale.shards import (
    DEFAULT_FILES_PER_SHARD, ShardFacts, ShardRow, bucket_count, bucket_of, folder_lock, fsync_folder, open_state,
    pending_by_bucket, remove_partials, require_pyarrow, write_shard, written_paths,
)
from xy_tokenizer.scale.sources import Inputs, read_inputs

log = logging.getLogger(__name__)

RAY_HINT = "install it with: pip install 'xy-tokenizer-studio[ray]'"
#: Rows per block of the input list, and files one CPU task decodes at a time.
DECODE_BATCH = 16
#: Memory each decoding task reserves (bytes): a batch of long files, decoded and resampled. Its
#: own reservation also keeps Ray Data from fusing decoding into the model's actors: decoding
#: stays in CPU tasks spread over the cluster, the actors only run the model.
DECODE_TASK_MEMORY = 512 * 1024 * 1024
#: CPU actors (no GPU in the cluster) use at most this many threads each; half of the cluster's
#: CPUs go to actors, the other half to decoding.
MAX_CPU_ACTOR_THREADS = 4


def require_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise XYTokenizerError(f"--engine ray needs Ray Data; {RAY_HINT}") from exc
    return ray


@dataclass(frozen=True)
class CodecSpec:
    """How each actor loads the model (the arguments of :func:`xy_tokenizer.load`)."""

    checkpoint: str
    config: str | None = None
    semantic_model: str | None = None
    dtype: str = "float32"
    trust: bool = False
    device: str = "auto"

    def load(self, device: str | None = None) -> Any:
        import xy_tokenizer

        return xy_tokenizer.load(self.checkpoint, config=self.config, semantic_model=self.semantic_model,
                                 device=device or self.device, dtype=self.dtype, trust=self.trust)


@dataclass
class CorpusSummary:
    total: int = 0                   # inputs found
    already: int = 0                 # inputs in shards before this run
    encoded: int = 0                 # rows written by this run without error
    failed: int = 0                  # rows written by this run with an error
    audio_seconds: float = 0.0       # source audio encoded by this run
    elapsed: float = 0.0
    shards: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)     # (path, error) written by this run
    problems: list[str] = field(default_factory=list)

    def text(self) -> str:
        line = (f"encode (ray): {self.encoded} encoded, {self.failed} failed, {self.already} already in shards; "
                f"{len(self.shards)} shards written; {self.audio_seconds:.1f} s of audio in {self.elapsed:.1f} s")
        if self.audio_seconds > 0 and self.elapsed > 0:
            line += f" ({self.audio_seconds / self.elapsed:.1f} audio-hours per hour)"
        return line


# ----------------------------------------------------------------------------- stages (run on workers)

def _load_one(source: str | None, data: bytes | None, name: str, rate: int, min_samples: int) -> tuple:
    """(samples float32 at ``rate``, duration, source rate) of a file or of encoded bytes."""
    from xy_tokenizer.io.audio import load_audio

    if data is None:
        audio, info = load_audio(Path(source), rate, min_samples)
        return audio, info.duration, info.sample_rate
    with tempfile.TemporaryDirectory(prefix="xytok-") as folder:
        tmp = Path(folder) / ("audio" + _suffix(name))
        tmp.write_bytes(data)
        try:
            audio, info = load_audio(tmp, rate, min_samples)
        except XYTokenizerError as exc:
            raise XYTokenizerError(str(exc).replace(str(tmp), name)) from None
    return audio, info.duration, info.sample_rate


def _suffix(name: str) -> str:
    """The extension of ``name`` when it looks like one (libsndfile reads by content anyway)."""
    suffix = Path(name).suffix
    return suffix if suffix.isascii() and suffix[1:].isalnum() and len(suffix) <= 8 else ""


def decode_stage(table: Any, *, rate: int, min_samples: int, bytes_column: str | None = None,
                 bytes_field: str | None = None, name_column: str = "path", keep: Any = None) -> Any:
    """Rows ``path, bucket, source|bytes`` -> ``path, bucket, samples (float32 bytes), duration,
    source_sample_rate, error``. ``keep``: the set of names to keep (audio tables)."""
    pa = require_pyarrow()
    if keep is not None and not isinstance(keep, dict):   # an object reference (shared by every task)
        import ray

        keep = ray.get(keep)
    names = [str(n) for n in table.column(name_column).to_pylist()]
    if bytes_column is None:
        sources, blobs = table.column("source").to_pylist(), [None] * len(names)
        buckets = table.column("bucket").to_pylist()
    else:
        column = table.column(bytes_column)
        if bytes_field is not None:
            column = pa.compute.struct_field(column, bytes_field)
        sources, blobs = [None] * len(names), column.to_pylist()
        buckets = [None] * len(names)
    out = {k: [] for k in ("path", "bucket", "samples", "duration", "source_sample_rate", "error")}
    for name, source, blob, bucket in zip(names, sources, blobs, buckets):
        if keep is not None:
            if name not in keep:
                continue
            bucket = keep[name]
        samples, duration, source_rate, error = b"", None, None, None
        try:
            if blob is None and source is None:
                raise XYTokenizerError(f"{name}: the row holds no audio bytes")
            audio, duration, source_rate = _load_one(source, blob, name, rate, min_samples)
            samples = np.ascontiguousarray(audio, dtype="<f4").tobytes()
        except Exception as exc:
            error = str(exc) if isinstance(exc, XYTokenizerError) else f"{name}: {type(exc).__name__}: {exc}"
        for key, value in (("path", name), ("bucket", bucket), ("samples", samples), ("duration", duration),
                           ("source_sample_rate", source_rate), ("error", error)):
            out[key].append(value)
    return pa.table({
        "path": pa.array(out["path"], pa.string()), "bucket": pa.array(out["bucket"], pa.int64()),
        "samples": pa.array(out["samples"], pa.large_binary()), "duration": pa.array(out["duration"], pa.float64()),
        "source_sample_rate": pa.array(out["source_sample_rate"], pa.int64()),
        "error": pa.array(out["error"], pa.string()),
    })


def encode_robustly(codec: Any, clips: list[np.ndarray], batch_size: int,
                    options: Mapping[str, Any]) -> list[np.ndarray | Exception]:
    """Codes per clip, or the exception that clip raised: an out-of-memory error halves the
    batch and retries; any other failure of a batch retries its clips one by one."""
    from xy_tokenizer.jobs.prefetch import free_accelerator_memory, is_out_of_memory

    results: list[np.ndarray | Exception] = []
    start = 0
    while start < len(clips):
        batch = clips[start:start + batch_size]
        try:
            results.extend(codec.encode(batch, batch_size=batch_size, **options))
        except Exception as exc:
            if is_out_of_memory(exc) and batch_size > 1:
                batch_size = max(1, min(batch_size, len(batch)) // 2)
                free_accelerator_memory()
                log.warning("out of memory on %d clips; batch size now %d", len(batch), batch_size)
                continue
            if len(batch) == 1:
                results.append(exc)
            else:
                results.extend(encode_robustly(codec, [clip], 1, options)[0] for clip in batch)
        start += len(batch)
    return results


class EncodeStage:
    """The actor: loads the model once, then encodes batches of decoded rows."""

    def __init__(self, spec: CodecSpec, options: Mapping[str, Any], batch_size: int, threads: int | None) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.codec = spec.load()
        self.options, self.batch_size = dict(options), batch_size
        self.dtype = token_dtype(self.codec.codebook_size)

    def __call__(self, table: Any) -> Any:
        pa = require_pyarrow()
        errors = table.column("error").to_pylist()
        names = table.column("path").to_pylist()
        blobs = table.column("samples").to_pylist()
        todo = [i for i, error in enumerate(errors) if error is None]
        clips = [np.frombuffer(blobs[i], dtype="<f4") for i in todo]
        codes: list[bytes | None] = [None] * len(names)
        levels: list[int | None] = [None] * len(names)
        frames: list[int | None] = [None] * len(names)
        for i, result in zip(todo, encode_robustly(self.codec, clips, self.batch_size, self.options)):
            if isinstance(result, Exception):
                text = str(result) if isinstance(result, XYTokenizerError) else f"{type(result).__name__}: {result}"
                errors[i] = text if names[i] in text else f"{names[i]}: {text}"
                continue
            array = np.asarray(result)
            codes[i] = np.ascontiguousarray(array, dtype=self.dtype).tobytes()
            levels[i], frames[i] = int(array.shape[0]), int(array.shape[1])
        return pa.table({
            "path": table.column("path"), "bucket": table.column("bucket"),
            "codes": pa.array(codes, pa.large_binary()), "levels": pa.array(levels, pa.int64()),
            "num_frames": pa.array(frames, pa.int64()), "duration": table.column("duration"),
            "source_sample_rate": table.column("source_sample_rate"), "error": pa.array(errors, pa.string()),
        })


# ----------------------------------------------------------------------------- the driver

def _actor_layout(ray: Any, num_actors: int | None, use_gpus: bool) -> tuple[int, float, float, int | None]:
    """(actors, GPUs per actor, CPUs per actor, torch threads) from the cluster's resources."""
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)) if use_gpus else 0, max(1, int(resources.get("CPU", 1)))
    if gpus:
        return num_actors or gpus, 1, 1, None
    threads = max(1, min(MAX_CPU_ACTOR_THREADS, cpus // 2))
    return num_actors or max(1, cpus // (2 * threads)), 0, threads, threads


def _file_dataset(ray: Any, files: Mapping[str, str], pending: Mapping[int, list[str]]) -> Any:
    pa = require_pyarrow()
    order = [(bucket, path) for bucket, paths in pending.items() for path in paths if path in files]
    blocks = [pa.table({"path": [p for _, p in chunk], "source": [files[p] for _, p in chunk],
                        "bucket": [b for b, _ in chunk]})
              for chunk in (order[i:i + DECODE_BATCH] for i in range(0, len(order), DECODE_BATCH))]
    return ray.data.from_arrow(blocks) if blocks else None


def encode_corpus(inputs: Sequence[str | Path] | Inputs, out_dir: str | Path, spec: CodecSpec, *,
                  encode_options: Mapping[str, Any] | None = None, batch_size: int = 8,
                  files_per_shard: int = DEFAULT_FILES_PER_SHARD, address: str | None = None,
                  num_actors: int | None = None, codec: Any = None,
                  on_progress: Callable[[int, int], None] | None = None,
                  on_shard: Callable[[Path], None] | None = None) -> CorpusSummary:
    """Encode every input not yet in ``out_dir``'s shards; returns what this run did.

    ``spec`` says how actors load the model; ``codec`` (optional) is the same model already
    loaded on the driver, for its facts (else the driver loads it on the CPU once). ``address``:
    ``None`` uses the Ray instance of this process or starts a local one, ``"auto"`` joins the
    cluster of this machine, ``"ray://HOST:10001"`` a remote one. ``on_progress(done, total)``
    follows files of all inputs (those already in shards count as done), ``on_shard(path)``
    each shard written. Raises :class:`XYTokenizerError` for unusable inputs, options or output
    folder (before any work).
    """
    start = time.monotonic()
    options = {k: v for k, v in (encode_options or {}).items() if v is not None}
    if batch_size < 1:
        raise XYTokenizerError(f"batch size must be at least 1, got {batch_size}")
    found = inputs if isinstance(inputs, Inputs) else read_inputs(inputs)
    summary = CorpusSummary(total=len(found), problems=list(found.problems))
    if codec is None:
        codec = spec.load(device="cpu")
    codec.check_encode_options(**options)
    facts = ShardFacts.from_codec(codec, options)
    rate, min_samples = codec.input_sample_rate, codec.min_input_samples
    out_dir = Path(out_dir)
    with folder_lock(out_dir):
        remove_partials(out_dir)
        buckets = open_state(out_dir, facts, bucket_count(len(found), files_per_shard))
        done = written_paths(out_dir)
        paths = found.paths()
        pending = pending_by_bucket(paths, done, buckets)
        todo = sum(len(p) for p in pending.values())
        summary.already = len(paths) - todo
        if not todo:
            summary.elapsed = time.monotonic() - start
            return summary
        ray = require_ray()
        if not ray.is_initialized():
            _connect(ray, address)
        ray.data.DataContext.get_current().enable_progress_bars = False
        datasets = []
        files_ds = _file_dataset(ray, found.files, pending)
        decode_args = {"rate": rate, "min_samples": min_samples}
        if files_ds is not None:
            datasets.append(files_ds.map_batches(decode_stage, batch_size=DECODE_BATCH, batch_format="pyarrow",
                                                 num_cpus=1, memory=DECODE_TASK_MEMORY, fn_kwargs=decode_args))
        for table, names in found.tables:
            keep = {n: bucket_of(n, buckets) for n in names if n not in done}
            if not keep:
                continue
            read = ray.data.read_parquet(str(table.path)).select_columns([table.name_column, table.bytes_column])
            datasets.append(read.map_batches(
                decode_stage, batch_size=DECODE_BATCH, batch_format="pyarrow", num_cpus=1, memory=DECODE_TASK_MEMORY,
                fn_kwargs={**decode_args, "bytes_column": table.bytes_column, "bytes_field": table.bytes_field,
                           "name_column": table.name_column, "keep": ray.put(keep)}))
        decoded = datasets[0].union(*datasets[1:]) if len(datasets) > 1 else datasets[0]
        actors, gpus, cpus, threads = _actor_layout(ray, num_actors, use_gpus=spec.device != "cpu")
        encoded = decoded.map_batches(
            EncodeStage, batch_size=batch_size, batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
            num_gpus=gpus, num_cpus=cpus,
            fn_constructor_kwargs={"spec": spec, "options": options, "batch_size": batch_size, "threads": threads})
        log.info("encoding %d files with %d actor(s) (%s GPU, %s CPU each)", todo, actors, gpus, cpus)
        _gather(encoded, pending, out_dir, facts, summary, todo, on_progress, on_shard)
    summary.elapsed = time.monotonic() - start
    return summary


def _connect(ray: Any, address: str | None) -> None:
    """Join the cluster at ``address`` (None: start a local Ray instance)."""
    try:
        if address is None:
            ray.init(include_dashboard=False, logging_level=logging.WARNING)
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = "a local Ray instance" if address is None else f"the Ray cluster at {address}"
        raise XYTokenizerError(f"cannot start or join {where} ({exc}); on a cluster run 'ray start --head' "
                               "on the head node first, or leave out --address for a local instance") from exc


def _gather(encoded: Any, pending: Mapping[int, list[str]], out_dir: Path, facts: ShardFacts,
            summary: CorpusSummary, todo: int, on_progress: Callable[[int, int], None] | None,
            on_shard: Callable[[Path], None] | None) -> None:
    """Collect rows per bucket on the driver; write each bucket's shard once it is complete."""
    dtype = token_dtype(facts.codebook_size)
    expected = {bucket: set(paths) for bucket, paths in pending.items()}
    held: dict[int, dict[str, ShardRow]] = {}
    received = 0
    for table in encoded.iter_batches(batch_size=None, batch_format="pyarrow"):
        columns = {name: table.column(name).to_pylist() for name in table.column_names}
        for i, path in enumerate(columns["path"]):
            bucket = int(columns["bucket"][i])
            if path not in expected.get(bucket, ()) or path in held.get(bucket, ()):
                continue          # not asked for, or a second row of the same name in an audio table
            error = columns["error"][i]
            codes = None
            if error is None:
                codes = np.frombuffer(columns["codes"][i], dtype=dtype).reshape(
                    columns["levels"][i], columns["num_frames"][i])
                summary.encoded += 1
                summary.audio_seconds += columns["duration"][i] or 0.0
            else:
                summary.failed += 1
                summary.failures.append((path, error))
            rows = held.setdefault(bucket, {})
            rows[path] = ShardRow(path, codes, columns["duration"][i], columns["source_sample_rate"][i], error)
            received += 1
            if len(rows) == len(expected[bucket]):
                shard = write_shard(out_dir, bucket, list(rows.values()), facts)
                fsync_folder(out_dir)
                del held[bucket]
                summary.shards.append(shard)
                if on_shard is not None:
                    on_shard(shard)
        if on_progress is not None:
            on_progress(summary.already + received, summary.already + todo)
    if held:
        missing = sum(len(expected[b]) - len(rows) for b, rows in held.items())
        raise XYTokenizerError(f"the pipeline ended with {missing} files of {len(held)} shards missing; "
                               "run again to finish them")

