"""Synthetic speech-like test audio (deterministic) and helpers to write it in many formats."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def speech_like(seconds: float, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Voiced-speech-like float32 mono: harmonics of a gliding 100-220 Hz pitch, shaped by a
    4 Hz syllable envelope, formant-like harmonic weights and a little noise; peak about 0.5."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    f0 = 160 + 60 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, np.pi))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = np.zeros(n)
    for harmonic in range(1, 16):
        freq = harmonic * f0
        weight = np.exp(-((freq - 500) / 300) ** 2) + 0.6 * np.exp(-((freq - 1500) / 400) ** 2) + 0.05
        voiced += weight * np.sin(harmonic * phase) * (freq < sample_rate / 2)
    envelope = np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, np.pi)), 0, None) ** 1.5
    signal = voiced * envelope + 0.01 * rng.standard_normal(n)
    return (0.5 * signal / np.abs(signal).max()).astype(np.float32)


def write(path: Path, audio: np.ndarray, sample_rate: int = 16000, subtype: str | None = None,
          format: str | None = None) -> Path:
    """Write ``audio`` ((n,) or (n, channels)) with soundfile, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, sample_rate, subtype=subtype, format=format)
    return path


def truncate(path: Path, keep_fraction: float = 0.5) -> Path:
    """Cut bytes off the end of a file, as an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    return path
