"""``xytok info``: describe a checkpoint, a token file or an audio file."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

import numpy as np

from xy_tokenizer.cli.common import EXIT_FAILED, EXIT_OK, PROG, installed_model
from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.io.audio import AUDIO_EXTENSIONS, audio_info
from xy_tokenizer.io.tokens import TOKEN_SUFFIX, load_tokens


def _checkpoint_facts(path: Path, config: str | None) -> dict:
    import xy_tokenizer

    try:
        codec = xy_tokenizer.load(path, config=config, device="cpu")
    except (XYTokenizerError, OSError, RuntimeError, ValueError) as exc:
        message = str(exc)
        raise XYTokenizerError(message if str(path) in message else
                               f"{path}: cannot be loaded as a checkpoint ({message})") from exc
    weights = Path(codec.checkpoint_path) if codec.checkpoint_path is not None else path
    return {
        "kind": "checkpoint", "path": str(path), **codec.facts(), "bitrate": codec.bitrate,
        "parameters": codec.num_parameters, "sha256": codec.checkpoint_sha256, "weights": str(weights),
        "file_size": weights.stat().st_size if weights.is_file() else None,
    }


def _token_facts(path: Path) -> dict:
    codes, meta = load_tokens(path)
    levels, frames = codes.shape
    meta = meta or {}
    rate = meta.get("frame_rate")
    rate = rate if isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate > 0 else None
    return {
        "kind": "tokens", "path": str(path), "family": meta.get("family"), "variant": meta.get("variant"),
        "format_version": meta.get("format_version"), "shape": [levels, frames], "levels": levels,
        "decode_levels": meta.get("decode_levels"), "frames": frames, "frame_rate": rate,
        "duration": frames / rate if rate else None, "dtype": str(np.load(path, mmap_mode="r").dtype),
        "code_range": [int(codes.min()), int(codes.max())], "sidecar": meta or None,
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
        elif key == "parameters" and value is not None:
            lines.append(f"parameters: {value:,}")
        elif key == "file_size" and value is not None:
            lines.append(f"file_size: {value:,} bytes")
        elif key == "duration" and value is not None:
            lines.append(f"duration: {value:.3f} s")
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    path = args.path or installed_model(f"name a file: {PROG} info PATH")
    if path.is_dir():                   # a checkpoint folder (weights + config.json)
        facts = _checkpoint_facts(path, args.config)
        out.write(json.dumps(facts, indent=2) + "\n" if args.json else _format_facts(facts))
        return EXIT_OK
    if not path.exists():
        err.write(f"{PROG}: {path}: no such file or folder\n")
        return EXIT_FAILED
    if not path.is_file():
        err.write(f"{PROG}: {path}: not a regular file (a pipe, device or socket)\n")
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


def add_parser(sub: argparse._SubParsersAction) -> None:
    info = sub.add_parser("info", help="describe a checkpoint (file or folder), a token file or an audio file")
    info.add_argument("path", nargs="?", type=Path,
                      help="checkpoint file or folder, .npy token file or audio file (default: the installed model)")
    info.add_argument("--config", metavar="FILE", help="config of a custom checkpoint")
    info.add_argument("--json", action="store_true", help="print JSON")
