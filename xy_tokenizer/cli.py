"""The ``xytok`` command: batch tokenization, decoding, reconstruction and file inspection.

Exit status: 0 when everything succeeded (skipped files included), 1 when any file failed
(or the one file a command was about could not be used), 2 for a usage error (bad options, no model installed, a model that cannot be loaded),
130 when interrupted with Ctrl-C (no partial file is left behind).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from . import download, paths
from ._version import __version__
from .audio import AUDIO_EXTENSIONS, audio_info, load_audio
from .constants import (
    DEFAULT_OVERLAP_SECONDS,
    FRAME_RATE,
    INPUT_SAMPLE_RATE,
    NUM_QUANTIZERS,
    WINDOW_SECONDS,
)
from .errors import XYTokenizerError
from .jobs import AUDIO_SUFFIX, JobEvent, JobOptions, JobSummary, collect_inputs, run_job
from .windowing import encode_step
from .tokens import TOKEN_SUFFIX, load_token_meta, load_tokens

PROG = "xytok"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DTYPES = ("float32", "bfloat16", "float16")
DEFAULT_BATCH_SIZE = JobOptions.batch_size
#: Width of the progress bar in characters, and the least time between two redraws.
BAR_WIDTH = 24
BAR_REDRAW_SECONDS = 0.1


class UsageError(Exception):
    """Setup problem reported with exit status 2 (no argparse usage text)."""


# ----------------------------------------------------------------------------- argument types

def _shard(text: str) -> tuple[int, int]:
    """``I/N`` (1-based, 1 <= I <= N) -> ``(I - 1, N)`` as :func:`collect_inputs` takes it."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N such as 1/4, got {text!r}") from None
    if count < 1 or not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"need 1 <= I <= N, got {text!r}")
    return index - 1, count


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _num_quantizers(text: str) -> int:
    value = _positive_int(text)
    if value > NUM_QUANTIZERS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {NUM_QUANTIZERS}, got {value}")
    return value


def _overlap(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    try:
        encode_step(value)
    except XYTokenizerError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


# ----------------------------------------------------------------------------- parser

def _model_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("model")
    group.add_argument("--checkpoint", metavar="PATH",
                       help="checkpoint (.ckpt/.pt/.safetensors); default: the model installed by "
                            "'xytok download' in the user data folder")
    group.add_argument("--config", metavar="YAML", help="model config; default: recognised from the weights")
    group.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, ...")
    group.add_argument("--dtype", default="float32", choices=DTYPES, help="compute precision (default float32)")
    group.add_argument("--trust-checkpoint", action="store_true",
                       help="allow Python objects beyond tensors in the checkpoint (runs pickle code: "
                            "only for files you trust)")
    return parent


def _job_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("job")
    group.add_argument("-o", "--out", required=True, metavar="OUT", type=Path,
                       help="output folder; the inputs' relative folders are mirrored inside it. "
                            "Use a folder other than the inputs'")
    group.add_argument("--batch-size", type=_positive_int, default=DEFAULT_BATCH_SIZE, metavar="N",
                       help=f"files run through the model together (default {DEFAULT_BATCH_SIZE})")
    group.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip them)")
    group.add_argument("--shard", type=_shard, metavar="I/N",
                       help="process only the I-th of N deterministic parts of the inputs, I from 1 to N "
                            "(e.g. 1/4 .. 4/4 in four processes)")
    _output_options(group)
    return parent


def _output_options(group: Any) -> None:
    group.add_argument("--quiet", action="store_true", help="print only failures")
    group.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")


def _add_overlap(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overlap", type=_overlap, default=DEFAULT_OVERLAP_SECONDS, metavar="SECONDS",
                        help=f"overlap of the {WINDOW_SECONDS} s encoder windows (default {DEFAULT_OVERLAP_SECONDS})")


