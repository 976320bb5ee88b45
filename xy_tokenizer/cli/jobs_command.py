"""``xytok encode | decode | reconstruct``: the batch job over files and folders (same job code as the studio)."""
from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading
from pathlib import Path
from typing import Iterator, TextIO

from xy_tokenizer.cli.common import (
    EXIT_FAILED, EXIT_OK, PROG, ProgressDisplay, Report, UsageError, add_decode_options, add_overlap, load_codec,
    positive_int,
)
from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.jobs import JobOptions, JobSummary, collect_inputs, run_job
from xy_tokenizer.datasets import split_shard_inputs
from xy_tokenizer.scale.cli import add_engine_options, check_local, run_ray


def check_output_folder(out: Path) -> None:
    """``-o`` must name a folder (existing or not), not a file: a usage error before any work."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {out}: is a file, not a folder; name an output folder (it is created if needed)")


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While a job runs, SIGTERM stops it like Ctrl-C: the job unwinds, its temporary files are
    deleted and ``xytok`` exits with 130 (in the main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"terminated by signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    with terminate_as_interrupt():
        return _run(args, err, out)


def _run(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    mode = args.command
    check_output_folder(args.out)
    if mode == "encode":
        if args.engine == "ray":
            return run_ray(args, err, out)
        check_local(args)
    inputs, shard_rows = args.inputs, []
    if mode == "decode":        # token shards and shard rows (SHARD.parquet#row=N) besides .npy files
        try:
            inputs, shard_rows = split_shard_inputs(args.inputs)
        except XYTokenizerError as exc:
            raise UsageError(str(exc)) from exc
    items, problems = collect_inputs(inputs, "tokens" if mode == "decode" else "audio", args.shard,
                                     exclude=[args.out]) if inputs else ([], [])
    items = shard_rows + items
    report = Report(mode, problems=list(problems))
    for problem in problems:
        err.write(f"{PROG}: {problem}\n")
    summary = JobSummary(mode=mode)
    if items:
        codec = load_codec(args)
        options = JobOptions(
            mode=mode, out_dir=args.out, overwrite=args.overwrite, batch_size=args.batch_size,
            overlap=getattr(args, "overlap", None), window=getattr(args, "window", None),
            num_quantizers=getattr(args, "num_quantizers", None),
            audio_subtype="FLOAT" if getattr(args, "float", False) else "PCM_16",
            keep_arrays=False,
        )
        display = ProgressDisplay(err, len(items), quiet=args.quiet)
        try:
            events = run_job(codec, items, options, on_progress=display.update)
        except XYTokenizerError as exc:
            raise UsageError(str(exc)) from exc
        for warning in codec.encode_warnings(**options.encode_options()) if mode != "decode" else []:
            err.write(f"{PROG}: {warning}\n")          # the options are valid: say what they cost
        try:
            for event in events:
                display.event(event)
                report.record(event)
                if event.summary is not None:
                    summary = event.summary
        finally:
            display.close()
    code = EXIT_FAILED if summary.failed or problems else EXIT_OK
    if not args.quiet:
        err.write(summary.text() + (f"; {len(problems)} input problems" if problems else "") + "\n")
    if args.json:
        out.write(json.dumps(report.document(summary, code), indent=2) + "\n")
    return code


def add_parsers(sub: argparse._SubParsersAction, model: argparse.ArgumentParser,
                job: argparse.ArgumentParser) -> None:
    """``encode``, ``decode`` and ``reconstruct``."""
    encode = sub.add_parser("encode", parents=[model, job], help="audio -> tokens (<stem>.npy + .json)",
                            description="Tokenize audio files and folders (recursive): OUT/<rel>.npy "
                                        "(integer codes (levels, T)) and OUT/<rel>.json (codec and source).")
    encode.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="audio files or folders (--engine ray: also manifests and Parquet audio tables)")
    add_overlap(encode)
    encode.add_argument("--num-quantizers", type=positive_int, metavar="K",
                        help="write the first K levels only (a lower bitrate: X-Codec 0.5 kbps per level; "
                             "default: all)")
    add_engine_options(encode)

    decode = sub.add_parser("decode", parents=[model, job], help="tokens -> audio (<stem>.wav)",
                            description="Decode token files (.npy, (levels, T)) to WAV at the model's "
                                        "output rate: OUT/<rel>.wav. Token shards too: SHARD.parquet (every "
                                        "row), SHARD.parquet#row=N (0-based) or SHARD.parquet#path=REL "
                                        "(one row) -> OUT/<row path stem>.wav.")
    decode.add_argument("inputs", nargs="+", metavar="TOKENS",
                        help=".npy token files or folders, token shards or shard rows (SHARD.parquet#row=N)")
    add_decode_options(decode)

    recon = sub.add_parser("reconstruct", parents=[model, job], help="audio -> tokens and audio",
                           description="Encode and decode: OUT/<rel>.npy, .json and .wav.")
    recon.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders")
    add_overlap(recon)
    add_decode_options(recon)
