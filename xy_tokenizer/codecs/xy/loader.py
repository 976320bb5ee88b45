"""Recognising and loading XY-Tokenizer checkpoints (the family's :class:`~xy_tokenizer.codecs.spec.Loader`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from xy_tokenizer.codecs.runtime import pick_device, pick_dtype
from xy_tokenizer.codecs.spec import CheckpointSource
from xy_tokenizer.codecs.xy.checkpoint import HEAD_KEY, normalize_keys
from xy_tokenizer.codecs.xy.codec import XYTokenizerCodec
from xy_tokenizer.codecs.xy import hf
from xy_tokenizer.codecs.xy.config import ModelConfig
from xy_tokenizer.codecs.xy.model import XYTokenizerModel, resolve_config
from xy_tokenizer.errors import CheckpointError

CUSTOM = "xy_tokenizer-custom"


def _is_xy(state: dict) -> bool:
    keys = state.keys()
    return HEAD_KEY in state and any(k.startswith("quantizer.quantizers.") for k in keys) and any(
        k.startswith("semantic_encoder_adapter.") for k in keys)


def _reference_state(source: CheckpointSource) -> dict:
    """The tensors under reference names (HF-format releases are renamed in memory)."""
    state = dict(source.state)
    if hf.is_hf_layout(state, source.config_json):
        state = hf.to_reference_keys(state)
    return normalize_keys(state)


def _json_config(source: CheckpointSource) -> ModelConfig | None:
    """The config a HF-format ``config.json`` beside the weights describes, if any."""
    if source.config_json is None or source.config_json.get("model_type") != hf.HF_MODEL_TYPE:
        return None
    return hf.config_from_json(source.config_json, str(source.path.parent / "config.json"))


def recognise(source: CheckpointSource) -> str | None:
    """A released variant's id, :data:`CUSTOM` for other sizes, or None."""
    state = _reference_state(source)
    if not _is_xy(state):
        return None
    try:
        config, _ = resolve_config(state, _json_config(source), str(source.path))
    except CheckpointError:
        return CUSTOM
    return config.variant_name()


def load(source: CheckpointSource, *, variant: str, config: Any = None, semantic_model: Any = None,
         device: str = "auto", dtype: str = "float32") -> XYTokenizerCodec:
    """The codec for recognised tensors; a custom size needs its YAML ``config``."""
    if semantic_model is not None:
        raise CheckpointError(
            f"{source.path}: XY-Tokenizer keeps its semantic encoder inside the checkpoint; "
            "do not pass a semantic model for it")
    if config is None:
        config = _json_config(source)
    model = XYTokenizerModel.from_state(_reference_state(source), config, source=str(source.path))
    return XYTokenizerCodec._ready(model, pick_device(device), pick_dtype(dtype), Path(source.path))


def from_variant(variant: str, *, device: str = "auto", dtype: str = "float32", seed: int = 0) -> XYTokenizerCodec:
    """A full-size model of a released variant with random weights (benchmarks)."""
    torch.manual_seed(seed)
    return XYTokenizerCodec.from_config(ModelConfig.builtin(variant), device=device, dtype=dtype)
