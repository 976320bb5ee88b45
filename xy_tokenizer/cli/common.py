"""What the ``xytok`` commands share: exit codes, option groups, argument types, progress, model loading."""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from xy_tokenizer._version import __version__
from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.io import paths
from xy_tokenizer.jobs import JobEvent, JobOptions, JobSummary

PROG = "xytok"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DTYPES = ("float32", "bfloat16", "float16")
DEFAULT_BATCH_SIZE = JobOptions.batch_size
#: Width of the progress bar in characters, and the least time between two redraws.
BAR_WIDTH = 24
BAR_REDRAW_SECONDS = 0.1


class UsageError(Exception):
    """Setup problem reported with exit status 2 (no argparse usage text)."""


def shard_arg(text: str) -> tuple[int, int]:
    """``I/N`` (1-based, 1 <= I <= N) -> ``(I - 1, N)`` as :func:`collect_inputs` takes it."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N such as 1/4, got {text!r}") from None
    if count < 1 or not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"need 1 <= I <= N, got {text!r}")
    return index - 1, count


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str, *, allow_zero: bool) -> float:
    """A finite number of seconds, > 0 (or >= 0 with ``allow_zero``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise argparse.ArgumentTypeError(f"must be a number of seconds {'>=' if allow_zero else '>'} 0, got {text!r}")
    return value


def overlap_arg(text: str) -> float:
    """Seconds, >= 0; the codec checks its own rule (XY-Tokenizer: a multiple of 0.08 s) before any work."""
    return _seconds(text, allow_zero=True)


def window_arg(text: str) -> float:
    """Seconds, > 0."""
    return _seconds(text, allow_zero=False)


def model_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("model")
    group.add_argument("--checkpoint", metavar="PATH",
                       help="checkpoint file or folder of any supported family (.ckpt/.pt/.pth/.bin/"
                            ".safetensors); default: the model installed by 'xytok download' or 'xytok install'")
    group.add_argument("--variant", metavar="VARIANT",
                       help="an installed released variant (id or alias, see 'xytok download --list') "
                            "instead of --checkpoint")
    group.add_argument("--config", metavar="FILE", help="model config for a custom size (XY-Tokenizer: its YAML); "
                                                        "default: recognised from the weights")
    group.add_argument("--semantic-model", metavar="FOLDER",
                       help="HF-format semantic encoder folder for families that need one apart from the "
                            "checkpoint (NeuCodec: facebook/w2v-bert-2.0); default: the installed one")
    group.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, ...")
    group.add_argument("--dtype", default="float32", choices=DTYPES, help="compute precision (default float32)")
    group.add_argument("--trust-checkpoint", action="store_true",
                       help="allow Python objects beyond tensors in the checkpoint (runs pickle code: "
                            "only for files you trust)")
    return parent


def job_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("job")
    group.add_argument("-o", "--out", required=True, metavar="OUT", type=Path,
                       help="output folder; the inputs' relative folders are mirrored inside it. "
                            "Use a folder other than the inputs'")
    group.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE, metavar="N",
                       help=f"files run through the model together (default {DEFAULT_BATCH_SIZE})")
    group.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip them)")
    group.add_argument("--shard", type=shard_arg, metavar="I/N",
                       help="process only the I-th of N deterministic parts of the inputs, I from 1 to N "
                            "(e.g. 1/4 .. 4/4 in four processes)")
    add_output_options(group)
    return parent


def add_output_options(group: Any) -> None:
    group.add_argument("--quiet", action="store_true", help="print only failures")
    group.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")


def add_overlap(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overlap", type=overlap_arg, metavar="SECONDS",
                        help="overlap of the encoder's windows (XY-Tokenizer: 30 s windows, default 10, a "
                             "multiple of 0.08; windowed families: their default)")
    parser.add_argument("--window", type=window_arg, metavar="SECONDS",
                        help="encoder window for families that window long audio (X-Codec, NeuCodec); "
                             "default: the family's")


def add_decode_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--num-quantizers", type=positive_int, metavar="K",
                        help="decode with the first K levels only (default: all in the file)")
    parser.add_argument("--float", action="store_true", help="write 32-bit float WAV instead of 16-bit PCM")


def clock(seconds: float) -> str:
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
        eta = clock(elapsed * (self.total - self.done) / self.done) if self.done > 0 else "?"
        return (f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {int(self.done)}/{self.total} files  "
                f"{self.audio_seconds:.1f} s audio  {clock(elapsed)} elapsed  ETA {eta}")

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


@dataclass
class Report:
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


def installed_model(alternative: str) -> Path:
    """The default model, or a usage error that says how to get one (or what else to do)."""
    path = paths.find_default_checkpoint()
    if path is None:
        raise UsageError(f"no model installed in {paths.models_dir()}; run '{PROG} download' or {alternative}")
    return path


def _variant_checkpoint(args: argparse.Namespace) -> Path | None:
    """The installed checkpoint of ``--variant`` (None without it); a usage error when it is not installed."""
    name = getattr(args, "variant", None)
    if name is None:
        return None
    if args.checkpoint:
        raise UsageError("give either --checkpoint or --variant, not both")
    from xy_tokenizer.errors import ConfigError
    from xy_tokenizer.hub import installed_checkpoint

    try:
        path = installed_checkpoint(name)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    if path is None:
        raise UsageError(f"variant {name} is not installed; run '{PROG} download --variant {name}' "
                         f"or '{PROG} install PATH' first")
    return path


def load_codec(args: argparse.Namespace) -> Any:
    import xy_tokenizer

    checkpoint = _variant_checkpoint(args) or args.checkpoint or installed_model("pass --checkpoint PATH")
    try:
        return xy_tokenizer.load(checkpoint, config=args.config, semantic_model=args.semantic_model,
                                 device=args.device, dtype=args.dtype, trust=args.trust_checkpoint)
    except (XYTokenizerError, OSError, RuntimeError, ValueError) as exc:
        raise UsageError(f"cannot load the model {checkpoint}: {exc}") from exc