def _add_decode_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--num-quantizers", type=_num_quantizers, metavar="K",
                        help=f"decode with the first K levels only (1..{NUM_QUANTIZERS}; default: all in the file)")
    parser.add_argument("--float", action="store_true", help="write 32-bit float WAV instead of 16-bit PCM")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="XY-Tokenizer: speech <-> 8 x 1024 tokens at 12.5 per second.",
        epilog="Exit status: 0 all succeeded (or skipped), 1 some file failed, 2 usage error, "
               "130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    model, job = _model_options(), _job_options()

    encode = sub.add_parser("encode", parents=[model, job], help="audio -> tokens (<stem>.npy + .json)",
                            description="Tokenize audio files and folders (recursive): OUT/<rel>.npy "
                                        "(int16 codes (8, T)) and OUT/<rel>.json (provenance).")
    encode.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders")
    _add_overlap(encode)

    decode = sub.add_parser("decode", parents=[model, job], help="tokens -> audio (<stem>.wav)",
                            description="Decode token files (.npy, (k, T) with k <= 8) to WAV at the "
                                        "model's output rate: OUT/<rel>.wav.")
    decode.add_argument("inputs", nargs="+", metavar="TOKENS", help=".npy token files or folders")
    _add_decode_options(decode)

    recon = sub.add_parser("reconstruct", parents=[model, job], help="audio -> tokens and audio",
                           description="Encode and decode: OUT/<rel>.npy, .json and .wav.")
    recon.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders")
    _add_overlap(recon)
    _add_decode_options(recon)

    info = sub.add_parser("info", help="describe a checkpoint, a token file or an audio file")
    info.add_argument("path", nargs="?", type=Path,
                      help="checkpoint, .npy token file or audio file (default: the installed model)")
    info.add_argument("--config", metavar="YAML", help="config of a custom checkpoint")
    info.add_argument("--json", action="store_true", help="print JSON")

    download_cmd = sub.add_parser("download", help="fetch released weights from the Hugging Face Hub",
                              description="Download a released checkpoint and install it as the "
                                          "default model (honours HF_ENDPOINT and HF_HUB_OFFLINE).")
    download_cmd.add_argument(
        "--variant", default=download.DEFAULT_VARIANT, choices=tuple(download.VARIANTS),
        help="; ".join(f"{name}: {model.repo_id}" for name, model in download.VARIANTS.items())
             + f" (default {download.DEFAULT_VARIANT})")
    download_cmd.add_argument("--force", action="store_true", help="download again even if installed")
    download_cmd.add_argument("--quiet", action="store_true", help="no progress bar")

    stats = sub.add_parser("stats", help="codebook usage of token files")
    stats.add_argument("inputs", nargs="+", metavar="TOKENS", help=".npy token files or folders")
    target = stats.add_mutually_exclusive_group()
    target.add_argument("--csv", type=Path, metavar="FILE", help="also write the statistics as CSV")
    target.add_argument("--json-out", type=Path, metavar="FILE", help="also write the statistics as JSON")
    stats.add_argument("--overwrite", action="store_true", help="replace an existing --csv/--json-out file")

    metrics = sub.add_parser("metrics", help="quality of reconstructions against their originals",
                             description="Compare ORIGINAL RECON pairs (any rates; compared at 16 kHz), "
                                         "or every OUT/<rel>.wav of 'xytok reconstruct' with the source "
                                         "named in its .json sidecar.")
    metrics.add_argument("files", nargs="*", metavar="FILE", help="ORIGINAL RECON [ORIGINAL RECON ...]")
    metrics.add_argument("--pairs-from", type=Path, metavar="OUT", help="output folder of 'xytok reconstruct'")
    metrics.add_argument("--csv", type=Path, metavar="FILE", help="write one row per pair, then mean and median")
    metrics.add_argument("--overwrite", action="store_true", help="replace an existing --csv file")
    _output_options(metrics)
    return parser


# ----------------------------------------------------------------------------- progress

