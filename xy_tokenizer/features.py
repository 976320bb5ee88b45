"""Whisper-style log-mel features (what the reference's feature extractor computes)."""
from __future__ import annotations

import functools

import numpy as np
import torch

from .constants import INPUT_SAMPLE_RATE, MEL_BINS, MEL_HOP, MEL_N_FFT


def _hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = hz / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_region = hz >= min_log_hz
    mels[log_region] = min_log_mel + np.log(hz[log_region] / min_log_hz) / logstep
    return mels


def _mel_to_hz_slaney(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_region = mels >= min_log_mel
    freqs[log_region] = min_log_hz * np.exp(logstep * (mels[log_region] - min_log_mel))
    return freqs


@functools.lru_cache(maxsize=8)
def mel_filterbank(
    sample_rate: int = INPUT_SAMPLE_RATE, n_fft: int = MEL_N_FFT, n_mels: int = MEL_BINS
) -> np.ndarray:
    """Triangular Slaney-scale filters with Slaney area normalisation.

    Returns ``(n_fft // 2 + 1, n_mels)`` float32, covering 0 .. sample_rate / 2.
    """
    fft_freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    mel_points = np.linspace(_hz_to_mel_slaney(np.array([0.0]))[0],
                             _hz_to_mel_slaney(np.array([sample_rate / 2]))[0], n_mels + 2)
    hz_points = _mel_to_hz_slaney(mel_points)
    fdiff = np.diff(hz_points)
    ramps = hz_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    enorm = 2.0 / (hz_points[2:] - hz_points[:-2])
    weights *= enorm[:, None]
    return weights.T.astype(np.float32)


class LogMel(torch.nn.Module):
    """Waveforms ``(B, S)`` at 16 kHz -> log-mel ``(B, 80, S // 160)``.

    ``S`` must already include the right padding; per clip the dynamic range is clamped
    to 8 (log10 units) below the clip's maximum, padding included, then scaled
    ``(L + 4) / 4``. Computed in float32 whatever the model's dtype.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("window", torch.hann_window(MEL_N_FFT, periodic=True), persistent=False)
        self.register_buffer("filters", torch.from_numpy(mel_filterbank()), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        wave = wave.float()
        spec = torch.stft(
            wave, MEL_N_FFT, MEL_HOP, window=self.window, center=True, pad_mode="reflect", return_complex=True
        )
        power = spec[..., :-1].abs() ** 2  # (B, 201, frames)
        mel = torch.matmul(self.filters.T, power)  # (B, 80, frames)
        log_spec = torch.clamp(mel, min=1e-10).log10()
        peak = log_spec.amax(dim=(1, 2), keepdim=True)
        log_spec = torch.maximum(log_spec, peak - 8.0)
        return (log_spec + 4.0) / 4.0


def mel_frames(num_samples: int) -> int:
    """Valid mel frames for a clip of ``num_samples`` (an int or a tensor): ``ceil(S / 160)``."""
    return -(-num_samples // MEL_HOP)
