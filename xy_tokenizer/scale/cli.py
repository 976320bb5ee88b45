"""``xytok encode --engine ray``: the command-line side of :mod:`xy_tokenizer.scale.ray_pipeline`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from xy_tokenizer._version import __version__
from xy_tokenizer.cli.common import EXIT_FAILED, EXIT_OK, PROG, ProgressDisplay, UsageError, installed_model
from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.scale.shards import DEFAULT_FILES_PER_SHARD

ENGINES = ("local", "ray")


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """``--engine``, ``--address``, ``--files-per-shard`` (encode only)."""
    group = parser.add_argument_group("corpus engine")
    group.add_argument("--engine", choices=ENGINES, default="local",
                       help="local: this process, OUT/<rel>.npy + .json (default). ray: a Ray Data pipeline "
                            "(CPU tasks decode, one model actor per GPU) writing Parquet token shards "
                            "OUT/shard-*.parquet; inputs may also be manifests (.csv/.jsonl/.parquet with a "
                            "'path' column, optional 'rel') and Parquet audio tables ('bytes' column); "
                            "a rerun skips the files already in OUT")
    group.add_argument("--address", metavar="ADDR",
                       help="Ray cluster to join (--engine ray): 'auto' (this machine's cluster, after "
                            "'ray start'), ray://HOST:10001; default: a local Ray instance")
    group.add_argument("--files-per-shard", type=int, default=None, metavar="N",
                       help=f"average input files per shard (--engine ray; default {DEFAULT_FILES_PER_SHARD}; "
                            "fixed by the first run into OUT)")


def check_local(args: argparse.Namespace) -> None:
    """Usage errors for ray-only options given to the local engine."""
    if args.address is not None or args.files_per_shard is not None:
        raise UsageError("--address and --files-per-shard need --engine ray")


def run_ray(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    from xy_tokenizer.scale.ray_pipeline import CodecSpec, encode_corpus
    from xy_tokenizer.scale.sources import read_inputs

    if args.overwrite:
        raise UsageError("--engine ray never replaces shards; write to a new output folder instead of --overwrite")
    if args.shard is not None:
        raise UsageError("--shard splits the local engine's work; --engine ray spreads the work over the cluster")
    if getattr(args, "num_quantizers", None) is not None:
        raise UsageError("--engine ray writes every level; take the first K rows when reading the shards "
                         "(or encode with the local engine)")
    if args.files_per_shard is not None and args.files_per_shard < 1:
        raise UsageError(f"--files-per-shard must be at least 1, got {args.files_per_shard}")
    checkpoint = args.checkpoint or installed_model("pass --checkpoint PATH (on a path every node can read)")
    spec = CodecSpec(str(Path(checkpoint).resolve()), None if args.config is None else str(Path(args.config).resolve()),
                     None if args.semantic_model is None else str(Path(args.semantic_model).resolve()),
                     dtype=args.dtype, trust=args.trust_checkpoint, device=args.device)
    try:
        found = read_inputs(args.inputs)
    except XYTokenizerError as exc:
        raise UsageError(str(exc)) from exc
    for problem in found.problems:
        err.write(f"{PROG}: {problem}\n")
    if not len(found):
        raise UsageError("no inputs to encode")
    try:
        codec = spec.load(device="cpu")
    except (XYTokenizerError, OSError, RuntimeError, ValueError) as exc:
        raise UsageError(f"cannot load the model {checkpoint}: {exc}") from exc
    display = ProgressDisplay(err, len(found), quiet=args.quiet)

    def on_shard(path: Path) -> None:
        if not args.quiet and not display.bar:
            err.write(f"shard written: {path}\n")

    options = {"overlap": getattr(args, "overlap", None), "window": getattr(args, "window", None)}
    try:
        summary = encode_corpus(found, args.out, spec, encode_options=options, batch_size=args.batch_size,
                                files_per_shard=args.files_per_shard or DEFAULT_FILES_PER_SHARD,
                                address=args.address, codec=codec, on_progress=display.update, on_shard=on_shard)
    except XYTokenizerError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        display.close()
    for _, error in summary.failures:
        err.write(f"failed: {error}\n")
    code = EXIT_FAILED if summary.failed or found.problems else EXIT_OK
    if not args.quiet:
        err.write(summary.text() + (f"; {len(found.problems)} input problems" if found.problems else "") + "\n")
    if args.json:
        document = {"command": "encode", "engine": "ray", "version": __version__, "exit_code": code,
                    "out": str(args.out), "total": summary.total, "already": summary.already,
                    "encoded": summary.encoded, "failed": summary.failed, "audio_seconds": summary.audio_seconds,
                    "elapsed_seconds": summary.elapsed, "shards": [str(p) for p in summary.shards],
                    "problems": found.problems,
                    "failures": [{"path": p, "message": m} for p, m in summary.failures]}
        out.write(json.dumps(document, indent=2) + "\n")
    return code
