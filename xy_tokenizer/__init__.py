"""XY-Tokenizer engine: load a checkpoint, encode speech to 8 x T codes, decode codes to speech.

>>> import xy_tokenizer
>>> codec = xy_tokenizer.load("xy_tokenizer.ckpt")          # doctest: +SKIP
>>> codes = codec.encode([wave], sample_rate=16000)[0]       # (8, T) int64   # doctest: +SKIP
>>> audio = codec.decode([codes])[0]                         # float32 at codec.output_sample_rate  # doctest: +SKIP

Importing this package is cheap: torch is imported on the first :func:`load`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ._version import __version__
from .constants import CODEBOOK_SIZE, FRAME_RATE, INPUT_SAMPLE_RATE, NUM_QUANTIZERS, SAMPLES_PER_TOKEN
from .errors import (
    AudioError,
    Cancelled,
    CheckpointError,
    ConfigError,
    TokenFileError,
    XYTokenizerError,
)

if TYPE_CHECKING:  # pragma: no cover
    from .codec import Codec

__all__ = [
    "__version__", "load", "Codec",
    "XYTokenizerError", "ConfigError", "CheckpointError", "AudioError", "TokenFileError", "Cancelled",
    "INPUT_SAMPLE_RATE", "SAMPLES_PER_TOKEN", "FRAME_RATE", "NUM_QUANTIZERS", "CODEBOOK_SIZE",
]


def load(checkpoint=None, config=None, device="auto", dtype="float32", *, trust=False) -> "Codec":
    """Load a checkpoint into a ready :class:`~xy_tokenizer.codec.Codec`.

    checkpoint: path to a ``.ckpt``/``.pt``/``.safetensors`` file; ``None`` uses the default
    model in the user data folder (see ``xytok download``).
    config: the reference YAML, or ``None`` to recognise a released variant from the weights.
    device: ``"auto"`` (cuda, then mps, then cpu), or a torch device name.
    dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"`` (the quantizer always runs in float32).
    trust: allow pickled Python objects in the checkpoint (only for files you trust).
    """
    from .codec import Codec

    return Codec.from_checkpoint(checkpoint, config=config, device=device, dtype=dtype, trust=trust)


def __getattr__(name: str):
    if name == "Codec":
        from .codec import Codec

        return Codec
    raise AttributeError(f"module 'xy_tokenizer' has no attribute {name!r}")
