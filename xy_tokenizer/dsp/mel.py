"""Slaney-scale mel filterbanks (numpy only, shared by the model's front end and the metrics)."""
from __future__ import annotations

import functools
import math

import numpy as np


def _hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    """Slaney (Auditory Toolbox) mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, math.log(6.4) / 27.0
    return np.where(hz < min_log_hz, hz / f_sp,
                    min_log_mel + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / logstep)


def _mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, math.log(6.4) / 27.0
    return np.where(mel < min_log_mel, mel * f_sp, min_log_hz * np.exp(logstep * (mel - min_log_mel)))


@functools.lru_cache(maxsize=16)
def slaney_filterbank(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular mel filters on the Slaney scale with Slaney area normalisation.

    Returns (n_mels, n_fft // 2 + 1) float64, read-only (cached): filter ``m`` rises from edge
    ``m`` to peak ``m + 1`` and falls to edge ``m + 2`` of ``n_mels + 2`` points equally spaced
    in mel from 0 Hz to sr/2, scaled by ``2 / (f[m + 2] - f[m])`` so every filter has the same area.
    """
    fft_hz = np.linspace(0.0, sr / 2, n_fft // 2 + 1)
    edges = _mel_to_hz_slaney(np.linspace(0.0, _hz_to_mel_slaney(sr / 2), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (fft_hz[None, :] - lower) / (centre - lower)
    falling = (upper - fft_hz[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (upper - lower))
    weights.flags.writeable = False
    return weights
