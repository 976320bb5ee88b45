"""The codec users call: windowed, batched encode/decode with progress and cancel.

Encode follows the reference's windowing (30 s windows every ``30 - overlap`` seconds, the
first ``step / 1280`` tokens of each kept) but pads each window only as far as exactness
needs (a multiple of 1280 samples with at least 1280 zeros after the longest clip of the
batch, never beyond 30 s), and batches windows of similar length together. Tokens do not
depend on batch company.

Decode follows the reference's windowing (375-token windows every 250 tokens, the first 250
tokens' audio of each kept). By default every window is decoded as if alone (windows are
batched only with windows of the same length), so a clip's audio does not depend on its batch
company either. ``lockstep=True`` reproduces the reference's batch walk instead (all clips of
a batch padded to the longest window), whose last ~10 ms of each clip depend on the batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from xy_tokenizer.codecs.base import CancelFn, Codec, ProgressFn
from xy_tokenizer.codecs.batching import as_list, walk
from xy_tokenizer.codecs.runtime import pick_device, pick_dtype
from xy_tokenizer.codecs.xy.config import ModelConfig
from xy_tokenizer.codecs.xy.constants import (
    DECODE_WINDOW_TOKENS,
    DEFAULT_OVERLAP_SECONDS,
    FRAME_RATE,
    INPUT_SAMPLE_RATE,
    SAMPLES_PER_TOKEN,
    WINDOW_SAMPLES,
)
from xy_tokenizer.io.audio import resample
from xy_tokenizer.errors import AudioError, XYTokenizerError
from xy_tokenizer.codecs.xy.model import XYTokenizerModel
from xy_tokenizer.io.tokens import check_codes
from xy_tokenizer.codecs.xy.windowing import encode_step, overlap_cost_warning


#: Tokens kept from each decode window (the reference's 250 = 20 s).
DECODE_STEP_TOKENS = 250
#: Windows of similar length share a batch while padding adds at most this fraction.
BUCKET_SLACK = 0.15
DEFAULT_BATCH_SIZE = 8


@dataclass
class _Window:
    clip: int          # index of the clip in the call
    offset: int        # first output position (token index) this window fills
    keep: int          # tokens this window contributes
    data: np.ndarray   # encode: samples (S,); decode: codes (k, T)

    @property
    def length(self) -> int:
        return self.data.shape[-1]


class XYTokenizerCodec(Codec):
    """A loaded XY-Tokenizer: ``encode`` audio to codes and ``decode`` codes to audio."""

    family = "xy_tokenizer"
    encode_option_names = ("overlap",)
    #: Decode windows for streamed decodes (jobs.runner.decode_stream): (step kept, lookahead) tokens.
    decode_stream_tokens = (DECODE_STEP_TOKENS, DECODE_WINDOW_TOKENS - DECODE_STEP_TOKENS)

    def __init__(self, model: XYTokenizerModel, *, device: torch.device, dtype: torch.dtype,
                 checkpoint_path: Path | None = None) -> None:
        self.model = model
        self.config: ModelConfig = model.config
        self.device = device
        self.dtype = dtype
        self.checkpoint_path = checkpoint_path
        self.variant = self.config.variant_name()

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path | None = None, config: str | Path | ModelConfig | None = None,
                        device: str | torch.device = "auto", dtype: str | torch.dtype = "float32",
                        *, trust: bool = False) -> "XYTokenizerCodec":
        """Load a checkpoint (``None``: the installed default model)."""
        from xy_tokenizer.errors import CheckpointError
        from xy_tokenizer.io.paths import find_default_checkpoint

        if checkpoint is None:
            checkpoint = find_default_checkpoint()
            if checkpoint is None:
                raise CheckpointError(
                    "no model installed: run `xytok download` (or the studio's Download...), "
                    "or pass a checkpoint file"
                )
        dev, dt = pick_device(device), pick_dtype(dtype)
        model = XYTokenizerModel.from_checkpoint(checkpoint, config, trust=trust)
        return cls._ready(model, dev, dt, Path(checkpoint))

    @classmethod
    def from_config(cls, config: str | Path | ModelConfig, device: str | torch.device = "auto",
                    dtype: str | torch.dtype = "float32") -> "XYTokenizerCodec":
        """A codec with random weights (benchmarks, tests)."""
        return cls._ready(XYTokenizerModel.from_config(config), pick_device(device), pick_dtype(dtype), None)

    @classmethod
    def _ready(cls, model: XYTokenizerModel, device: torch.device, dtype: torch.dtype,
               path: Path | None) -> "XYTokenizerCodec":
        model.set_dtype(dtype)
        model.to(device)
        return cls(model, device=device, dtype=dtype, checkpoint_path=path)

    # -- facts ----------------------------------------------------------------------------
    @property
    def input_sample_rate(self) -> int:
        return self.config.input_sample_rate

    @property
    def output_sample_rate(self) -> int:
        return self.config.output_sample_rate

    @property
    def output_samples_per_token(self) -> int:
        return self.config.decoder_upsample_rate

    @property
    def frame_rate(self) -> float:
        return FRAME_RATE

    @property
    def num_quantizers(self) -> int:
        return self.config.num_quantizers

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    @property
    def num_parameters(self) -> int:
        """Learned parameters (positions and codebooks are buffers, as in the reference)."""
        return sum(p.numel() for p in self.model.parameters())

    def codebooks(self) -> np.ndarray:
        """Code vectors of every level: ``(num_quantizers, codebook_size, dim)`` float32."""
        return np.stack([q.codebook.float().cpu().numpy() for q in self.model.quantizer.quantizers])

    @property
    def precision(self) -> str:
        """The compute dtype's name: ``"float32"``, ``"bfloat16"`` or ``"float16"``."""
        return str(self.dtype).removeprefix("torch.")

    def num_frames(self, num_samples: int) -> int:
        """``S // 1280`` tokens for ``S`` samples at 16 kHz (the tail shorter than a token is dropped)."""
        return num_samples // SAMPLES_PER_TOKEN

    @property
    def min_input_samples(self) -> int:
        return SAMPLES_PER_TOKEN

    def check_encode_options(self, **options) -> None:
        """``overlap`` (seconds) must keep the window step a whole number of tokens."""
        super().check_encode_options(**options)
        if options.get("overlap") is not None:
            encode_step(options["overlap"])

    def encode_warnings(self, **options) -> list[str]:
        """A large ``overlap`` multiplies the encoder's work: say so."""
        warning = overlap_cost_warning(options.get("overlap"))
        return [] if warning is None else [warning]

    # -- encode -----------------------------------------------------------------------------
    def encode(self, wavs: Sequence[np.ndarray | torch.Tensor] | np.ndarray | torch.Tensor,
               sample_rate: int | None = None, *, overlap: float | None = None,
               batch_size: int | None = None, progress: ProgressFn | None = None,
               cancel: CancelFn | None = None, pad_to_window: bool = False) -> list[np.ndarray]:
        """Tokenise mono clips.

        wavs: 1-D arrays (a single 1-D array is taken as a list of one) at ``sample_rate``.
        Returns one ``(num_quantizers, T)`` int64 array per clip, ``T = S16k // 1280``.
        ``pad_to_window=True`` pads every window to 30 s as the reference does (same tokens,
        slower; for benchmarks).
        """
        rate = INPUT_SAMPLE_RATE if sample_rate is None else sample_rate
        clips = [self._prepare(w, rate, i) for i, w in enumerate(as_list(wavs))]
        step = encode_step(DEFAULT_OVERLAP_SECONDS if overlap is None else overlap)
        step_tokens = step // SAMPLES_PER_TOKEN
        windows: list[_Window] = []
        out = []
        for i, clip in enumerate(clips):
            total = len(clip) // SAMPLES_PER_TOKEN
            out.append(np.zeros((self.num_quantizers, total), dtype=np.int64))
            for w, start in enumerate(range(0, len(clip), step)):
                offset = w * step_tokens
                keep = min(step_tokens, total - offset)
                if keep > 0:
                    windows.append(_Window(i, offset, keep, clip[start:start + WINDOW_SAMPLES]))
        batches = _bucket(windows, batch_size or DEFAULT_BATCH_SIZE, exact_length=False)
        for batch in walk(batches, progress, cancel):
            pad = WINDOW_SAMPLES if pad_to_window else _encode_padding(max(w.length for w in batch))
            wave = np.zeros((len(batch), pad), dtype=np.float32)
            for b, w in enumerate(batch):
                wave[b, : w.length] = w.data
            lengths = torch.tensor([w.length for w in batch], device=self.device)
            codes, _ = self.model.encode_window(torch.from_numpy(wave).to(self.device), lengths)
            codes = codes.cpu().numpy()
            for b, w in enumerate(batch):
                out[w.clip][:, w.offset:w.offset + w.keep] = codes[:, b, : w.keep]
        return out

    def _prepare(self, wav: np.ndarray | torch.Tensor, sample_rate: int, index: int) -> np.ndarray:
        if isinstance(wav, torch.Tensor):
            wav = wav.detach().cpu().float().numpy()
        x = np.asarray(wav, dtype=np.float32)
        if x.ndim == 2 and 1 in x.shape:
            x = x.reshape(-1)
        if x.ndim != 1:
            raise AudioError(f"clip {index}: expected mono 1-D samples, got shape {x.shape}; mix channels down first")
        if not np.isfinite(x).all():
            raise AudioError(f"clip {index}: contains NaN or infinite samples")
        if sample_rate != self.input_sample_rate:
            x = resample(x, sample_rate, self.input_sample_rate)
        if len(x) < SAMPLES_PER_TOKEN:
            raise AudioError(
                f"clip {index}: {len(x) / self.input_sample_rate:.3f} s is shorter than one token; "
                f"XY-Tokenizer needs at least {SAMPLES_PER_TOKEN / self.input_sample_rate:.2f} s "
                f"({SAMPLES_PER_TOKEN} samples at {self.input_sample_rate} Hz)"
            )
        return x

    # -- decode -----------------------------------------------------------------------------
    def decode(self, codes_list: Sequence[np.ndarray | torch.Tensor] | np.ndarray | torch.Tensor,
               num_quantizers: int | None = None, *, batch_size: int | None = None,
               progress: ProgressFn | None = None, cancel: CancelFn | None = None,
               lockstep: bool = False) -> list[np.ndarray]:
        """Synthesize speech from codes.

        codes_list: ``(k, T)`` integer arrays (a single 2-D array is taken as a list of one);
        the first ``min(k, num_quantizers)`` levels are used. Returns float32 1-D arrays at
        :attr:`output_sample_rate`, ``T * output_samples_per_token`` samples each.
        """
        items = codes_list if isinstance(codes_list, (list, tuple)) else [codes_list]
        clips = [self._check_codes(c, i, num_quantizers) for i, c in enumerate(items)]
        spt = self.output_samples_per_token
        out = [np.zeros(c.shape[1] * spt, dtype=np.float32) for c in clips]
        windows = [
            _Window(i, start, min(DECODE_STEP_TOKENS, c.shape[1] - start), c[:, start:start + DECODE_WINDOW_TOKENS])
            for i, c in enumerate(clips) for start in range(0, c.shape[1], DECODE_STEP_TOKENS)
        ]
        size = batch_size or DEFAULT_BATCH_SIZE
        if lockstep:
            batches = [[w for w in windows if w.clip in group and w.offset == off]
                       for group in _chunks(range(len(clips)), size)
                       for off in sorted({w.offset for w in windows if w.clip in group})]
        else:
            batches = _bucket(windows, size, exact_length=True)
        for batch in walk(batches, progress, cancel):
            k = batch[0].data.shape[0]
            pad = max(w.length for w in batch)
            codes = np.zeros((k, len(batch), pad), dtype=np.int64)
            for b, w in enumerate(batch):
                codes[:, b, : w.length] = w.data
            lengths = torch.tensor([w.length for w in batch], device=self.device)
            audio = self.model.decode_window(torch.from_numpy(codes).to(self.device), lengths).cpu().numpy()
            for b, w in enumerate(batch):
                out[w.clip][w.offset * spt:(w.offset + w.keep) * spt] = audio[b, : w.keep * spt]
        return out

    def _check_codes(self, codes: np.ndarray | torch.Tensor, index: int, num_quantizers: int | None) -> np.ndarray:
        if isinstance(codes, torch.Tensor):
            codes = codes.detach().cpu().numpy()
        codes = check_codes(np.asarray(codes), f"codes {index}", self.codebook_size, self.num_quantizers)
        if num_quantizers is not None:
            if not 1 <= num_quantizers <= self.num_quantizers:
                raise XYTokenizerError(f"num_quantizers must be 1..{self.num_quantizers}, got {num_quantizers}")
            codes = codes[:num_quantizers]
        return codes

