"""Which model decoded what: names for models and labels for reconstructions.

A token file's sidecar records the variant that produced its tokens (``token_meta["variant"]``).
Tokens of one variant decode with any model of the same codebook (the 24 kHz and 32 kHz
releases share their tokens), so a differing variant is stated, never refused.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


def model_name(codec: Any) -> str:
    """The model as users know it: ``variant (checkpoint file name)``, e.g.
    ``xy_tokenizer_16k (xy_tokenizer.ckpt)``; the variant alone when it has no checkpoint file."""
    checkpoint = getattr(codec, "checkpoint_path", None)
    return f"{codec.variant} ({Path(checkpoint).name})" if checkpoint else str(codec.variant)


def token_variant(result: Any) -> str | None:
    """The variant that produced the tokens of ``result`` (a FileResult decoded from a token
    file) according to its sidecar; None when no sidecar names one."""
    meta = getattr(result, "token_meta", None) or {}
    variant = meta.get("variant")
    return variant if isinstance(variant, str) and variant else None


def is_cross_variant(codec: Any, result: Any) -> bool:
    """True when ``result``'s tokens came from another variant than ``codec``, which decoded them."""
    source = token_variant(result)
    return source is not None and source != codec.variant


def decoded_by(codec: Any, result: Any) -> str:
    """Which model decoded ``result``: ``"decoded with M"``, or ``"tokens from X decoded with
    M"`` when its token file names another variant X (M is :func:`model_name` of ``codec``)."""
    model = model_name(codec)
    if is_cross_variant(codec, result):
        return f"tokens from {token_variant(result)} decoded with {model}"
    return f"decoded with {model}"


def reconstruction_label(codec: Any, result: Any, levels: int, total: int) -> str:
    """Title of a reconstruction decoded from the first ``levels`` of ``total`` levels, e.g.
    ``"Reconstruction (3/8 levels) \u00b7 decoded with xy_tokenizer_16k (model.ckpt)"``."""
    return f"Reconstruction ({levels}/{total} levels) \u00b7 {decoded_by(codec, result)}"
