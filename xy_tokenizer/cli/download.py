"""``xytok download``: fetch a registry variant (every file it needs) and install it; ``--list``
shows every variant's files, sizes and checksums for copying them by hand."""
from __future__ import annotations

import argparse
import json
import math
import time
from typing import Callable, TextIO

from xy_tokenizer import registry
from xy_tokenizer.cli.common import BAR_REDRAW_SECONDS, BAR_WIDTH, EXIT_FAILED, EXIT_OK, EXIT_USAGE, PROG
from xy_tokenizer.codecs.spec import Variant
from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.hub import download, records


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
            filled = int(round(BAR_WIDTH * min(done / total, 1.0)))
            text = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {done / 1e6:.1f}/{total / 1e6:.1f} MB"
        else:
            text = f"{done / 1e6:.1f} MB"
        stream.write(f"\r\x1b[2K{label} {text}  {rate:.1f} MB/s")
        stream.flush()
    return report


def licence_line(v: Variant) -> str:
    where = f" ({v.licence_url})" if v.licence_url else (f" (see {v.hub_page})" if v.hub_page else "")
    note = "; NON-COMMERCIAL use only" if records.licence_needs_acknowledgement(v) else ""
    return f"licence: {v.licence}{where}{note}"


def _print_plan(err: TextIO, plan: download.DownloadPlan) -> None:
    fetched = [f for f in plan.files if f.reuse is None]
    err.write(f"{len(fetched)} file(s), {registry.format_size(plan.download_bytes)} from {plan.endpoint}:\n")
    for f in plan.files:
        state = "kept from the earlier install" if f.reuse is not None else registry.format_size(f.size)
        err.write(f"  {f.hub_file.repo_id}/{f.hub_file.filename}  {state}  -> {f.variant}/{f.dest}\n")
    err.flush()


def run(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    if args.list or args.json or args.markdown:
        return list_variants(args, out)
    variant = registry.variant(args.variant)
    units = registry.needed_variants(variant)
    err.write(f"{variant.id}: {variant.label}\n")
    for unit in units:
        err.write(f"  {unit.id}: {licence_line(unit)}\n" if len(units) > 1 else f"{licence_line(unit)}\n")
    err.flush()
    show = not args.quiet and err.isatty()
    progress = _byte_progress(err, f"{variant.id}:") if show else None
    planned = []

    def on_plan(plan: download.DownloadPlan) -> None:
        planned.append(plan)
        _print_plan(err, plan)

    try:
        path = download.download_variant(variant, progress=progress, force=args.force,
                                         make_default=not args.no_default, accept_licence=args.accept_licence,
                                         on_plan=on_plan)
    except download.LicenceNotAccepted as exc:
        err.write(f"{PROG}: error: {exc}\n")
        return EXIT_USAGE
    except XYTokenizerError as exc:
        err.write(("\n" if show else "") + f"{PROG}: {exc}\n")
        return EXIT_FAILED
    if show and planned:
        err.write("\n")
    if not planned:
        err.write(f"already installed in {records.install_folder(variant.id)} (--force downloads it again)\n")
    out.write(f"{path}\n")
    return EXIT_OK


def variant_facts(v: Variant) -> dict:
    """What ``--list --json`` prints for one variant."""
    install = records.installed_variant(v)
    return {"id": v.id, "aliases": list(v.aliases), "family": v.family, "label": v.label,
            "input_sample_rate": v.input_sample_rate, "output_sample_rate": v.output_sample_rate,
            "frame_rate": v.frame_rate, "levels": v.num_quantizers, "codebook_size": v.codebook_size,
            "bitrate": v.bitrate, "licence": v.licence, "licence_url": v.licence_url, "hub_page": v.hub_page,
            "needs": [u.id for u in registry.needed_variants(v) if u.id != v.id],
            "installed": str(install.folder) if install is not None else None,
            "files": [{"repo_id": f.repo_id, "filename": f.filename, "role": f.role, "size": f.size,
                       "sha256": f.sha256, "url": download.file_url(f),
                       "install_path": f"{v.id}/{records.file_destination(v, f)}"} for f in v.files]}


def list_variants(args: argparse.Namespace, out: TextIO) -> int:
    variants = registry.variants()
    if args.markdown:
        out.write(registry.markdown_table() + "\n\n" + registry.markdown_files_table() + "\n")
        return EXIT_OK
    if args.json:
        out.write(json.dumps([variant_facts(v) for v in variants], indent=2) + "\n")
        return EXIT_OK
    for family in registry.families():
        out.write(f"{family.label}\n")
        for v in family.variants:
            names = v.id + (f" ({', '.join(v.aliases)})" if v.aliases else "")
            installed = " [installed]" if records.installed_variant(v) is not None else ""
            out.write(f"  {names}: {v.label}{installed}\n")
            out.write(f"    {v.input_sample_rate / 1000:g} -> {v.output_sample_rate / 1000:g} kHz, "
                      f"{v.num_quantizers} x "
                      f"{v.codebook_size} codes at {v.frame_rate:g} Hz ({v.bitrate / 1000:g} kbps); download "
                      f"{registry.download_size_text(v)}\n")
            out.write(f"    {licence_line(v)}\n")
            needs = [u.id for u in registry.needed_variants(v) if u.id != v.id]
            if needs:
                out.write(f"    also needs: {', '.join(needs)} (installed with it)\n")
            for f in v.files:
                out.write(f"    {f.role:<15} {registry.format_size(f.size):>9}  sha256 {f.sha256 or '?'}\n"
                          f"      {download.file_url(f)}\n"
                          f"      -> {v.id}/{records.file_destination(v, f)}\n")
    out.write("\nTo copy by hand: fetch a variant's files into one folder laid out as after '->' (below the "
              f"variant's folder), check them with sha256sum where a sha256 is given, then run `{PROG} install "
              "FOLDER`. Sizes and checksums shown as ? are read from the Hub when downloading.\n")
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    variants = registry.variants()
    download_cmd = sub.add_parser(
        "download", help="fetch released weights from the Hugging Face Hub",
        description="Download a released variant (every file it needs, auxiliary models included) and install it "
                    "as the default model (honours HF_ENDPOINT and HF_HUB_OFFLINE). The licence is shown before "
                    "anything is fetched. Variants:\n" + "\n".join(
                        f"  {v.id} ({', '.join(v.aliases) or '-'}): {v.label}; licence: {v.licence}" for v in variants),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    download_cmd.add_argument("--variant", default=download.DEFAULT_VARIANT, choices=registry.choices(),
                              metavar="VARIANT", help=f"a variant id or alias (default {download.DEFAULT_VARIANT})")
    download_cmd.add_argument("--accept-licence", "--accept-license", action="store_true", dest="accept_licence",
                              help="accept a non-commercial licence (CC-BY-NC-4.0, ...); required for such variants")
    download_cmd.add_argument("--force", action="store_true", help="download again even if installed")
    download_cmd.add_argument("--no-default", action="store_true", help="install without making it the default model")
    download_cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    download_cmd.add_argument("--list", action="store_true",
                              help="list every variant with its files, sizes, sha256 and licence; download nothing")
    fmt = download_cmd.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="list as JSON (URLs and install paths included)")
    fmt.add_argument("--markdown", action="store_true", help="list as the README's Markdown tables")
