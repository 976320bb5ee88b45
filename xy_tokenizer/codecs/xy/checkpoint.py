"""XY-Tokenizer state dicts: key names, differences from a model, strict loading.

Files are read by :func:`xy_tokenizer.io.checkpoint.read_state_dict`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from xy_tokenizer.errors import CheckpointError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

#: Prefixes under which released checkpoints store the vocoder; ours is the first.
VOCODER_PREFIXES = ("vocos.", "enhanced_vocos.")
#: Keys of the head whose output width (n_fft + 2) tells the variants apart.
HEAD_KEY = "vocos.head.out.weight"
_SHOW = 5


def normalize_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the vocoder prefix (``enhanced_vocos.`` -> ``vocos.``)."""
    out = {}
    for key, value in state.items():
        for prefix in VOCODER_PREFIXES[1:]:
            if key.startswith(prefix):
                key = VOCODER_PREFIXES[0] + key[len(prefix):]
        out[key] = value
    return out


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
