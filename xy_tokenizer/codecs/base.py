"""The interface every codec family implements. Importing this module does not import torch.

A codec turns mono speech at :attr:`Codec.input_sample_rate` into integer tokens of shape
``(levels, T)`` (``T`` frames at :attr:`Codec.frame_rate` per second) and tokens back into speech
at :attr:`Codec.output_sample_rate`. RVQ families have several levels (residual codebooks, coarse
first); an FSQ family such as NeuCodec has one level whose values index a product codebook.

Work is reported per window through ``progress(done, total)`` and stopped between windows when
``cancel()`` returns true (:class:`~xy_tokenizer.errors.Cancelled` is raised).
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]

#: Quantiser kinds: residual vector quantisation (levels x T) or finite scalar quantisation.
RVQ = "rvq"
FSQ = "fsq"


class Codec(ABC):
    """A loaded speech tokenizer of some family.

    Subclasses set :attr:`family` and :attr:`quantizer_kind` and implement the abstract
    members; everything else (bitrate, sha256, description, facts for token sidecars) is
    derived here so that every family reports it the same way.
    """

    #: Family id, as in the registry (``"xy_tokenizer"``, ``"xcodec"``, ``"neucodec"``, ...).
    family: ClassVar[str] = ""
    #: :data:`RVQ` or :data:`FSQ`.
    quantizer_kind: ClassVar[str] = RVQ

    #: The released variant id (``registry.variant(...)``) or ``"<family>-custom"``.
    variant: str = ""
    #: The checkpoint file or folder this codec was loaded from (``None``: random weights).
    checkpoint_path: Path | None = None
    #: Where the network runs: a ``torch.device`` or its name (``str(codec.device)``: "cpu", "cuda:0").
    device: Any = "cpu"
    _sha256: str | None = None

    # -- facts every family gives ----------------------------------------------------------
    @property
    @abstractmethod
    def input_sample_rate(self) -> int:
        """Sample rate ``encode`` works at (inputs at other rates are resampled)."""

    @property
    @abstractmethod
    def output_sample_rate(self) -> int:
        """Sample rate of ``decode``'s output."""

    @property
    @abstractmethod
    def frame_rate(self) -> float:
        """Token frames per second of audio."""

    @property
    @abstractmethod
    def num_quantizers(self) -> int:
        """Levels of a token array: RVQ codebooks, or 1 for a single FSQ codebook."""

    @property
    @abstractmethod
    def codebook_size(self) -> int:
        """Distinct values of one token: codes are ``0 .. codebook_size - 1``."""

    @property
    @abstractmethod
    def precision(self) -> str:
        """Compute dtype name: ``"float32"``, ``"bfloat16"`` or ``"float16"``."""

    @abstractmethod
    def num_frames(self, num_samples: int) -> int:
        """Tokens ``encode`` gives for ``num_samples`` samples at :attr:`input_sample_rate`."""

    @property
    @abstractmethod
    def min_input_samples(self) -> int:
        """The shortest input (at :attr:`input_sample_rate`) that gives one token."""

    # -- work -----------------------------------------------------------------------------
    @abstractmethod
    def encode(self, wavs: Sequence[Any] | Any, sample_rate: int | None = None, *,
               progress: ProgressFn | None = None, cancel: CancelFn | None = None,
               batch_size: int | None = None, **options: Any) -> list[np.ndarray]:
        """Tokenise mono clips.

        wavs: 1-D float arrays (or a single one) at ``sample_rate`` (default: the input rate).
        options: family-specific (``overlap`` for XY-Tokenizer, ``window`` for windowed
        families, ``num_quantizers`` for RVQ families that can stop early); unknown ones raise.
        Returns one ``(num_quantizers, T)`` integer array per clip.
        """

    @abstractmethod
    def decode(self, codes_list: Sequence[Any] | Any, num_quantizers: int | None = None, *,
               progress: ProgressFn | None = None, cancel: CancelFn | None = None,
               batch_size: int | None = None, **options: Any) -> list[np.ndarray]:
        """Synthesize speech from codes.

        codes_list: ``(k, T)`` integer arrays (or a single one); the first
        ``min(k, num_quantizers)`` levels are used. Returns float32 1-D arrays at
        :attr:`output_sample_rate`, ``T * output_samples_per_token`` samples each.
        """

    @abstractmethod
    def codebooks(self) -> np.ndarray:
        """Code vectors for inspection: ``(num_quantizers, codebook_size, dim)`` float32.

        RVQ: each level's codebook. FSQ: the one product codebook (all values of the grid).
        """

    #: Names of the ``encode`` options this family takes (``overlap``, ``window``, ...).
    encode_option_names: ClassVar[tuple[str, ...]] = ()

    def check_encode_options(self, **options: Any) -> None:
        """Raise :class:`~xy_tokenizer.errors.XYTokenizerError` for options this family does not
        take or values it refuses, before any work starts. Families refine the value checks."""
        from xy_tokenizer.errors import XYTokenizerError

        unknown = sorted(k for k, v in options.items() if v is not None and k not in self.encode_option_names)
        if unknown:
            takes = ", ".join(self.encode_option_names) or "no options"
            raise XYTokenizerError(f"{self.family} does not take {', '.join(unknown)} (it takes {takes})")

    def encode_warnings(self, **options: Any) -> list[str]:
        """Warnings about options that are valid but costly (e.g. an overlap that multiplies the
        work); shown by the CLI and the studio before the work starts. None by default."""
        return []

    # -- derived ---------------------------------------------------------------------------
    @property
    def bits_per_code(self) -> float:
        return math.log2(self.codebook_size)

    @property
    def bitrate(self) -> float:
        """Bits per second at all levels."""
        return self.bitrate_at(self.num_quantizers)

    def bitrate_at(self, levels: int) -> float:
        """Bits per second when decoding with the first ``levels`` levels."""
        return levels * self.bits_per_code * self.frame_rate

    @property
    def num_parameters(self) -> int | None:
        """Learned parameters of the network, where the family counts them (None otherwise)."""
        return None

    @property
    def output_samples_per_token(self) -> int:
        """Output samples one token frame decodes to."""
        return round(self.output_sample_rate / self.frame_rate)

    @property
    def checkpoint_sha256(self) -> str | None:
        """sha256 of the checkpoint file (hashed once, on first use); None for a folder or none."""
        if self._sha256 is None and self.checkpoint_path is not None and Path(self.checkpoint_path).is_file():
            from ..io.fsutil import sha256_file

            self._sha256 = sha256_file(Path(self.checkpoint_path))
        return self._sha256

    @property
    def label(self) -> str:
        """Human name of the variant (from the registry when it is a released one)."""
        from ..registry import find_variant

        known = find_variant(self.variant)
        return known.label if known is not None else self.variant

    def describe(self) -> str:
        """One line for logs: variant, rates, bitrate, device, precision."""
        return (f"{self.variant} ({self.input_sample_rate / 1000:g} kHz -> {self.output_sample_rate / 1000:g} kHz, "
                f"{self.num_quantizers} x {self.codebook_size} at {self.frame_rate:g} Hz = "
                f"{self.bitrate / 1000:g} kbps) on {self.device}, {self.precision}")

    def facts(self) -> dict[str, Any]:
        """What a token file's sidecar records about the codec that made it."""
        return {
            "family": self.family,
            "variant": self.variant,
            "quantizer": self.quantizer_kind,
            "input_sample_rate": self.input_sample_rate,
            "output_sample_rate": self.output_sample_rate,
            "frame_rate": self.frame_rate,
            "num_quantizers": self.num_quantizers,
            "codebook_size": self.codebook_size,
        }
