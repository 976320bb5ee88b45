"""A toy codec family defined entirely in the tests, to prove that a new family needs nothing
outside the registry: 8 kHz in and out, 25 frames/s, 2 RVQ levels x 16 codes over a 4-D
projection of each 320-sample frame. Numpy only; the weights live in a ``.safetensors`` file
with the keys ``toy.projection`` (4, 320) and ``toy.codebooks`` (2, 16, 4).

This module is both the family package (``FAMILY``) and its loader (``recognise``, ``load``,
``from_variant``), as :class:`xy_tokenizer.codecs.spec.FamilySpec` allows.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.families.framed import FramedCodec
from xy_tokenizer.codecs.spec import CheckpointSource, FamilySpec, HubFile, Variant

RATE = 8000
HOP = 320
DIM = 4
LEVELS = 2
CODES = 16
KEYS = {"toy.projection": (DIM, HOP), "toy.codebooks": (LEVELS, CODES, DIM)}

FAMILY = FamilySpec(
    name="toy", label="Toy RVQ", loader=__name__,
    description="A test-only family: 2 x 16 codes at 25 Hz.",
    variants=(Variant(id="toy_rvq_8k", family="toy", label="Toy RVQ, 8 kHz", aliases=("toy",),
                      files=(HubFile("test/toy", "toy.safetensors"),), input_sample_rate=RATE,
                      output_sample_rate=RATE, frame_rate=RATE / HOP, num_quantizers=LEVELS,
                      codebook_size=CODES, licence="test-only"),),
)


class ToyCodec(FramedCodec):
    family = "toy"
    RATE, HOP, LEVELS, CODES = RATE, HOP, LEVELS, CODES

    def __init__(self, projection: np.ndarray, codebooks: np.ndarray, path: Path | None) -> None:
        super().__init__(projection, path)
        self.codebook_vectors = codebooks.astype(np.float32)       # (LEVELS, CODES, DIM)
        self.variant = "toy_rvq_8k"

    def quantize(self, frames: np.ndarray) -> np.ndarray:
        """Residual VQ: per level the nearest code of what the levels before left."""
        residual, codes = frames, np.zeros((LEVELS, len(frames)), np.int64)
        for level in range(LEVELS):
            book = self.codebook_vectors[level]
            codes[level] = np.argmin(((residual[:, None, :] - book[None]) ** 2).sum(-1), axis=1)
            residual = residual - book[codes[level]]
        return codes

    def vectors(self, codes: np.ndarray) -> np.ndarray:
        return sum(self.codebook_vectors[level][codes[level]] for level in range(codes.shape[0]))

    def codebooks(self) -> np.ndarray:
        return self.codebook_vectors.copy()


def recognise(source: CheckpointSource) -> str | None:
    shapes = {k: tuple(v.shape) for k, v in source.state.items()}
    return "toy_rvq_8k" if shapes == KEYS else None


def load(source: CheckpointSource, *, variant: str, config=None, semantic_model=None, device="auto",
         dtype="float32") -> ToyCodec:
    return ToyCodec(source.state["toy.projection"].numpy(), source.state["toy.codebooks"].numpy(), source.path)


def random_weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"toy.projection": rng.standard_normal((DIM, HOP)).astype(np.float32) / np.sqrt(HOP),
            "toy.codebooks": rng.standard_normal((LEVELS, CODES, DIM)).astype(np.float32) * 0.05}


def from_variant(variant: str, *, device="auto", dtype="float32", seed: int = 0) -> ToyCodec:
    weights = random_weights(seed)
    return ToyCodec(weights["toy.projection"], weights["toy.codebooks"], None)


def save_checkpoint(path: Path, seed: int = 0) -> Path:
    from safetensors.numpy import save_file

    save_file(random_weights(seed), str(path))
    return path
