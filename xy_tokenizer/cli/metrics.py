"""``xytok metrics``: quality of reconstructions against their originals."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TextIO

from xy_tokenizer._version import __version__
from xy_tokenizer.cli.common import EXIT_FAILED, EXIT_OK, PROG, UsageError, add_output_options
from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.io.audio import load_audio
from xy_tokenizer.io.tokens import load_token_meta
from xy_tokenizer.jobs import AUDIO_SUFFIX, collect_inputs


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


def run(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    from xy_tokenizer.analysis import metrics

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
            reference, _ = load_audio(original, metrics.METRICS_SAMPLE_RATE)
            estimate, _ = load_audio(recon, metrics.METRICS_SAMPLE_RATE)
            notes: dict[str, str] = {}
            values = metrics.compute_metrics(reference, estimate, metrics.METRICS_SAMPLE_RATE, notes=notes)
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


def add_parser(sub: argparse._SubParsersAction) -> None:
    metrics = sub.add_parser("metrics", help="quality of reconstructions against their originals",
                             description="Compare ORIGINAL RECON pairs (any rates; compared at 16 kHz), "
                                         "or every OUT/<rel>.wav of 'xytok reconstruct' with the source "
                                         "named in its .json sidecar.")
    metrics.add_argument("files", nargs="*", metavar="FILE", help="ORIGINAL RECON [ORIGINAL RECON ...]")
    metrics.add_argument("--pairs-from", type=Path, metavar="OUT", help="output folder of 'xytok reconstruct'")
    metrics.add_argument("--csv", type=Path, metavar="FILE", help="write one row per pair, then mean and median")
    metrics.add_argument("--overwrite", action="store_true", help="replace an existing --csv file")
    add_output_options(metrics)
