"""Loader of X-Codec2 checkpoints (the :class:`~xy_tokenizer.codecs.spec.Loader` protocol).

X-Codec2 shares NeuCodec's network and loading code (:mod:`xy_tokenizer.codecs.neucodec.loader`);
its files carry the Wav2Vec2-BERT weights (``semantic_model.*``), whose config is read from
``semantic_model=`` (a folder with ``config.json``) when given, else from the tensors' shapes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..neucodec.codec import NeuCodecCodec
from ..neucodec.loader import XCODEC2, _load, _recognise
from ..neucodec.loader import from_variant as _from_variant
from ..spec import CheckpointSource


def recognise(source: CheckpointSource) -> str | None:
    """``"xcodec2"`` for the released sizes, ``"xcodec2-custom"`` for other sizes, else ``None``."""
    return _recognise(source, XCODEC2)


def load(source: CheckpointSource, *, variant: str, config: Any = None, semantic_model: str | Path | None = None,
         device: str = "auto", dtype: str = "float32") -> NeuCodecCodec:
    """Build an X-Codec2 from recognised tensors (semantic weights from the file itself)."""
    return _load(source, XCODEC2, variant=variant, config=config, semantic_model=semantic_model,
                 device=device, dtype=dtype)


def from_variant(variant: str, *, device: str = "auto", dtype: str = "float32", seed: int = 0) -> NeuCodecCodec:
    """A full-size X-Codec2 with random weights (benchmarks)."""
    return _from_variant(variant, device=device, dtype=dtype, seed=seed)
