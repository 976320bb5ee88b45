"""Semantic input features of NeuCodec / X-Codec2: the w2v-bert-2.0 (SeamlessM4T) log-mel fbank.

numpy only (no torch, no torchaudio). Computes what ``SeamlessM4TFeatureExtractor`` gives for one
clip: Kaldi-style frames (400 samples every 160 at 16 kHz, no centring) of the signal scaled to
16-bit range, per frame DC removal, pre-emphasis 0.97, Povey window, |rfft_512|^2 (the spectrum is
held as complex64, as the reference does), 80 Kaldi mel filters (20..8000 Hz, triangles in mel
space), floor, natural log, cast to float32; then each mel bin normalised over the clip with the
unbiased variance; then frame pairs stacked: ``(F, 80) -> (F // 2, 160)``.
"""
from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
FRAME_LENGTH = 400
FRAME_HOP = 160
FFT_LENGTH = 512
NUM_MEL_BINS = 80
MEL_LOW_HZ = 20.0
MEL_HIGH_HZ = 8000.0
PREEMPHASIS = 0.97
POVEY_POWER = 0.85
MEL_FLOOR = 1.192092955078125e-07
INT16_SCALE = 2.0 ** 15
NORM_EPS = 1e-7
#: Frames stacked into one feature row (the extractor's ``stride``).
STACK = 2
#: ``padding_value`` of facebook/w2v-bert-2.0's preprocessor_config.json (used to pad an odd
#: frame count to even; never reached by NeuCodec's or X-Codec2's padded clip lengths).
PADDING_VALUE = 1.0


def povey_window(length: int = FRAME_LENGTH) -> np.ndarray:
    """Kaldi's Povey window: a non-periodic Hann window raised to 0.85, float64 ``(length,)``."""
    n = np.arange(length, dtype=np.float64)
    hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / (length - 1))
    return hann ** POVEY_POWER


def _hz_to_kaldi_mel(hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def kaldi_mel_filters() -> np.ndarray:
    """Kaldi mel filter matrix ``(257, 80)`` float64 (triangles in mel space, no area normalisation)."""
    num_bins = FFT_LENGTH // 2 + 1
    bin_mels = _hz_to_kaldi_mel(np.arange(num_bins, dtype=np.float64) * (SAMPLE_RATE / FFT_LENGTH))
    edges = np.linspace(_hz_to_kaldi_mel(MEL_LOW_HZ), _hz_to_kaldi_mel(MEL_HIGH_HZ), NUM_MEL_BINS + 2)
    widths = np.diff(edges)
    slopes = edges[None, :] - bin_mels[:, None]
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    return np.maximum(0.0, np.minimum(down, up))


_WINDOW = povey_window()
_MEL = kaldi_mel_filters()


def num_feature_frames(num_samples: int) -> int:
    """Kaldi frames of a clip of ``num_samples`` (before stacking); 0 when shorter than a frame."""
    if num_samples < FRAME_LENGTH:
        return 0
    return 1 + (num_samples - FRAME_LENGTH) // FRAME_HOP


def log_mel(wav: np.ndarray) -> np.ndarray:
    """Unnormalised log-mel fbank of a 16 kHz clip ``wav: (S,)`` -> float32 ``(F, 80)``."""
    x = np.asarray(wav, dtype=np.float32) * np.float32(INT16_SCALE)
    x = x.astype(np.float64)
    count = num_feature_frames(x.shape[0])
    if count == 0:
        return np.zeros((0, NUM_MEL_BINS), dtype=np.float32)
    frames = np.lib.stride_tricks.as_strided(
        x, shape=(count, FRAME_LENGTH), strides=(x.strides[0] * FRAME_HOP, x.strides[0])).copy()
    frames -= frames.mean(axis=1, keepdims=True)
    emphasised = frames.copy()
    emphasised[:, 1:] -= PREEMPHASIS * frames[:, :-1]
    emphasised[:, 0] *= 1.0 - PREEMPHASIS
    emphasised *= _WINDOW
    spectrum = np.fft.rfft(emphasised, n=FFT_LENGTH, axis=1).astype(np.complex64)
    power = np.abs(spectrum, dtype=np.float64) ** 2
    mel = np.maximum(MEL_FLOOR, power @ _MEL)
    return np.log(mel).astype(np.float32)


#: Frames computed per pass of :func:`log_mel` in :func:`semantic_features` (bounds memory).
CHUNK_FRAMES = 6000


def semantic_features(wav: np.ndarray) -> np.ndarray:
    """Model input of one padded 16 kHz clip ``wav: (S,)`` -> float32 ``(F // 2, 160)``.

    Per-bin normalisation over all ``F`` frames (unbiased variance), then frame pairs stacked
    (an odd ``F`` is first padded with one frame of :data:`PADDING_VALUE`). The fbank is computed
    in chunks of :data:`CHUNK_FRAMES` frames (same values, bounded memory).
    """
    total = num_feature_frames(np.asarray(wav).shape[0])
    parts = []
    for first in range(0, max(total, 1), CHUNK_FRAMES):
        count = min(CHUNK_FRAMES, total - first)
        begin = first * FRAME_HOP
        parts.append(log_mel(wav[begin:begin + (count - 1) * FRAME_HOP + FRAME_LENGTH]) if count > 0 else
                     np.zeros((0, NUM_MEL_BINS), dtype=np.float32))
    feats = np.concatenate(parts) if len(parts) > 1 else parts[0]
    if feats.shape[0] >= 2:
        mean = feats.mean(axis=0, keepdims=True)
        var = feats.var(axis=0, ddof=1, keepdims=True)
        feats = (feats - mean) / np.sqrt(var + np.float32(NORM_EPS))
    if feats.shape[0] % STACK:
        feats = np.concatenate([feats, np.full((STACK - feats.shape[0] % STACK, NUM_MEL_BINS),
                                               PADDING_VALUE, dtype=np.float32)])
    return np.ascontiguousarray(feats.reshape(feats.shape[0] // STACK, NUM_MEL_BINS * STACK), dtype=np.float32)
