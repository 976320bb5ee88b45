"""NeuCodec and X-Codec2 behind the engine's :class:`~xy_tokenizer.codecs.base.Codec` interface.

Encode: 16 kHz mono clips -> ``(1, T)`` int64 codes in ``0..65535`` (one FSQ codebook, 50 Hz).
NeuCodec: ``T = floor(S / 320)``; X-Codec2: ``T = floor(S / 320) + 1``. Decode: ``(1, T)`` codes ->
float32 audio of ``hop * T`` samples (NeuCodec 480 at 24 kHz, X-Codec2 320 at 16 kHz).

Batching. The references have no masks: zero-padding a clip changes its tokens. Here windows are
batched only with windows of exactly the same length (no padding at all), so a clip's tokens and
audio never depend on its batch company.

Windowing. Every token depends on the whole clip (per-clip feature normalisation, full attention
in 16 conformer and 12 decoder layers), and memory grows with T^2 (about 16 GB at 2 minutes for
the released sizes). A clip no longer than ``window`` seconds (default
:data:`DEFAULT_WINDOW_SECONDS`) is processed in one pass and gives exactly the reference's
tokens/audio. A longer clip is cut into windows of ``window`` seconds starting every
``window - overlap`` seconds on the token grid (the last window ends at the clip's end); each
window is encoded alone and contributes the tokens from the middle of its overlaps with its
neighbours (the cut sits halfway through each overlap). Decode windows the codes the same way
(``window`` seconds of tokens, the last window ending at the last token) and joins the windows'
audio with a raised-cosine crossfade of :data:`DECODE_CROSSFADE_TOKENS` tokens centred on each cut.

Seams, measured on the tiny fixture models (random weights: far more context-sensitive than the
trained releases, so these are pessimistic), clip 2 = 12 s against its whole-clip pass
(``tests/test_neucodec_windowing.py``):

============================  ===============  ===============
window / overlap               NeuCodec          X-Codec2
============================  ===============  ===============
4 s / 1 s: tokens equal        42 %              15 %
8 s / 2 s: tokens equal        57 %              75 %
4 s / 1 s: decode max error    12 % of peak      8 % of peak
8 s / 2 s: decode max error    5 % of peak       3 % of peak
============================  ===============  ===============

To keep the seams small, a window's semantic features are cut from the whole clip's (normalised
over the whole clip, as in the one-pass reference) and its samples run on into the clip instead of
being zero-padded; what still differs is the attention context.

Memory is bounded by the window, not the clip (``benchmarks/bench_neucodec.py``, full-size
NeuCodec, CPU float32, peak RSS above the loaded model): a 1-minute input costs 1.27 GB with
10 s windows against 3.36 GB in one 60 s pass (the one-pass cost grows with T^2: ~16 GB at 2 min);
a 10-minute input with the default 30 s / 4 s windows and batches of 4 windows peaks at 7.0 GB
(3.1 GB model + 3.9 GB), the same as any clip longer than 4 windows.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from xy_tokenizer.io.audio import resample
from xy_tokenizer.codecs.runtime import pick_device, pick_dtype
from xy_tokenizer.errors import AudioError, XYTokenizerError
from xy_tokenizer.io.tokens import check_codes

from ..base import FSQ, CancelFn, Codec, ProgressFn
from ..batching import as_list, walk
from .features import STACK, num_feature_frames, semantic_features
from .model import ENCODER_HOP, NeuCodecNet
from .modules import FSQ_LEVELS

log = logging.getLogger(__name__)

INPUT_SAMPLE_RATE = 16000
FRAME_RATE = 50
CODEBOOK_SIZE = 4 ** len(FSQ_LEVELS)
NUM_FSQ_DIGITS = len(FSQ_LEVELS)
FSQ_BASE = FSQ_LEVELS[0]
#: Longest clip processed in one pass, and the window length for longer ones (seconds).
DEFAULT_WINDOW_SECONDS = 30.0
#: Overlap of consecutive windows (seconds).
DEFAULT_OVERLAP_SECONDS = 4.0
#: Shortest window accepted (seconds).
MIN_WINDOW_SECONDS = 2.0
#: Crossfade between decode windows, in tokens, centred on the cut.
DECODE_CROSSFADE_TOKENS = 2
DEFAULT_BATCH_SIZE = 4


def fsq_digits(codes: Any) -> np.ndarray:
    """The 8 base-4 digits of FSQ codes: ``codes: (T,)`` or ``(1, T)`` -> ``(8, T)`` int64 in 0..3.

    Row ``d`` is ``(code // 4**d) % 4`` (row 0 least significant); the code vector's component
    ``d`` is ``(digit - 2) / 2``.
    """
    arr = np.asarray(codes).astype(np.int64).reshape(-1)
    powers = FSQ_BASE ** np.arange(NUM_FSQ_DIGITS, dtype=np.int64)
    return (arr[None, :] // powers[:, None]) % FSQ_BASE


@dataclass
class _Window:
    clip: int
    start: int       # first sample (encode) or token (decode) of the window in the clip
    length: int      # samples (encode) or tokens (decode)
    first: int       # first global token this window covers
    count: int       # tokens it covers
    keep: tuple[int, int] = (0, 0)  # global token range it contributes (encode) / the cuts (decode)


def _cuts(windows: list[_Window], total: int) -> None:
    """Give each window of one clip the global token range it keeps: cuts halfway through overlaps."""
    bounds = [0]
    for a, b in zip(windows, windows[1:]):
        bounds.append((b.first + a.first + a.count) // 2)
    bounds.append(total)
    for w, lo, hi in zip(windows, bounds, bounds[1:]):
        w.keep = (lo, hi)


def _grid_starts(total: int, window: int, step: int, grid: int) -> list[int]:
    """Window starts (multiples of ``grid``) every ``step`` so that windows of ``window`` cover ``total``;
    the last start is the last grid point from which a window still reaches the end."""
    last = ((total - window) // grid) * grid
    starts = list(range(0, last, step))
    if not starts or starts[-1] != last:
        starts.append(last)
    return starts


class NeuCodecCodec(Codec):
    """A loaded NeuCodec (16 kHz in, 24 kHz out). ``net`` is the torch network (eval mode)."""

    family = "neucodec"
    quantizer_kind = FSQ

    def __init__(self, net: NeuCodecNet, *, variant: str, device: torch.device, dtype: torch.dtype,
                 checkpoint_path: Path | None = None, ignored_keys: Sequence[str] = (),
                 unused_keys: Sequence[str] = (), semantic_model_path: Path | None = None) -> None:
        self.net = net
        self.variant = variant
        self._device = torch.device(device)
        self._dtype = dtype
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        #: Tensors of the file that are not part of the model (reported, never loaded).
        self.ignored_keys: tuple[str, ...] = tuple(ignored_keys)
        #: Tensors of the model's layout that the computation never reads (semantic layers 17..24).
        self.unused_keys: tuple[str, ...] = tuple(unused_keys)
        self.semantic_model_path = semantic_model_path
        self._sha256 = None

    # -- facts ----------------------------------------------------------------------------
    @property
    def input_sample_rate(self) -> int:
        return INPUT_SAMPLE_RATE

    @property
    def output_sample_rate(self) -> int:
        return self.net.dims.output_sample_rate

    @property
    def frame_rate(self) -> float:
        return float(FRAME_RATE)

    @property
    def num_quantizers(self) -> int:
        return 1

    @property
    def codebook_size(self) -> int:
        return CODEBOOK_SIZE

    @property
    def device(self) -> str:
        return str(self._device)

    @property
    def precision(self) -> str:
        return str(self._dtype).replace("torch.", "")

    @property
    def hop(self) -> int:
        """Output samples per token."""
        return self.net.dims.hop

    def num_frames(self, num_samples: int) -> int:
        """NeuCodec: ``floor(S / 320)`` (the reference drops the last acoustic frame)."""
        return max(0, int(num_samples) // ENCODER_HOP)

    @property
    def min_input_samples(self) -> int:
        return ENCODER_HOP

    def padded(self, wav: np.ndarray) -> np.ndarray:
        """The reference's padding: ``320 - S % 320`` zeros (1..320) appended. (S,) -> (320 K,)."""
        return np.pad(wav, (0, ENCODER_HOP - wav.shape[0] % ENCODER_HOP))

    def features(self, padded: np.ndarray) -> np.ndarray:
        """Semantic model input of a padded clip: (N,) -> (Tf, 160) float32."""
        pad = self.net.dims.semantic_pad
        return semantic_features(np.pad(padded, (pad, pad)) if pad else padded)

    # -- inspection -----------------------------------------------------------------------
    def codebooks(self) -> np.ndarray:
        """The FSQ grid: ``(1, 65536, 8)`` float32 code vectors (values in {-1, -0.5, 0, 0.5})."""
        digits = fsq_digits(np.arange(CODEBOOK_SIZE)).T
        return ((digits - FSQ_BASE // 2) / 2).astype(np.float32)[None]

    @staticmethod
    def fsq_digits(codes: Any) -> np.ndarray:
        """``(T,)`` or ``(1, T)`` codes -> ``(8, T)`` base-4 digits (see :func:`fsq_digits`)."""
        return fsq_digits(codes)

    # -- helpers --------------------------------------------------------------------------
    def _window_sizes(self, window: float | None, overlap: float | None) -> tuple[float, float]:
        window = DEFAULT_WINDOW_SECONDS if window is None else float(window)
        overlap = DEFAULT_OVERLAP_SECONDS if overlap is None else float(overlap)
        if not math.isfinite(window) or window < MIN_WINDOW_SECONDS:
            raise XYTokenizerError(f"window={window!r} s: use at least {MIN_WINDOW_SECONDS:g} seconds")
        min_overlap = 2 * DECODE_CROSSFADE_TOKENS / FRAME_RATE
        if not math.isfinite(overlap) or not min_overlap <= overlap <= window / 2:
            raise XYTokenizerError(
                f"overlap={overlap!r} s: use {min_overlap:g} .. {window / 2:g} seconds (at most half the window)")
        return window, overlap

    @staticmethod
    def _check_options(options: dict) -> None:
        if options:
            raise XYTokenizerError(
                f"unknown option(s) {', '.join(sorted(options))}: NeuCodec/X-Codec2 accept window and overlap")

    def _prepare_clips(self, wavs: Any, sample_rate: int | None) -> list[np.ndarray]:
        clips = as_list(wavs)
        rate = INPUT_SAMPLE_RATE if sample_rate is None else int(sample_rate)
        out = []
        for i, wav in enumerate(clips):
            arr = np.asarray(wav, dtype=np.float32)
            if arr.ndim != 1:
                raise AudioError(f"clip {i}: expected mono 1-D samples, got shape {arr.shape}; mix down to mono first")
            if not np.isfinite(arr).all():
                raise AudioError(f"clip {i}: contains NaN or infinite samples")
            if rate != INPUT_SAMPLE_RATE:
                arr = resample(arr, rate, INPUT_SAMPLE_RATE)
            if arr.shape[0] < self.min_input_samples:
                raise AudioError(
                    f"clip {i}: {arr.shape[0]} samples at {INPUT_SAMPLE_RATE} Hz "
                    f"({arr.shape[0] / INPUT_SAMPLE_RATE * 1000:.1f} ms) is too short; "
                    f"{self.variant or self.family} needs at least {self.min_input_samples} samples")
            out.append(arr)
        return out

    @staticmethod
    def _batches(windows: list[_Window], size: int) -> list[list[_Window]]:
        """Windows of exactly equal length, at most ``size`` per batch (no padding anywhere)."""
        by_length: dict[int, list[_Window]] = {}
        for w in windows:
            by_length.setdefault(w.length, []).append(w)
        return [group[i:i + size] for group in by_length.values() for i in range(0, len(group), size)]

    def _batch_size(self, batch_size: int | None) -> int:
        size = DEFAULT_BATCH_SIZE if batch_size is None else int(batch_size)
        if size < 1:
            raise XYTokenizerError(f"batch_size={batch_size!r}: use 1 or more")
        return size

    # -- encode ---------------------------------------------------------------------------
    def encode(self, wavs: Sequence[Any] | Any, sample_rate: int | None = None, *,
               progress: ProgressFn | None = None, cancel: CancelFn | None = None,
               batch_size: int | None = None, window: float | None = None, overlap: float | None = None,
               **options: Any) -> list[np.ndarray]:
        """Tokenise mono clips ``(S,)`` -> one ``(1, T)`` int64 array each (see the module docstring)."""
        self._check_options(options)
        window_s, overlap_s = self._window_sizes(window, overlap)
        size = self._batch_size(batch_size)
        clips = self._prepare_clips(wavs, sample_rate)
        win = int(window_s * INPUT_SAMPLE_RATE) // ENCODER_HOP * ENCODER_HOP
        step = win - int(overlap_s * INPUT_SAMPLE_RATE) // ENCODER_HOP * ENCODER_HOP
        plans: list[list[_Window]] = []
        for i, clip in enumerate(clips):
            total = clip.shape[0]
            starts = [0] if total <= win else _grid_starts(total, win, step, ENCODER_HOP)
            ws = []
            for s in starts:
                length = total - s if s == starts[-1] else win
                ws.append(_Window(i, s, length, s // ENCODER_HOP, self.num_frames(length)))
            _cuts(ws, self.num_frames(total))
            plans.append(ws)
        every = [w for ws in plans for w in ws]
        padded = [self.padded(clip) for clip in clips]
        feats = [self.features(p) for p in padded]
        results: dict[int, np.ndarray] = {}
        for batch in walk(self._batches(every, size), progress, cancel, "encoding cancelled"):
            wav_rows, feat_rows = zip(*(self._window_inputs(padded[w.clip], feats[w.clip], w) for w in batch))
            with torch.inference_mode():
                codes = self.net.encode(torch.from_numpy(np.stack(wav_rows)).to(self._device),
                                        torch.from_numpy(np.stack(feat_rows)).to(self._device))
            codes = codes.cpu().numpy()
            for w, row in zip(batch, codes):
                lo, hi = w.keep
                results[id(w)] = row[lo - w.first:hi - w.first]
        return [np.concatenate([results[id(w)] for w in ws]).astype(np.int64)[None, :] for ws in plans]

    def _window_inputs(self, padded: np.ndarray, feats: np.ndarray, w: _Window) -> tuple[np.ndarray, np.ndarray]:
        """One window's model inputs, cut from the whole clip's: samples ``(N_w,)`` and features ``(R_w, 160)``.

        The window's samples are followed by the clip's next 1..320 samples where the clip goes on
        (the reference's zero padding at the clip's end), and its feature rows are the whole clip's
        (normalised over the whole clip), so a window sees exactly what the whole-clip pass sees in
        its range and a clip that fits one window gets the reference's inputs unchanged.
        """
        end = w.start + w.length + ENCODER_HOP - w.length % ENCODER_HOP
        samples = padded[w.start:end]
        pad = self.net.dims.semantic_pad
        rows = num_feature_frames(samples.shape[0] + 2 * pad) // STACK
        first = w.start // ENCODER_HOP
        return samples, feats[first:first + rows]

    # -- decode ---------------------------------------------------------------------------
    def decode(self, codes_list: Sequence[Any] | Any, num_quantizers: int | None = None, *,
               progress: ProgressFn | None = None, cancel: CancelFn | None = None,
               batch_size: int | None = None, window: float | None = None, overlap: float | None = None,
               **options: Any) -> list[np.ndarray]:
        """Synthesize ``(1, T)`` codes (``(T,)`` accepted) -> float32 ``(hop * T,)`` each."""
        self._check_options(options)
        if num_quantizers is not None and int(num_quantizers) < 1:
            raise XYTokenizerError(f"num_quantizers={num_quantizers!r}: NeuCodec has one FSQ level; use 1 or None")
        window_s, overlap_s = self._window_sizes(window, overlap)
        size = self._batch_size(batch_size)
        items = list(codes_list) if isinstance(codes_list, (list, tuple)) else [codes_list]
        seqs = []
        for i, codes in enumerate(items):
            arr = np.asarray(codes)
            if arr.ndim == 1:
                arr = arr[None, :]
            arr = check_codes(arr, f"codes {i}", CODEBOOK_SIZE, max_levels=max(1, arr.shape[0]))
            seqs.append(arr[0])
        win = int(round(window_s * FRAME_RATE))
        step = win - int(round(overlap_s * FRAME_RATE))
        plans: list[list[_Window]] = []
        for i, seq in enumerate(seqs):
            total = seq.shape[0]
            starts = [0] if total <= win else _grid_starts(total, win, step, 1)
            ws = [_Window(i, s, min(win, total - s), s, min(win, total - s)) for s in starts]
            _cuts(ws, total)
            plans.append(ws)
        every = [w for ws in plans for w in ws]
        hop = self.hop
        outputs = [np.zeros(seq.shape[0] * hop, dtype=np.float32) for seq in seqs]
        half = DECODE_CROSSFADE_TOKENS * hop // 2
        for batch in walk(self._batches(every, size), progress, cancel, "decoding cancelled"):
            codes = np.stack([seqs[w.clip][w.start:w.start + w.length] for w in batch])
            with torch.inference_mode():
                audio = self.net.decode(torch.from_numpy(codes).to(self._device)).float().cpu().numpy()
            for w, row in zip(batch, audio):
                self._add_window(outputs[w.clip], row, w, len(plans[w.clip]), half, hop)
        return outputs

    @staticmethod
    def _add_window(out: np.ndarray, audio: np.ndarray, w: _Window, count: int, half: int, hop: int) -> None:
        """Add one window's audio (its kept range, crossfaded over ``2 half`` samples at each cut)."""
        if count == 1:
            out[:] = audio
            return
        lo, hi = w.keep[0] * hop, w.keep[1] * hop
        start = w.start * hop
        weight = np.zeros(audio.shape[0], dtype=np.float32)
        a, b = max(lo - half, start), min(hi + half, start + audio.shape[0])
        weight[a - start:b - start] = 1.0
        ramp = np.sin(0.5 * np.pi * (np.arange(2 * half, dtype=np.float64) + 0.5) / (2 * half)) ** 2
        if lo > 0:
            weight[lo - half - start:lo + half - start] = ramp
        if hi < out.shape[0]:
            weight[hi - half - start:hi + half - start] = ramp[::-1]
        out[start:start + audio.shape[0]] += weight * audio


class XCodec2Codec(NeuCodecCodec):
    """A loaded X-Codec2 (16 kHz in and out); the semantic features see 160 extra zeros each side."""

    family = "xcodec2"

    def num_frames(self, num_samples: int) -> int:
        """X-Codec2: ``floor(S / 320) + 1`` (both branches give K frames; the last covers the padding)."""
        return int(num_samples) // ENCODER_HOP + 1 if num_samples > 0 else 0

    @property
    def min_input_samples(self) -> int:
        return 1


def make_codec(net: NeuCodecNet, *, variant: str, device: str | torch.device, dtype: str | torch.dtype,
               codec_class: type[NeuCodecCodec] | None = None, **kwargs: Any) -> NeuCodecCodec:
    """Move ``net`` to the device and precision (FSQ stays float32) and wrap it in the family's codec."""
    dev, dt = pick_device(device), pick_dtype(dtype)
    net = net.to(device=dev, dtype=dt).eval()
    net.generator.quantizer.float()
    cls = codec_class or (XCodec2Codec if net.semantic_in_file else NeuCodecCodec)
    codec = cls(net, variant=variant, device=dev, dtype=dt, **kwargs)
    if codec.ignored_keys:
        log.warning("%s: ignored %d tensor(s) that are not part of the model: %s%s", kwargs.get("checkpoint_path"),
                    len(codec.ignored_keys), ", ".join(codec.ignored_keys[:5]),
                    " ..." if len(codec.ignored_keys) > 5 else "")
    return codec
