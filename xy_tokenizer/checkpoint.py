"""Reading checkpoints safely and matching them to a model.

A checkpoint is untrusted input: torch pickles are read with ``weights_only=True`` and
never fall back to unsafe loading on their own; ``.safetensors`` files need no pickle.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .config import BUILTIN_VARIANTS, ModelConfig
from .errors import CheckpointError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

#: Prefixes under which released checkpoints store the vocoder; ours is the first.
VOCODER_PREFIXES = ("vocos.", "enhanced_vocos.")
#: Prefixes that training wrappers add in front of every key.
WRAPPER_PREFIXES = ("module.", "generator.", "model.")
#: Keys of the head whose output width (n_fft + 2) tells the variants apart.
HEAD_KEY = "vocos.head.out.weight"
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
    if isinstance(obj, dict) and "generator" in obj and isinstance(obj["generator"], dict):
        obj = obj["generator"]
    elif isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{path}: holds {type(obj).__name__}, not a state dict of tensors")
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path}: holds no tensors (keys: {', '.join(map(str, list(obj)[:_SHOW]))})")
    for prefix in WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix):]: v for k, v in tensors.items()}
    return tensors


def normalize_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the vocoder prefix (``enhanced_vocos.`` -> ``vocos.``)."""
    out = {}
    for key, value in state.items():
        for prefix in VOCODER_PREFIXES[1:]:
            if key.startswith(prefix):
                key = VOCODER_PREFIXES[0] + key[len(prefix):]
        out[key] = value
    return out


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the state dict a model built from ``config`` has (no weights made)."""
    from .model import XYTokenizerModel

    with torch.device("meta"):
        model = XYTokenizerModel(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def compare(state: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]]) -> list[str]:
    """Human-readable differences between a state dict and the expected key/shape list."""
    problems = []
    missing = [k for k in shapes if k not in state]
    unexpected = [k for k in state if k not in shapes]
    wrong = [f"{k} {tuple(state[k].shape)} (expected {shapes[k]})"
             for k in shapes if k in state and tuple(state[k].shape) != shapes[k]]
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if items:
            more = f" and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
            problems.append(f"{len(items)} {label}: {', '.join(items[:_SHOW])}{more}")
    return problems


def resolve_config(
    state: dict[str, torch.Tensor], config: ModelConfig | None, source: str
) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """The config to build and the renamed state dict; recognises released variants."""
    state = normalize_keys(state)
    if config is not None:
        return config, state
    head = state.get(HEAD_KEY)
    tried = []
    for name in BUILTIN_VARIANTS:
        candidate = ModelConfig.builtin(name)
        if head is not None and head.shape[0] != candidate.n_fft + 2:
            tried.append(f"{name}: {HEAD_KEY} has {head.shape[0]} rows, not n_fft + 2 = {candidate.n_fft + 2}")
            continue
        problems = compare(state, expected_shapes(candidate))
        if not problems:
            return candidate, state
        tried.append(f"{name}: {problems[0]}")
    head_text = f"head width {tuple(head.shape)[0]} (n_fft + 2)" if head is not None else f"no {HEAD_KEY}"
    raise CheckpointError(
        f"{source}: the weights match none of the released XY-Tokenizer variants ({head_text}). "
        + "; ".join(tried)
        + ". If this is a custom model, pass its YAML config (--config / config=...)."
    )


def load_state_dict_strict(model: "nn.Module", state: dict[str, torch.Tensor], source: str) -> None:
    """Copy every tensor into ``model``: every key used, none missing, shapes checked."""
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    problems = compare(state, shapes)
    if problems:
        raise CheckpointError(
            f"{source}: the checkpoint does not fit the model config ({model.config.source}): "
            + "; ".join(problems)
            + ". Check that the config belongs to this checkpoint."
        )
    model.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True, assign=True
    )
