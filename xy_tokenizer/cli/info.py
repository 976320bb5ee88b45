"""``xytok info``: describe a checkpoint, a token file or an audio file."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from xy_tokenizer.cli.common import EXIT_FAILED, EXIT_OK, PROG, installed_model
from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.io.audio import AUDIO_EXTENSIONS, audio_info
from xy_tokenizer.io.tokens import TOKEN_SUFFIX, load_tokens


def _checkpoint_facts(path: Path, config: str | None) -> dict:
    import xy_tokenizer

    try:
        codec = xy_tokenizer.load(path, config=config, device="cpu")
    except (XYTokenizerError, OSError, RuntimeError, ValueError) as exc:
        raise XYTokenizerError(f"{path}: cannot be loaded as a checkpoint ({exc})") from exc
    return {
        "kind": "checkpoint", "path": str(path), **codec.facts(), "bitrate": codec.bitrate,
        "parameters": codec.num_parameters, "sha256": codec.checkpoint_sha256,
        "file_size": Path(codec.checkpoint_path or path).stat().st_size,  # the weight file of a folder
    }


def _token_facts(path: Path) -> dict:
    codes, meta = load_tokens(path)
    levels, frames = codes.shape
    rate = (meta or {}).get("frame_rate")
    return {
        "kind": "tokens", "path": str(path), "shape": [levels, frames], "levels": levels,
        "frames": frames, "duration": frames / rate if isinstance(rate, (int, float)) and rate > 0 else None,
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
        elif key == "parameters" and value is not None:
            lines.append(f"parameters: {value:,}")
        elif key == "file_size":
            lines.append(f"file_size: {value:,} bytes")
        elif key == "duration":
            lines.append(f"duration: {value:.3f} s")
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    path = args.path or installed_model(f"name a file: {PROG} info PATH")
    if not path.exists():  # a file, or a model folder (the default model may be one)
        err.write(f"{PROG}: {path}: no such file or folder\n")
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
    info = sub.add_parser("info", help="describe a checkpoint, a token file or an audio file")
    info.add_argument("path", nargs="?", type=Path,
                      help="checkpoint, .npy token file or audio file (default: the installed model)")
    info.add_argument("--config", metavar="FILE", help="config of a custom checkpoint")
    info.add_argument("--json", action="store_true", help="print JSON")
