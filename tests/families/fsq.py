"""A test-only FSQ codec family: one level of 65,536 codes, like NeuCodec's product codebook.

16 kHz in and out, 50 frames/s; each 320-sample frame is projected to 8 dimensions, squashed
by tanh and rounded to 4 values per dimension, so a code is a base-4 number of 8 digits
(4^8 = 65,536). ``codebooks()`` is the whole grid ``(1, 65536, 8)``. Numpy only; the weights
live in a ``.safetensors`` file with the single key ``fsq.projection`` (8, 320).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from xy_tokenizer.codecs.base import FSQ, Codec
from xy_tokenizer.codecs.spec import CheckpointSource, FamilySpec, HubFile, Variant
from xy_tokenizer.errors import AudioError, Cancelled
from xy_tokenizer.io.audio import resample
from xy_tokenizer.io.tokens import check_codes

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


class FsqCodec(Codec):
    family = "fsqtoy"
    quantizer_kind = FSQ

    def __init__(self, projection: np.ndarray, path: Path | None) -> None:
        self.projection = projection.astype(np.float32)          # (DIM, HOP)
        self.inverse = np.linalg.pinv(self.projection)            # (HOP, DIM)
        self.checkpoint_path = path
        self.variant = "fsqtoy_16k"

    input_sample_rate = property(lambda self: RATE)
    output_sample_rate = property(lambda self: RATE)
    frame_rate = property(lambda self: RATE / HOP)
    num_quantizers = property(lambda self: 1)
    codebook_size = property(lambda self: CODES)
    precision = property(lambda self: "float32")
    min_input_samples = property(lambda self: HOP)

    def num_frames(self, num_samples: int) -> int:
        return num_samples // HOP

    def encode(self, wavs: Sequence[Any] | Any, sample_rate: int | None = None, *, progress=None, cancel=None,
               batch_size=None, **options) -> list[np.ndarray]:
        self.check_encode_options(**options)
        clips = list(wavs) if isinstance(wavs, (list, tuple)) else [wavs]
        out = []
        for index, wav in enumerate(clips):
            if cancel is not None and cancel():
                raise Cancelled("cancelled by request")
            x = resample(np.asarray(wav, np.float32), sample_rate or RATE, RATE)
            if len(x) < HOP:
                raise AudioError(f"clip {index}: shorter than one frame ({HOP} samples at {RATE} Hz)")
            frames = np.tanh(4 * x[: self.num_frames(len(x)) * HOP].reshape(-1, HOP) @ self.projection.T)
            digits = np.clip(np.round((frames + 0.75) / 0.5), 0, STEPS - 1).astype(np.int64)   # (T, DIM)
            out.append((digits @ _RADIX)[None, :])
            if progress is not None:
                progress(index + 1, len(clips))
        return out

    def decode(self, codes_list: Sequence[Any] | Any, num_quantizers: int | None = None, *, progress=None,
               cancel=None, batch_size=None, **options) -> list[np.ndarray]:
        items = codes_list if isinstance(codes_list, (list, tuple)) else [codes_list]
        vectors_of = grid()
        out = []
        for index, codes in enumerate(items):
            if cancel is not None and cancel():
                raise Cancelled("cancelled by request")
            codes = check_codes(np.asarray(codes), f"codes {index}", CODES, 1)
            out.append((vectors_of[codes[0]] @ self.inverse.T * 0.1).reshape(-1).astype(np.float32))
            if progress is not None:
                progress(index + 1, len(items))
        return out

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
