"""``xytok compare``: the same files through several codecs, reconstructions and a metrics table."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TextIO

from xy_tokenizer._version import __version__
from xy_tokenizer.cli.common import (
    DTYPES, EXIT_FAILED, EXIT_OK, EXIT_USAGE, PROG, ProgressDisplay, UsageError, add_output_options, positive_int,
)
from xy_tokenizer.errors import ConfigError, XYTokenizerError
from xy_tokenizer.hub import installed_checkpoint

METRICS_CSV = "metrics.csv"
SUMMARY_JSON = "summary.json"


def _split(text: str | None) -> list[str]:
    """``a,b,,c`` -> ``["a", "b", "", "c"]`` (empty entries kept, for aligned lists); None -> []."""
    return [] if text is None else [part.strip() for part in text.split(",")]


def _sources(args: argparse.Namespace) -> list:
    """The codecs to compare, in the order given, as :class:`CodecSource` s (usage errors for bad choices)."""
    from xy_tokenizer import registry
    from xy_tokenizer.analysis.compare import (
        CodecSource, ComparisonError, checkpoint_label, safe_label, unique_labels,
    )

    variants = [v for v in _split(args.variants) if v]
    checkpoints = [c for c in _split(args.checkpoints) if c]
    configs = _split(args.configs)
    if not variants and not checkpoints:
        raise UsageError("name the codecs to compare: --variants a,b (installed models) and/or "
                         "--checkpoints PATH,PATH")
    if configs and len(configs) != len(checkpoints):
        raise UsageError(f"--configs has {len(configs)} entries for {len(checkpoints)} checkpoints; give one per "
                         "checkpoint, in the same order (leave an entry empty for a released variant: a.yaml,,c.yaml)")
    entries: list[tuple[str, Path, str | None]] = []
    for name in variants:
        try:
            variant = registry.variant(name)
        except ConfigError as exc:
            raise UsageError(str(exc)) from exc
        path = installed_checkpoint(variant.id)
        if path is None:
            raise UsageError(f"variant {name} ({variant.id}) is not installed; run '{PROG} download --variant "
                             f"{name}' first, or pass its file with --checkpoints PATH")
        entries.append((variant.id, path, None))
    for i, text in enumerate(checkpoints):
        path = Path(text)
        if not path.exists():
            raise UsageError(f"{path}: no such checkpoint file or folder")
        config = configs[i] if configs and configs[i] else None
        if config is not None and not Path(config).is_file():
            raise UsageError(f"{config}: no such config file (given for {path})")
        entries.append((checkpoint_label(path), path, config))
    labels = _split(args.labels)
    if labels:
        if len(labels) != len(entries):
            raise UsageError(f"--labels has {len(labels)} entries for {len(entries)} codecs "
                             "(the --variants first, then the --checkpoints)")
        chosen = [label or entry[0] for label, entry in zip(labels, entries)]
    else:
        chosen = [safe_label(entry[0]) for entry in entries]
    if labels and len(set(chosen)) != len(chosen):
        raise UsageError(f"--labels must be different from one another; got {', '.join(chosen)}")
    try:
        return [CodecSource(label, checkpoint=path, config=config)
                for label, (_, path, config) in zip(unique_labels(chosen), entries)]
    except ComparisonError as exc:
        raise UsageError(str(exc)) from exc


def _outside_out(items: list, out: Path) -> tuple[list, list[str]]:
    """Items not inside the output folder (its reconstructions are not inputs on a second run)."""
    root = out.resolve()
    kept, left = [], []
    for item in items:
        if root in item.path.resolve().parents:
            left.append(f"{item.path}: left out, it is inside the output folder {out}")
        else:
            kept.append(item)
    return kept, left


def run(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    from xy_tokenizer.analysis.compare import ComparisonSession, run_comparison
    from xy_tokenizer.analysis.metrics import METRIC_NAMES
    from xy_tokenizer.jobs import collect_inputs

    sources = _sources(args)
    items, problems = collect_inputs(args.inputs, "audio")
    items, inside = _outside_out(items, args.out)
    if inside and not args.quiet:
        for line in inside:
            err.write(f"{PROG}: {line}\n")
    for problem in problems:
        err.write(f"{PROG}: {problem}\n")
    if not items:
        err.write(f"{PROG}: no audio files to compare\n")
        return EXIT_FAILED
    session = ComparisonSession()
    display = ProgressDisplay(err, len(items) * len(sources), quiet=args.quiet)
    load_failed: list[str] = []
    try:
        events = run_comparison(sources, items, args.out, session=session, device=args.device, dtype=args.dtype,
                                trust=args.trust_checkpoint, overwrite=args.overwrite, batch_size=args.batch_size,
                                num_quantizers=args.num_quantizers,
                                audio_subtype="FLOAT" if args.float else "PCM_16",
                                on_progress=lambda done, total: display.update(done, total))
        for event in events:
            if event.kind == "codec_started" and not args.quiet:
                display.close()
                err.write(f"{event.message}\n")
            elif event.kind == "codec_failed":
                display.close()
                err.write(f"{PROG}: {event.message}\n")
                load_failed.append(event.message)
            elif event.kind == "job" and event.job.kind in ("file_done", "file_failed", "file_skipped"):
                display.event(event.job)
                if event.row is None and event.job.kind != "file_failed":
                    err.write(f"failed: {session.failures[-1][2]}\n")
    except XYTokenizerError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        display.close()
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = session.write_csv(args.out / METRICS_CSV, overwrite=True)
    failed_files = len(session.failures)
    code = EXIT_USAGE if load_failed else EXIT_FAILED if failed_files or problems else EXIT_OK
    document = {"command": "compare", "version": __version__, "exit_code": code,
                "inputs": [str(p) for p in args.inputs], "files": len(items), "problems": problems,
                "out": str(args.out), "metrics_csv": str(csv_path)}
    json_path = session.write_json(args.out / SUMMARY_JSON, overwrite=True, extra=document)
    summary = session.summary()
    if not args.quiet:
        err.write(f"wrote {csv_path} and {json_path}\n")
        for label, stats in summary.items():
            shown = "  ".join(f"{m}={stats.stats[m]['mean']:.3f}" for m in METRIC_NAMES
                              if not math.isnan(stats.stats[m]["mean"]))
            err.write(f"{label} ({stats.codec.bitrate / 1000:g} kbps, {stats.files} files, {stats.failed} failed): "
                      f"mean {shown or '-'}\n")
    if args.json:
        out.write(json.dumps({**session.to_dict(), **document}, indent=2, ensure_ascii=False) + "\n")
    return code


def add_parser(sub: argparse._SubParsersAction) -> None:
    compare = sub.add_parser(
        "compare", help="the same files through several codecs, with a metrics table",
        description="Reconstruct every file with each codec, one codec at a time (each model is loaded when its "
                    "turn comes and freed before the next): OUT/<codec>/<rel>.wav, .npy and .json; then "
                    f"OUT/{METRICS_CSV} (one row per file and codec, then mean and median rows per codec) and "
                    f"OUT/{SUMMARY_JSON} (per-codec summaries with bitrate, metric-vs-bitrate series, every row). "
                    "Existing reconstructions are kept and scored again unless --overwrite; the CSV and JSON "
                    "are rewritten on every run.")
    compare.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders (recursive)")
    compare.add_argument("-o", "--out", required=True, type=Path, metavar="OUT",
                         help="output folder (one sub-folder per codec); not inside an input folder")
    codecs = compare.add_argument_group("codecs (one or both of --variants and --checkpoints)")
    codecs.add_argument("--variants", metavar="A,B,...",
                        help="released variants (ids or aliases) installed with 'xytok download --variant X'")
    codecs.add_argument("--checkpoints", metavar="PATH,PATH,...", help="checkpoint files or folders of any family")
    codecs.add_argument("--configs", metavar="FILE,FILE,...",
                        help="configs aligned with --checkpoints for custom sizes (XY-Tokenizer YAML); leave an "
                             "entry empty for a released variant")
    codecs.add_argument("--labels", metavar="L1,L2,...",
                        help="names of the codecs' output folders and table rows, the --variants first "
                             "(default: the variant id, or the checkpoint's name)")
    codecs.add_argument("--num-quantizers", type=positive_int, metavar="K",
                        help="decode with the first K levels of every codec (its bitrate is counted so)")
    run_group = compare.add_argument_group("run")
    run_group.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, ...")
    run_group.add_argument("--dtype", default="float32", choices=DTYPES, help="compute precision (default float32)")
    run_group.add_argument("--batch-size", type=positive_int, default=4, metavar="N",
                           help="files run through a model together (default 4)")
    run_group.add_argument("--trust-checkpoint", action="store_true",
                           help="allow Python objects beyond tensors in checkpoints (runs pickle code: only for "
                                "files you trust)")
    run_group.add_argument("--overwrite", action="store_true", help="replace existing reconstructions")
    run_group.add_argument("--float", action="store_true", help="write 32-bit float WAV instead of 16-bit PCM")
    add_output_options(run_group)
