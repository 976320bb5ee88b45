"""``xytok stats``: codebook usage of token files."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence, TextIO

from xy_tokenizer.cli.common import EXIT_FAILED, EXIT_OK, PROG, UsageError
from xy_tokenizer.jobs import collect_inputs


def scan_token_files(inputs: Sequence[str], err: TextIO) -> tuple[list[Path], list[str]]:
    items, problems = collect_inputs(inputs, "tokens")
    for problem in problems:
        err.write(f"{PROG}: {problem}\n")
    return [item.path for item in items], problems


def run(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    from xy_tokenizer.analysis import stats

    if args.csv is not None and args.csv.suffix.lower() != ".csv":
        raise UsageError(f"--csv needs a file name ending in .csv, got {args.csv}")
    if args.json_out is not None and args.json_out.suffix.lower() != ".json":
        raise UsageError(f"--json-out needs a file name ending in .json, got {args.json_out}")
    token_paths, problems = scan_token_files(args.inputs, err)
    if not token_paths:
        return EXIT_FAILED
    report = stats.token_file_stats(token_paths, keep_going=True)
    for problem in report.problems:
        err.write(f"{PROG}: skipped: {problem}\n")
    out.write(stats.format_report(report))
    target = args.csv or args.json_out
    if target is not None:
        stats.write_report(report, target, overwrite=args.overwrite)
        err.write(f"wrote {target}\n")
    return EXIT_FAILED if problems or report.problems else EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    stats = sub.add_parser("stats", help="codebook usage of token files")
    stats.add_argument("inputs", nargs="+", metavar="TOKENS", help=".npy token files or folders")
    target = stats.add_mutually_exclusive_group()
    target.add_argument("--csv", type=Path, metavar="FILE", help="also write the statistics as CSV")
    target.add_argument("--json-out", type=Path, metavar="FILE", help="also write the statistics as JSON")
    stats.add_argument("--overwrite", action="store_true", help="replace an existing --csv/--json-out file")
