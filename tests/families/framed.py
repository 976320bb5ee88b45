"""What the test-only families share: fixed-hop frames projected to a few dimensions (numpy).

A subclass sets ``family``, ``variant``, the class attributes ``RATE``, ``HOP``, ``LEVELS``,
``CODES`` and implements ``quantize(frames: (T, DIM)) -> codes (levels, T)`` and
``vectors(codes: (k, T)) -> (T, DIM)``; encode, decode, progress, cancel and validation are here.
"""
from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from xy_tokenizer.codecs.base import Codec
from xy_tokenizer.codecs.batching import as_list, walk
from xy_tokenizer.errors import AudioError
from xy_tokenizer.io.audio import resample
from xy_tokenizer.io.tokens import check_codes


class FramedCodec(Codec):
    RATE = 16000
    HOP = 320
    LEVELS = 1
    CODES = 2

    def __init__(self, projection: np.ndarray, path: Path | None) -> None:
        self.projection = projection.astype(np.float32)            # (DIM, HOP)
        self.inverse = np.linalg.pinv(self.projection)              # (HOP, DIM)
        self.checkpoint_path = path

    input_sample_rate = property(lambda self: self.RATE)
    output_sample_rate = property(lambda self: self.RATE)
    frame_rate = property(lambda self: self.RATE / self.HOP)
    num_quantizers = property(lambda self: self.LEVELS)
    codebook_size = property(lambda self: self.CODES)
    precision = property(lambda self: "float32")
    min_input_samples = property(lambda self: self.HOP)

    def num_frames(self, num_samples: int) -> int:
        return num_samples // self.HOP

    @abstractmethod
    def quantize(self, frames: np.ndarray) -> np.ndarray:
        """frames: (T, DIM) -> codes (LEVELS, T) int64."""

    @abstractmethod
    def vectors(self, codes: np.ndarray) -> np.ndarray:
        """codes: (k, T) -> the frames they stand for, (T, DIM)."""

    def encode(self, wavs: Sequence[Any] | Any, sample_rate: int | None = None, *, progress=None, cancel=None,
               batch_size=None, **options) -> list[np.ndarray]:
        self.check_encode_options(**options)
        out = []
        for (index, wav), in walk([[item] for item in enumerate(as_list(wavs))], progress, cancel):
            x = resample(np.asarray(wav, np.float32), sample_rate or self.RATE, self.RATE)
            if len(x) < self.HOP:
                raise AudioError(f"clip {index}: shorter than one frame ({self.HOP} samples at {self.RATE} Hz)")
            frames = x[: self.num_frames(len(x)) * self.HOP].reshape(-1, self.HOP) @ self.projection.T
            out.append(self.quantize(frames))
        return out

    def decode(self, codes_list: Sequence[Any] | Any, num_quantizers: int | None = None, *, progress=None,
               cancel=None, batch_size=None, **options) -> list[np.ndarray]:
        out = []
        for (index, codes), in walk([[item] for item in enumerate(as_list(codes_list))], progress, cancel):
            codes = check_codes(np.asarray(codes), f"codes {index}", self.CODES, self.LEVELS)
            codes = codes[:num_quantizers or self.LEVELS]
            out.append((self.vectors(codes) @ self.inverse.T).reshape(-1).astype(np.float32))
        return out
