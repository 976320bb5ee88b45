"""``xytok download``: fetch a released variant from the Hugging Face Hub and install it."""
from __future__ import annotations

import argparse
import math
import time
from typing import Callable, TextIO

from xy_tokenizer.cli.common import BAR_REDRAW_SECONDS, BAR_WIDTH, EXIT_FAILED, EXIT_OK, PROG
from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer import registry
from xy_tokenizer.hub import download


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


def run(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
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


def add_parser(sub: argparse._SubParsersAction) -> None:
    variants = registry.variants()
    download_cmd = sub.add_parser(
        "download", help="fetch released weights from the Hugging Face Hub",
        description="Download a released variant (every file it needs) and install it as the default model "
                    "(honours HF_ENDPOINT and HF_HUB_OFFLINE). Variants:\n" + "\n".join(
                        f"  {v.id} ({', '.join(v.aliases) or '-'}): {v.label}; licence: {v.licence}" for v in variants),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    download_cmd.add_argument("--variant", default=download.DEFAULT_VARIANT, choices=registry.choices(),
                              metavar="VARIANT", help=f"a variant id or alias (default {download.DEFAULT_VARIANT})")
    download_cmd.add_argument("--force", action="store_true", help="download again even if installed")
    download_cmd.add_argument("--quiet", action="store_true", help="no progress bar")