def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class ProgressDisplay:
    """Files done/total, audio seconds and ETA on stderr.

    On a terminal: one bar line redrawn in place, with failures and skips printed above it.
    Otherwise (a log file, a pipe): one line per file. ``quiet``: failures only.
    """

    def __init__(self, stream: TextIO, total: int, *, quiet: bool) -> None:
        self.stream, self.total, self.quiet = stream, total, quiet
        self.bar = not quiet and stream.isatty()
        self.start = time.monotonic()
        self.done = 0.0
        self.audio_seconds = 0.0
        self._last_draw = -math.inf
        self._drawn = False

    def update(self, done: float, total: float) -> None:
        """Fine-grained progress (``run_job``'s ``on_progress``): done of total files."""
        self.done = done
        self._draw()

    def event(self, event: JobEvent) -> None:
        if event.kind == "file_done":
            self.audio_seconds += event.result.duration
            if not self.bar and not self.quiet:
                outputs = ", ".join(str(p) for p in event.result.outputs)
                self._line(f"done: {event.item.path} -> {outputs}")
        elif event.kind == "file_failed":
            self._line(f"failed: {event.message}")
        elif event.kind == "file_skipped" and not self.quiet:
            self._line(f"skipped: {event.message}")
        if event.kind in ("progress", "finished", "cancelled"):
            self.done = event.done
        self._draw(force=event.kind in ("file_done", "file_failed", "file_skipped", "progress"))

    def close(self) -> None:
        if self._drawn:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def text(self) -> str:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(round(BAR_WIDTH * min(max(fraction, 0.0), 1.0)))
        elapsed = time.monotonic() - self.start
        eta = _clock(elapsed * (self.total - self.done) / self.done) if self.done > 0 else "?"
        return (f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {int(self.done)}/{self.total} files  "
                f"{self.audio_seconds:.1f} s audio  {_clock(elapsed)} elapsed  ETA {eta}")

    def _line(self, text: str) -> None:
        if self.bar and self._drawn:
            self.stream.write("\r\x1b[2K")
            self._drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        if not self.bar:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < BAR_REDRAW_SECONDS:
            return
        self._last_draw = now
        self.stream.write("\r\x1b[2K" + self.text())
        self.stream.flush()
        self._drawn = True


# ----------------------------------------------------------------------------- job commands

@dataclass
class _Report:
    """What a job command prints as JSON."""

    command: str
    files: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def record(self, event: JobEvent) -> None:
        status = {"file_done": "done", "file_failed": "failed", "file_skipped": "skipped"}.get(event.kind)
        if status is None:
            return
        entry: dict[str, Any] = {"path": str(event.item.path), "status": status}
        if status == "done":
            entry["outputs"] = [str(p) for p in event.result.outputs]
            entry["audio_seconds"] = event.result.duration
        else:
            entry["message"] = event.message
        self.files.append(entry)

    def document(self, summary: JobSummary, exit_code: int) -> dict:
        return {"command": self.command, "version": __version__, "exit_code": exit_code,
                "summary": summary.to_dict(), "problems": self.problems, "files": self.files}


def _installed_model(alternative: str) -> Path:
    """The default model, or a usage error that says how to get one (or what else to do)."""
    path = paths.find_default_checkpoint()
    if path is None:
        raise UsageError(f"no model installed in {paths.models_dir()}; run '{PROG} download' or {alternative}")
    return path


def _load_codec(args: argparse.Namespace) -> Any:
    import xy_tokenizer

    checkpoint = args.checkpoint or _installed_model("pass --checkpoint PATH")
    try:
        return xy_tokenizer.load(checkpoint, config=args.config, device=args.device, dtype=args.dtype,
                                 trust=args.trust_checkpoint)
    except (XYTokenizerError, OSError, RuntimeError, ValueError) as exc:
        raise UsageError(f"cannot load the model {checkpoint}: {exc}") from exc


