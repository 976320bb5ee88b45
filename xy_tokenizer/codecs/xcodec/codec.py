"""The X-Codec :class:`~xy_tokenizer.codecs.base.Codec`: windowed, batch-independent encode/decode.

Frames. A clip of ``S`` samples at 16 kHz gives ``T = floor((S + 240) / 320)`` frames, as the
reference: the semantic model sees the clip zero-padded 160 samples each side; the acoustic
encoder sees the raw clip, or the same padded clip when ``S mod 320`` is in 80..311 (the
reference's re-pad rule, which makes both branches give ``T`` frames). Decode gives ``320 T``
samples (not trimmed to ``S``). Inputs shorter than 312 samples are refused. As the model's own
``encode`` (the fixtures' reference), samples are not rescaled: the reference's ``inference.py``
multiplies them by ``audio_norm_scale`` (0.95) first; callers wanting its tokens do the same.

Batching. The reference has no padding masks: in a mixed-length batch the zeros of shorter
clips enter the semantic attention and the convs of longer ones, and a batch that needs the
re-pad crashes. Here only windows of *equal length* share a batch (longest first), so every
clip is computed exactly as alone; the codebook search runs in float32 whatever the compute
dtype.

Long audio (encode). A clip of at most ``window`` seconds (default 30 s) is encoded in one
pass: exactly the reference's tokens. A longer clip is cut into windows of ``window`` seconds
starting every ``window - overlap`` seconds (default overlap 4 s; both rounded to whole
frames, the overlap to an even number of frames); each window keeps the tokens of its middle:
all but the first ``overlap / 2`` (except the first window) and all after ``window - overlap / 2``
(except the last window). Memory is then bounded by one window's work. The seams are not
token-compatible with a whole-clip encode: the semantic model attends over its whole input
and the acoustic convs reach about 25 frames across a cut. Measured on the xcodec-tiny
fixture's 12.3 s clip 2 (``tests/test_xcodec_windowing.py``): with 3 s windows and 1 s overlap,
42.0 % of level-0 tokens and 9.9 % of all tokens equal the whole-clip encode; with 10 s windows
and 4 s overlap, 72.6 % and 29.6 %. Those mismatches are spread over every window, not only the
seams, because the fixture's random-weight attention is nearly uniform (each token depends on
its whole window): read them as a floor, not an estimate for trained checkpoints, which were not
available to measure. The inner windows are never re-padded (their length is a multiple of
320), so for clips whose length needs the re-pad only the last window is half-hop aligned as
in the reference.

Long audio (decode). Decoding is convolutional (no attention); its reach is between 8 and 16
frames each side (8 frames of context leave 7 % of the peak in error, 16 frames 7e-6). Codes are decoded in windows of ``window`` seconds every ``window -
overlap`` seconds (defaults 30 s and 1.28 s = 32 frames of context each side) and each window's
middle is kept, so the result equals a whole-clip decode up to float rounding (tested).

Progress is reported per window (``progress(done, total)`` after each batch) and ``cancel()``
is checked before every batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from xy_tokenizer.io.audio import resample
from xy_tokenizer.errors import AudioError, XYTokenizerError
from xy_tokenizer.io.tokens import check_codes

from ..base import RVQ, CancelFn, Codec, ProgressFn
from ..batching import as_list, walk
from .model import HOP, MIN_INPUT_SAMPLES, SAMPLE_RATE, XCodecNetwork

#: Encode windows: length and overlap in seconds (clips up to the window are encoded whole).
DEFAULT_WINDOW_SECONDS = 30.0
DEFAULT_OVERLAP_SECONDS = 4.0
#: Decode windows: length, and the overlap giving 32 frames of context on each side.
DEFAULT_DECODE_WINDOW_SECONDS = 30.0
DEFAULT_DECODE_OVERLAP_SECONDS = 1.28
#: Windows per forward pass. Full size, float32, CPU: a 10-minute input peaked at 4.6 GB RSS
#: (about 0.8 GB per 30 s window in the batch on top of 1.5 GB for the model; a 1-minute input,
#: two full windows in one batch, 2.6 GB): memory grows with the batch, not the clip length.
DEFAULT_BATCH_SIZE = 4
FRAME_RATE = SAMPLE_RATE / HOP
#: T = floor((S + FRAME_OFFSET) / HOP): the semantic model's 400-sample receptive field, hop 320,
#: over the clip padded 160 samples each side gives floor((S + 320 - 400) / 320) + 1 frames.
FRAME_OFFSET = 240
_FRAME_SECONDS = HOP / SAMPLE_RATE


def frames_for(num_samples: int) -> int:
    """Frames of a clip of ``num_samples`` at 16 kHz: ``floor((S + 240) / 320)``, 0 below 312."""
    if num_samples < MIN_INPUT_SAMPLES:
        return 0
    return (num_samples + FRAME_OFFSET) // HOP


@dataclass
class _Window:
    clip: int          # index of the clip in the call
    start: int         # first frame of the window in the clip
    frames: int        # frames the window computes
    keep_from: int     # first frame (window-local) kept
    keep_to: int       # end frame (window-local, exclusive) kept
    data: np.ndarray   # encode: samples (L,); decode: codes (k, frames)

    @property
    def length(self) -> int:
        return self.data.shape[-1]


def plan_windows(total: int, window: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """``(start, frames, keep_from, keep_to)`` per window over ``total`` frames.

    One window when ``total <= window``; otherwise windows every ``window - overlap`` frames,
    each keeping its middle ``window - overlap`` frames (the first from 0, the last to its end).
    ``overlap`` must be even and below ``window``.
    """
    if total <= window:
        return [(0, total, 0, total)]
    step, half = window - overlap, overlap // 2
    out = []
    start = 0
    while True:
        last = start + window >= total
        frames = total - start if last else window
        out.append((start, frames, 0 if start == 0 else half, frames if last else step + half))
        if last:
            return out
        start += step


def _frames(seconds: float, what: str) -> int:
    if not np.isfinite(seconds) or seconds < 0:
        raise XYTokenizerError(f"{what} must be a non-negative number of seconds, got {seconds!r}")
    return int(round(seconds / _FRAME_SECONDS))


def _window_frames(window: float | None, overlap: float | None, default_window: float,
                   default_overlap: float, *, need_overlap: bool) -> tuple[int, int]:
    w = _frames(default_window if window is None else window, "window")
    o = _frames(default_overlap if overlap is None else overlap, "overlap")
    o += o % 2
    if need_overlap and o < 2:
        o = 2
    if w < 50:
        raise XYTokenizerError(f"window must be at least 1 s, got {window} s")
    if o * 2 > w:
        raise XYTokenizerError(f"overlap ({o * _FRAME_SECONDS:g} s) must be at most half the window "
                               f"({w * _FRAME_SECONDS:g} s); use a longer window or a shorter overlap")
    return w, o


class XCodec(Codec):
    """A loaded X-Codec: ``encode`` 16 kHz mono to ``(levels, T)`` codes, ``decode`` back."""

    family = "xcodec"
    quantizer_kind = RVQ

    def __init__(self, net: XCodecNetwork, *, device: torch.device, dtype: torch.dtype, variant: str,
                 checkpoint_path: Path | None = None) -> None:
        self.net = net
        self._device = device
        self._dtype = dtype
        self.variant = variant
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self._sha256 = None

    @classmethod
    def ready(cls, net: XCodecNetwork, *, device: torch.device, dtype: torch.dtype, variant: str,
              checkpoint_path: Path | None) -> "XCodec":
        """Move a loaded network to ``device`` in ``dtype`` (codebooks stay float32)."""
        net.set_dtype(dtype)
        net.to(device)
        net.eval()
        return cls(net, device=device, dtype=dtype, variant=variant, checkpoint_path=checkpoint_path)

    # -- facts ------------------------------------------------------------------------------------
    @property
    def input_sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def output_sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def frame_rate(self) -> float:
        return FRAME_RATE

    @property
    def num_quantizers(self) -> int:
        return self.net.dims.num_quantizers

    @property
    def codebook_size(self) -> int:
        return self.net.dims.codebook_size

    @property
    def device(self) -> str:
        return str(self._device)

    @property
    def precision(self) -> str:
        return str(self._dtype).removeprefix("torch.")

    @property
    def min_input_samples(self) -> int:
        return MIN_INPUT_SAMPLES

    def num_frames(self, num_samples: int) -> int:
        """``floor((S + 240) / 320)`` for ``S >= 312``, else 0."""
        return frames_for(num_samples)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def codebooks(self) -> np.ndarray:
        """``(num_quantizers, codebook_size, D + S)`` float32 (1024 x 1024 per level at full size)."""
        return self.net.codebook_tensor().cpu().numpy()

    # -- encode -------------------------------------------------------------------------------------
    def encode(self, wavs: Sequence[Any] | Any, sample_rate: int | None = None, *,
               progress: ProgressFn | None = None, cancel: CancelFn | None = None,
               batch_size: int | None = None, num_quantizers: int | None = None,
               window: float | None = None, overlap: float | None = None, **options: Any) -> list[np.ndarray]:
        """Tokenise mono clips.

        wavs: 1-D float arrays (or one) at ``sample_rate`` (default 16 kHz; others are
        resampled). num_quantizers: levels to compute (1..8, default 8 = 4 kbps). window,
        overlap: seconds (module docstring; the window is at least 1 s, the overlap at least
        2 frames = 40 ms and at most half the window). Returns one ``(levels, T)`` int64 array per clip,
        ``T = floor((S16k + 240) / 320)``.
        """
        _no_options(options)
        levels = self._levels(num_quantizers)
        win, ovl = _window_frames(window, overlap, DEFAULT_WINDOW_SECONDS, DEFAULT_OVERLAP_SECONDS, need_overlap=True)
        rate = SAMPLE_RATE if sample_rate is None else int(sample_rate)
        clips = [self._prepare(w, rate, i) for i, w in enumerate(as_list(wavs))]
        out, windows = [], []
        for i, clip in enumerate(clips):
            total = frames_for(len(clip))
            out.append(np.zeros((levels, total), dtype=np.int64))
            for start, frames, a, b in plan_windows(total, win, ovl):
                last = start + frames == total
                end = len(clip) if last else (start + frames) * HOP
                windows.append(_Window(i, start, frames, a, b, clip[start * HOP:end]))
        for batch in walk(_equal_length_batches(windows, batch_size), progress, cancel):
            wave = torch.from_numpy(np.stack([w.data for w in batch])).to(self._device)
            with torch.inference_mode():
                codes = self.net.quantize(self.net.latent(wave), levels).cpu().numpy()
            for b, w in enumerate(batch):
                if codes.shape[-1] != w.frames:
                    raise XYTokenizerError(f"clip {w.clip}: the model gave {codes.shape[-1]} frames for a window "
                                           f"of {w.length} samples, expected {w.frames}")
                out[w.clip][:, w.start + w.keep_from:w.start + w.keep_to] = codes[:, b, w.keep_from:w.keep_to]
        return out

    def _prepare(self, wav: Any, sample_rate: int, index: int) -> np.ndarray:
        if isinstance(wav, torch.Tensor):
            wav = wav.detach().cpu().float().numpy()
        x = np.asarray(wav, dtype=np.float32)
        if x.ndim != 1:
            raise AudioError(f"clip {index}: expected mono 1-D samples, got shape {x.shape}; mix channels down first")
        if not np.isfinite(x).all():
            raise AudioError(f"clip {index}: contains NaN or infinite samples")
        if sample_rate <= 0:
            raise AudioError(f"clip {index}: sample rate must be positive, got {sample_rate}")
        if sample_rate != SAMPLE_RATE:
            x = resample(x, sample_rate, SAMPLE_RATE)
        if len(x) < MIN_INPUT_SAMPLES:
            raise AudioError(
                f"clip {index}: {len(x)} samples ({len(x) / SAMPLE_RATE * 1000:.1f} ms at 16 kHz) is too short; "
                f"X-Codec needs at least {MIN_INPUT_SAMPLES} samples ({MIN_INPUT_SAMPLES / SAMPLE_RATE * 1000:.1f} ms)"
            )
        return np.ascontiguousarray(x)

    # -- decode ---------------------------------------------------------------------------------------
    def decode(self, codes_list: Sequence[Any] | Any, num_quantizers: int | None = None, *,
               progress: ProgressFn | None = None, cancel: CancelFn | None = None,
               batch_size: int | None = None, window: float | None = None,
               overlap: float | None = None, **options: Any) -> list[np.ndarray]:
        """Synthesize speech from codes.

        codes_list: ``(k, T)`` integer arrays (or one); the first ``min(k, num_quantizers)``
        levels are summed (absent levels add nothing). Returns float32 ``(320 T,)`` arrays at
        16 kHz. window, overlap: seconds of codes per pass and between passes (module docstring).
        """
        _no_options(options)
        limit = self._levels(num_quantizers)
        win, ovl = _window_frames(window, overlap, DEFAULT_DECODE_WINDOW_SECONDS, DEFAULT_DECODE_OVERLAP_SECONDS,
                                  need_overlap=False)
        items = codes_list if isinstance(codes_list, (list, tuple)) else [codes_list]
        clips = []
        for i, c in enumerate(items):
            if isinstance(c, torch.Tensor):
                c = c.detach().cpu().numpy()
            c = check_codes(np.asarray(c), f"codes {i}", self.codebook_size, self.num_quantizers)
            clips.append(c[:limit])
        out = [np.zeros(c.shape[1] * HOP, dtype=np.float32) for c in clips]
        windows = [_Window(i, s, n, a, b, c[:, s:s + n])
                   for i, c in enumerate(clips) for s, n, a, b in plan_windows(c.shape[1], win, ovl)]
        for batch in walk(_equal_length_batches(windows, batch_size, by_levels=True), progress, cancel):
            codes = torch.from_numpy(np.stack([w.data for w in batch], axis=1)).to(self._device)  # (k, B, T)
            with torch.inference_mode():
                audio = self.net.decode_latent(self.net.dequantize(codes)).cpu().numpy()
            for b, w in enumerate(batch):
                out[w.clip][(w.start + w.keep_from) * HOP:(w.start + w.keep_to) * HOP] = \
                    audio[b, w.keep_from * HOP:w.keep_to * HOP]
        return out

    # -- shared ---------------------------------------------------------------------------------------
    def _levels(self, num_quantizers: int | None) -> int:
        if num_quantizers is None:
            return self.num_quantizers
        if not isinstance(num_quantizers, (int, np.integer)) or not 1 <= num_quantizers <= self.num_quantizers:
            raise XYTokenizerError(f"num_quantizers must be 1..{self.num_quantizers}, got {num_quantizers!r}")
        return int(num_quantizers)



def _no_options(options: dict) -> None:
    if options:
        raise XYTokenizerError(f"unknown X-Codec option(s): {', '.join(sorted(options))}; "
                               "known: num_quantizers, window, overlap, batch_size")


def _equal_length_batches(windows: list[_Window], size: int | None, *, by_levels: bool = False) -> list[list[_Window]]:
    """Windows grouped by exact length (and level count), longest first, at most ``size`` each."""
    size = DEFAULT_BATCH_SIZE if size is None else size
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise XYTokenizerError(f"batch size must be at least 1, got {size!r}")
    groups: dict[tuple[int, int], list[_Window]] = {}
    for w in windows:
        key = (w.length, w.data.shape[0] if by_levels else 0)
        groups.setdefault(key, []).append(w)
    batches = []
    for key in sorted(groups, key=lambda k: (-k[0], -k[1])):
        group = groups[key]
        batches += [group[i:i + size] for i in range(0, len(group), size)]
    return batches
