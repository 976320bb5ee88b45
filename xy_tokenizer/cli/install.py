"""``xytok install PATH``: make a checkpoint file or model folder you already have the default model."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from xy_tokenizer import registry
from xy_tokenizer.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, PROG
from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.hub import records
from xy_tokenizer.hub.install import install_model


def run(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    try:
        path = install_model(args.path, variant=args.variant, semantic_model=args.semantic_model,
                             make_default=not args.no_default, link=args.link, trust=args.trust_checkpoint)
    except records.InstallError as exc:
        err.write(f"{PROG}: error: {exc}\n")
        return EXIT_USAGE
    except XYTokenizerError as exc:
        err.write(f"{PROG}: {exc}\n")
        return EXIT_FAILED
    install = records.install_of(path)
    if install is not None:
        variant = install.variant or "?"
        err.write(f"installed {variant} ({install.record.get('family')}) in {install.folder}"
                  + ("" if args.no_default else "; it is now the default model") + "\n")
        spec = registry.find_variant(variant)
        if spec is not None:
            err.write(f"licence: {spec.licence}" + (f" ({spec.licence_url})" if spec.licence_url else "") + "\n")
        if records.needs_semantic_model(variant) and records.installed_semantic_model(variant, path) is None:
            err.write(f"{PROG}: note: {records.semantic_model_hint(variant)}\n")
    out.write(f"{path}\n")
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "install", help="make a checkpoint file or model folder you have the default model",
        description="Recognise a checkpoint file (.ckpt, .pt, .pth, .bin, .safetensors) or a model folder (its "
                    "weights with config.json, auxiliary models in sub-folders, as `xytok download --list` lays "
                    "them out), copy it into the models folder and make it the default model. Files no codec "
                    "family recognises are refused.")
    cmd.add_argument("path", type=Path, metavar="PATH", help="checkpoint file or model folder")
    cmd.add_argument("--variant", choices=registry.choices(), metavar="VARIANT",
                     help="the released variant these weights are, where the weights alone cannot tell "
                          "(it must be of the family they are recognised as)")
    cmd.add_argument("--semantic-model", type=Path, metavar="FOLDER",
                     help="HF-format folder of the separate semantic encoder to install with it "
                          "(NeuCodec: facebook/w2v-bert-2.0)")
    cmd.add_argument("--link", action="store_true",
                     help="hard-link the files instead of copying them (same file system; do not edit them later)")
    cmd.add_argument("--no-default", action="store_true", help="install without making it the default model")
    cmd.add_argument("--trust-checkpoint", action="store_true",
                     help="allow pickled Python objects in the checkpoint (only for files you trust)")
