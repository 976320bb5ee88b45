"""Whisper-style log-mel features (what the reference's feature extractor computes)."""
from __future__ import annotations

import numpy as np
import torch

from xy_tokenizer.codecs.xy.constants import INPUT_SAMPLE_RATE, MEL_BINS, MEL_HOP, MEL_N_FFT
from xy_tokenizer.dsp.mel import slaney_filterbank


def mel_filterbank(
    sample_rate: int = INPUT_SAMPLE_RATE, n_fft: int = MEL_N_FFT, n_mels: int = MEL_BINS
) -> np.ndarray:
    """The front end's filters, ``(n_fft // 2 + 1, n_mels)`` float32 (Slaney scale and area
    normalisation, 0 .. sample_rate / 2), as the reference's feature extractor stores them."""
    return slaney_filterbank(sample_rate, n_fft, n_mels).T.astype(np.float32)


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