def _chunks(seq: Sequence[int], size: int) -> list[set[int]]:
    seq = list(seq)
    return [set(seq[i:i + size]) for i in range(0, len(seq), size)]


def _encode_padding(longest: int) -> int:
    """Smallest multiple of 1280 leaving >= 1280 zeros after ``longest``, at most 30 s."""
    return min(WINDOW_SAMPLES, (longest // SAMPLES_PER_TOKEN + 2) * SAMPLES_PER_TOKEN)


def _bucket(windows: list[_Window], size: int, *, exact_length: bool) -> list[list[_Window]]:
    """Group windows, longest first, into batches of at most ``size``.

    ``exact_length``: only equal lengths share a batch; otherwise a window joins while the
    padding it causes stays within :data:`BUCKET_SLACK` of the useful work.
    """
    if size < 1:
        raise XYTokenizerError(f"batch size must be at least 1, got {size}")
    batches: list[list[_Window]] = []
    for w in sorted(windows, key=lambda w: (-w.length, w.clip, w.offset)):
        if batches and len(batches[-1]) < size:
            head = batches[-1][0].length
            useful = sum(x.length for x in batches[-1]) + w.length
            fits = w.length == head if exact_length else (len(batches[-1]) + 1) * head <= (1 + BUCKET_SLACK) * useful
            if fits:
                batches[-1].append(w)
                continue
        batches.append([w])
    return batches

