"""Reading checkpoint files safely: tensors only, unless the caller trusts the file.

A checkpoint is untrusted input: torch pickles are read with ``weights_only=True`` and never
fall back to unsafe loading on their own; ``.safetensors`` files need no pickle. Every family's
loader reads its files through :func:`read_state_dict`.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from xy_tokenizer.errors import CheckpointError

#: Prefixes that training wrappers add in front of every key.
WRAPPER_PREFIXES = ("module.", "generator.", "model.")
#: Dict entries that hold the real state dict in training checkpoints.
WRAPPER_KEYS = ("generator", "state_dict", "codec_model")
_SHOW = 5


def read_state_dict(path: Path, *, trust: bool = False) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file: ``{name: tensor}`` as stored (wrappers removed).

    Handles a plain state dict, ``{"generator": state_dict, ...}``, ``{"state_dict": ...}``
    and ``.safetensors``. Raises :class:`CheckpointError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty, not a checkpoint")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust, mmap=_is_zip(path))
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "weights_only" in text or "Unsupported global" in text or "GLOBAL" in text:
            refused = _refused_global(text)
            raise CheckpointError(
                f"{path}: refused to load: the file holds Python objects beyond tensors"
                f"{f' ({refused})' if refused else ''}. Loading them could run code. Only if you trust "
                "this file, load it with trust=True (CLI: --trust-checkpoint)."
            ) from None
        raise CheckpointError(f"{path}: not a PyTorch checkpoint ({text.splitlines()[0] if text else 'unreadable'})") from None
    except Exception as exc:  # torch raises many types for foreign or damaged files (KeyError, EOFError, ...)
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint (truncated or another format: {str(exc).splitlines()[0][:200]})"
        ) from None
    return _unwrap(obj, path)


def _is_zip(path: Path) -> bool:
    return zipfile.is_zipfile(path)


def _refused_global(text: str) -> str:
    for line in text.splitlines():
        if "Unsupported global" in line or "GLOBAL" in line:
            return line.strip()[:200]
    return ""


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError as exc:  # pragma: no cover - safetensors is a dependency
        raise CheckpointError(f"{path}: reading .safetensors needs the 'safetensors' package") from exc
    try:
        return dict(load_file(str(path)))
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise CheckpointError(f"{path}: not a readable .safetensors file ({exc})") from None


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    for key in WRAPPER_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{path}: holds {type(obj).__name__}, not a state dict of tensors")
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path}: holds no tensors (keys: {', '.join(map(str, list(obj)[:_SHOW]))})")
    for prefix in WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix):]: v for k, v in tensors.items()}
    return tensors
