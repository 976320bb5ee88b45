"""The ``xytok`` command: batch tokenization, decoding, reconstruction and file inspection.

One module per command (``jobs_command`` runs encode/decode/reconstruct). Exit status: 0 when
everything succeeded (skipped files included), 1 when any file failed (or the one file a command
was about could not be used), 2 for a usage error (bad options, no model installed, a model that
cannot be loaded), 130 when interrupted with Ctrl-C (no partial file is left behind).
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from xy_tokenizer._version import __version__
from xy_tokenizer.cli import compare, download, info, install, jobs_command, metrics, stats
from xy_tokenizer.cli.common import (
    EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, PROG, UsageError, job_options, model_options,
)
from xy_tokenizer.errors import XYTokenizerError

#: Command name -> the module that adds its parser and runs it.
COMMAND_MODULES = {"encode": jobs_command, "decode": jobs_command, "reconstruct": jobs_command,
                   "info": info, "download": download, "install": install, "stats": stats, "metrics": metrics, "compare": compare}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Speech tokenizers (XY-Tokenizer and the other registered families): speech <-> "
                    "integer tokens (levels x T) and back.",
        epilog="Exit status: 0 all succeeded (or skipped), 1 some file failed, 2 usage error, "
               "130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    jobs_command.add_parsers(sub, model_options(), job_options())
    for module in (info, download, install, stats, metrics, compare):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``xytok`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:     # --help, --version, usage errors
        return int(exc.code or 0)
    err, out = sys.stderr, sys.stdout
    try:
        return COMMAND_MODULES[args.command].run(args, err, out)
    except UsageError as exc:
        err.write(f"{PROG}: error: {exc}\n")
        return EXIT_USAGE
    except XYTokenizerError as exc:
        err.write(f"{PROG}: {exc}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        err.write(f"\n{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