def _run_job_command(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    mode = args.command
    items, problems = collect_inputs(args.inputs, "tokens" if mode == "decode" else "audio", args.shard)
    report = _Report(mode, problems=list(problems))
    for problem in problems:
        err.write(f"{PROG}: {problem}\n")
    summary = JobSummary(mode=mode)
    if items:
        codec = _load_codec(args)
        options = JobOptions(
            mode=mode, out_dir=args.out, overwrite=args.overwrite, batch_size=args.batch_size,
            overlap=getattr(args, "overlap", DEFAULT_OVERLAP_SECONDS),
            num_quantizers=getattr(args, "num_quantizers", None),
            audio_subtype="FLOAT" if getattr(args, "float", False) else "PCM_16",
            keep_arrays=False,
        )
        display = ProgressDisplay(err, len(items), quiet=args.quiet)
        try:
            events = run_job(codec, items, options, on_progress=display.update)
        except XYTokenizerError as exc:
            raise UsageError(str(exc)) from exc
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


# ----------------------------------------------------------------------------- info

def _checkpoint_facts(path: Path, config: str | None) -> dict:
    import xy_tokenizer

    try:
        codec = xy_tokenizer.load(path, config=config, device="cpu")
    except (XYTokenizerError, OSError, RuntimeError, ValueError) as exc:
        raise XYTokenizerError(f"{path}: cannot be loaded as a checkpoint ({exc})") from exc
    return {
        "kind": "checkpoint", "path": str(path), "variant": codec.variant,
        "input_sample_rate": codec.input_sample_rate, "output_sample_rate": codec.output_sample_rate,
        "frame_rate": codec.frame_rate, "num_quantizers": codec.num_quantizers,
        "codebook_size": codec.codebook_size, "parameters": codec.num_parameters,
        "sha256": codec.checkpoint_sha256, "file_size": path.stat().st_size,
    }


def _token_facts(path: Path) -> dict:
    codes, meta = load_tokens(path)
    levels, frames = codes.shape
    return {
        "kind": "tokens", "path": str(path), "shape": [levels, frames], "levels": levels,
        "frames": frames, "duration": frames / FRAME_RATE,
        "code_range": [int(codes.min()), int(codes.max())], "sidecar": meta,
    }


def _audio_facts(path: Path) -> dict:
    info = audio_info(path)
    return {"kind": "audio", "path": str(path), "format": info.format, "subtype": info.subtype,
            "sample_rate": info.sample_rate, "channels": info.channels, "frames": info.frames,
            "duration": info.duration}


def _format_facts(facts: dict) -> str:
    lines = []
    for key, value in facts.items():
        if key == "sidecar":
            text = "none" if value is None else "\n" + "\n".join(
                "  " + line for line in json.dumps(value, indent=2, sort_keys=True).splitlines())
            lines.append(f"sidecar: {text}")
        elif key == "parameters":
            lines.append(f"parameters: {value:,}")
        elif key == "file_size":
            lines.append(f"file_size: {value:,} bytes")
        elif key == "duration":
            lines.append(f"duration: {value:.3f} s")
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


def _info(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    path = args.path or _installed_model(f"name a file: {PROG} info PATH")
    if not path.is_file():
        err.write(f"{PROG}: {path}: no such file\n")
        return EXIT_FAILED
    suffix = path.suffix.lower()
    if suffix == TOKEN_SUFFIX:
        facts = _token_facts(path)
    elif suffix in AUDIO_EXTENSIONS:
        facts = _audio_facts(path)
    else:
        facts = _checkpoint_facts(path, args.config)
    out.write(json.dumps(facts, indent=2) + "\n" if args.json else _format_facts(facts))
    return EXIT_OK


# ----------------------------------------------------------------------------- download

def _byte_progress(stream: TextIO, label: str) -> Callable[[int, int | None], None]:
    start = time.monotonic()
    last = [-math.inf]

    def report(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] < BAR_REDRAW_SECONDS and done != total:
            return
        last[0] = now
        rate = done / max(now - start, 1e-9) / 1e6
        if total:
            filled = int(round(BAR_WIDTH * done / total))
            text = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {done / 1e6:.1f}/{total / 1e6:.1f} MB"
        else:
            text = f"{done / 1e6:.1f} MB"
        stream.write(f"\r\x1b[2K{label} {text}  {rate:.1f} MB/s")
        stream.flush()
    return report


def _download(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    show = not args.quiet and err.isatty()
    progress = _byte_progress(err, f"{args.variant}:") if show else None
    try:
        path = download.download_variant(args.variant, progress=progress, force=args.force)
    except XYTokenizerError as exc:
        err.write(("\n" if show else "") + f"{PROG}: {exc}\n")
        return EXIT_FAILED
    if show:
        err.write("\n")
    out.write(f"{path}\n")
    return EXIT_OK


# ----------------------------------------------------------------------------- stats, metrics

def _token_paths(inputs: Sequence[str], err: TextIO) -> tuple[list[Path], list[str]]:
    items, problems = collect_inputs(inputs, "tokens")
    for problem in problems:
        err.write(f"{PROG}: {problem}\n")
    return [item.path for item in items], problems


def _stats(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    from . import stats

    if args.csv is not None and args.csv.suffix.lower() != ".csv":
        raise UsageError(f"--csv needs a file name ending in .csv, got {args.csv}")
    if args.json_out is not None and args.json_out.suffix.lower() != ".json":
        raise UsageError(f"--json-out needs a file name ending in .json, got {args.json_out}")
    token_paths, problems = _token_paths(args.inputs, err)
    if not token_paths:
        return EXIT_FAILED
    report = stats.token_file_stats(token_paths)
    out.write(stats.format_report(report))
    target = args.csv or args.json_out
    if target is not None:
        stats.write_report(report, target, overwrite=args.overwrite)
        err.write(f"wrote {target}\n")
    return EXIT_FAILED if problems else EXIT_OK


def _pairs_from(folder: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(original, reconstruction) pairs of a ``reconstruct`` output folder, from the sidecars."""
    pairs, problems = [], []
    items, scan_problems = collect_inputs([folder], "tokens")
    problems.extend(scan_problems)
    for item in items:
        recon = item.path.with_suffix(AUDIO_SUFFIX)
        if not recon.is_file():
            continue
        try:
            meta = load_token_meta(item.path)
        except XYTokenizerError as exc:
            problems.append(str(exc))
            continue
        source = None if meta is None else meta.get("source")
        if not source:
            problems.append(f"{recon}: its sidecar does not name the original audio")
            continue
        pairs.append((Path(source), recon))
    if not pairs and not problems:
        problems.append(f"{folder}: no reconstructions (<stem>.wav beside <stem>.npy) found")
    return pairs, problems


def _metrics(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    from . import metrics

    if args.pairs_from is None and (not args.files or len(args.files) % 2):
        raise UsageError("give ORIGINAL RECON pairs (an even number of files) or --pairs-from OUT")
    if args.pairs_from is not None and args.files:
        raise UsageError("give either ORIGINAL RECON pairs or --pairs-from, not both")
    if args.csv is not None and args.csv.exists() and not args.overwrite:
        raise UsageError(f"{args.csv} exists; pass --overwrite to replace it")
    if args.pairs_from is not None:
        pairs, problems = _pairs_from(args.pairs_from)
    else:
        pairs = [(Path(a), Path(b)) for a, b in zip(args.files[::2], args.files[1::2])]
        problems = []
    for problem in problems:
        err.write(f"{PROG}: {problem}\n")
    rows, failures = [], list(problems)
    for original, recon in pairs:
        try:
            reference, _ = load_audio(original, INPUT_SAMPLE_RATE)
            estimate, _ = load_audio(recon, INPUT_SAMPLE_RATE)
            notes: dict[str, str] = {}
            values = metrics.compute_metrics(reference, estimate, INPUT_SAMPLE_RATE, notes=notes)
        except XYTokenizerError as exc:
            failures.append(str(exc))
            err.write(f"failed: {exc}\n")
            continue
        rows.append({"file": str(recon), "original": str(original), **values})
        if not args.quiet:
            shown = "  ".join(f"{name}={value:.3f}" for name, value in values.items())
            err.write(f"{recon}: {shown}\n")
            for name, reason in notes.items():
                err.write(f"  {name}: {reason}\n")
    if args.csv is not None and rows:
        metrics.write_metrics_csv(rows, args.csv, overwrite=args.overwrite)
        err.write(f"wrote {args.csv}\n")
    code = EXIT_FAILED if failures else EXIT_OK
    if args.json:
        document = {"command": "metrics", "version": __version__, "exit_code": code,
                    "rows": [{k: (None if isinstance(v, float) and math.isnan(v) else v)
                              for k, v in row.items()} for row in rows],
                    "summary": {name: {k: (None if math.isnan(v) else v) for k, v in stat.items()}
                                for name, stat in metrics.summarize(rows).items()},
                    "failures": failures}
        out.write(json.dumps(document, indent=2) + "\n")
    elif rows and not args.quiet:
        for name, stat in metrics.summarize(rows).items():
            out.write(f"{name}: mean {stat['mean']:.4f}  median {stat['median']:.4f}\n")
    return code


# ----------------------------------------------------------------------------- main

COMMANDS = {
    "encode": _run_job_command, "decode": _run_job_command, "reconstruct": _run_job_command,
    "info": _info, "download": _download, "stats": _stats, "metrics": _metrics,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``xytok`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:     # --help, --version, usage errors
        return int(exc.code or 0)
    err, out = sys.stderr, sys.stdout
    try:
        return COMMANDS[args.command](args, err, out)
    except UsageError as exc:
        err.write(f"{PROG}: error: {exc}\n")
        return EXIT_USAGE
    except XYTokenizerError as exc:
        err.write(f"{PROG}: {exc}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        err.write(f"\n{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
