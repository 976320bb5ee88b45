"""A test-only FSQ codec family: one level of 65,536 codes, like NeuCodec's product codebook.

16 kHz in and out, 50 frames/s; each 320-sample frame is projected to 8 dimensions, squashed
by tanh and rounded to 4 values per dimension, so a code is a base-4 number of 8 digits
(4^8 = 65,536). ``codebooks()`` is the whole grid ``(1, 65536, 8)``. Numpy only; the weights
live in a ``.safetensors`` file with the single key ``fsq.projection`` (8, 320).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.families.framed import FramedCodec
from xy_tokenizer.codecs.base import FSQ
from xy_tokenizer.codecs.spec import CheckpointSource, FamilySpec, HubFile, Variant

RATE = 16000
HOP = 320
DIM = 8
STEPS = 4
CODES = STEPS ** DIM            # 65,536
KEY = "fsq.projection"

FAMILY = FamilySpec(
    name="fsqtoy", label="Toy FSQ", loader=__name__,
    description="A test-only family: 1 level x 65,536 codes at 50 Hz.",
    variants=(Variant(id="fsqtoy_16k", family="fsqtoy", label="Toy FSQ, 16 kHz", aliases=("fsqtoy",),
                      files=(HubFile("test/fsqtoy", "fsq.safetensors"),), input_sample_rate=RATE,
                      output_sample_rate=RATE, frame_rate=RATE / HOP, num_quantizers=1,
                      codebook_size=CODES, licence="test-only"),),
)

#: Grid values of one dimension, and the weight of each dimension's digit in a code.
_VALUES = np.linspace(-0.75, 0.75, STEPS).astype(np.float32)
_RADIX = STEPS ** np.arange(DIM)


def grid() -> np.ndarray:
    """Every code's vector: (65536, 8) float32, row c = the digits of c in base 4, as values."""
    digits = (np.arange(CODES)[:, None] // _RADIX[None, :]) % STEPS
    return _VALUES[digits]


class FsqCodec(FramedCodec):
    family = "fsqtoy"
    quantizer_kind = FSQ
    RATE, HOP, LEVELS, CODES = RATE, HOP, 1, CODES

    def __init__(self, projection: np.ndarray, path: Path | None) -> None:
        super().__init__(projection, path)
        self.variant = "fsqtoy_16k"

    def quantize(self, frames: np.ndarray) -> np.ndarray:
        """tanh-bounded, rounded to 4 steps per dimension; the code is the base-4 number of the digits."""
        digits = np.clip(np.round((np.tanh(4 * frames) + 0.75) / 0.5), 0, STEPS - 1).astype(np.int64)   # (T, DIM)
        return (digits @ _RADIX)[None, :]

    def vectors(self, codes: np.ndarray) -> np.ndarray:
        return grid()[codes[0]] * 0.1

    def codebooks(self) -> np.ndarray:
        return grid()[None]


def recognise(source: CheckpointSource) -> str | None:
    shapes = {k: tuple(v.shape) for k, v in source.state.items()}
    return "fsqtoy_16k" if shapes == {KEY: (DIM, HOP)} else None


def load(source: CheckpointSource, *, variant: str, config=None, semantic_model=None, device="auto",
         dtype="float32") -> FsqCodec:
    return FsqCodec(source.state[KEY].numpy(), source.path)


def from_variant(variant: str, *, device="auto", dtype="float32", seed: int = 0) -> FsqCodec:
    return FsqCodec(random_projection(seed), None)


def random_projection(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((DIM, HOP)).astype(np.float32) / np.sqrt(HOP)


def save_checkpoint(path: Path, seed: int = 0) -> Path:
    from safetensors.numpy import save_file

    save_file({KEY: random_projection(seed)}, str(path))
    return path
