"""Speech tokenizers behind one interface: load a checkpoint, encode speech to tokens, decode them.

>>> import xy_tokenizer
>>> codec = xy_tokenizer.load()                      # the installed default model  # doctest: +SKIP
>>> codes = codec.encode([wave], sample_rate=16000)[0]     # (levels, T) integers  # doctest: +SKIP
>>> audio = codec.decode([codes])[0]                       # float32 at codec.output_sample_rate  # doctest: +SKIP

Families: XY-Tokenizer (the released 16, 24 and 32 kHz variants) and every family in
:mod:`xy_tokenizer.registry`. Importing this package is cheap: torch is imported on the first
:func:`load`.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from xy_tokenizer._version import __version__
from xy_tokenizer.errors import (
    AudioError,
    Cancelled,
    CheckpointError,
    ConfigError,
    TokenFileError,
    XYTokenizerError,
)

if TYPE_CHECKING:  # pragma: no cover
    from xy_tokenizer.codecs.base import Codec

__all__ = [
    "__version__", "load", "Codec",
    "XYTokenizerError", "ConfigError", "CheckpointError", "AudioError", "TokenFileError", "Cancelled",
]


def load(checkpoint: str | Path | None = None, config=None, *, semantic_model: str | Path | None = None,
         device: str = "auto", dtype: str = "float32", trust: bool = False) -> "Codec":
    """Load a checkpoint of any registered family into a ready :class:`~xy_tokenizer.codecs.base.Codec`.

    checkpoint: a checkpoint file (``.ckpt``/``.pt``/``.pth``/``.bin``/``.safetensors``) or a
    folder holding one (with its ``config.json``); ``None`` uses the installed default model
    (see ``xytok download`` and ``xytok install``). The family and variant are recognised from
    the weights.
    config: a family-specific config for custom sizes (XY-Tokenizer: the reference YAML);
    ``None`` for the released variants.
    semantic_model: an HF-format folder (``config.json`` + weights + ``preprocessor_config.json``)
    for families whose semantic encoder is separate from the codec checkpoint (NeuCodec);
    ``None`` uses the installed one. Unused by XY-Tokenizer.
    device: ``"auto"`` (cuda, then mps, then cpu), or a torch device name.
    dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"`` (quantizers always run in float32).
    trust: allow pickled Python objects in the checkpoint (only for files you trust).
    """
    from xy_tokenizer.codecs.loading import load_codec
    from xy_tokenizer.io.paths import find_default_checkpoint

    if checkpoint is None:
        checkpoint = find_default_checkpoint()
        if checkpoint is None:
            raise CheckpointError(
                "no model installed: run `xytok download` (or the studio's Download...), "
                "`xytok install PATH` for a file you have, or pass a checkpoint")
    return load_codec(checkpoint, config, semantic_model=semantic_model, device=device, dtype=dtype, trust=trust,
                      find_semantic_model=_installed_semantic_model)


def _installed_semantic_model(variant: str, weights: Path) -> Path | None:
    """The separately installed semantic encoder for ``variant`` (None when it needs none or none is installed)."""
    from xy_tokenizer.hub import installed_semantic_model, needs_semantic_model

    if not needs_semantic_model(variant):
        return None
    return installed_semantic_model(variant, checkpoint=weights)


def __getattr__(name: str):
    if name == "Codec":
        from xy_tokenizer.codecs.base import Codec

        return Codec
    raise AttributeError(f"module 'xy_tokenizer' has no attribute {name!r}")
