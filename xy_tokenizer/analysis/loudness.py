"""Loudness by ITU-R BS.1770 (integrated, gated) and gains that match signals' loudness.

Measurement is ``pyloudnorm`` (the BS.1770-4 K-weighting filters, 400 ms blocks with 75 %
overlap, the -70 LUFS absolute gate and the -10 LU relative gate), chosen because it is the
maintained, widely used implementation of the standard; this module adds what a comparison
needs around it: clips shorter than one gating block, silence, and gains that never clip.

Signals are float arrays, mono ``(N,)`` or ``(N, channels)`` with at most five channels, at a
rate in Hz; full scale is 1.0. Loudness is in LUFS; silence (or audio under the absolute gate
everywhere) is ``-inf`` LUFS.

Short clips: a clip shorter than the gating block (:data:`GATING_BLOCK_SECONDS`) is measured as
one block of its own length (the K-weighted mean square over the whole clip, with the absolute
gate), i.e. BS.1770's block loudness over the clip. Zero-padding it to 400 ms would make the
reading depend on how short it is; one block of its own length does not. Empty audio is
``-inf``.

Matching: the gain that brings a signal to a target loudness is ``10 ** ((target - L) / 20)``;
it is then limited so the signal's sample peak stays at or under :data:`PEAK_CEILING`, and the
result says when that happened (a limited signal is quieter than the target by
``requested_db - gain_db``).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from xy_tokenizer.errors import AudioError

#: BS.1770 gating block length (seconds) and the most channels pyloudnorm weighs.
GATING_BLOCK_SECONDS = 0.4
MAX_CHANNELS = 5
#: Sample peak a matching gain may raise a signal to (full scale): gains never make it clip.
PEAK_CEILING = 1.0


@dataclass(frozen=True)
class LoudnessGain:
    """The gain for one signal: multiply its samples by :attr:`gain` (linear).

    ``loudness``: the signal's integrated loudness (LUFS, ``-inf`` when silent);
    ``target``: the loudness asked for (LUFS; ``-inf`` when the reference is silent);
    ``requested_db``: the gain that would reach the target (0 when either is ``-inf``);
    ``gain_db``: the gain given, ``<= requested_db``; ``limited``: the peak ceiling lowered it;
    ``peak``: the signal's sample peak before the gain.
    """

    loudness: float
    target: float
    requested_db: float
    gain_db: float
    limited: bool
    peak: float

    @property
    def gain(self) -> float:
        """Linear gain, ``10 ** (gain_db / 20)``."""
        return 10.0 ** (self.gain_db / 20.0)

    @property
    def matched_loudness(self) -> float:
        """Loudness after the gain (LUFS)."""
        return self.loudness + self.gain_db

    def to_dict(self) -> dict:
        return {"loudness_lufs": _finite_or_none(self.loudness), "target_lufs": _finite_or_none(self.target),
                "requested_db": self.requested_db, "gain_db": self.gain_db, "gain": self.gain,
                "limited": self.limited, "peak": self.peak}


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _check_rate(rate) -> int:
    if isinstance(rate, bool) or int(rate) != rate or rate <= 0:
        raise AudioError(f"sample rate must be a positive whole number of Hz; got {rate!r}")
    return int(rate)


def _as_audio(x, name: str = "signal") -> np.ndarray:
    """Validate a signal: (N,) or (N, C) real, finite, C <= 5; returns float64 of the same shape."""
    arr = np.asarray(x)
    if arr.ndim not in (1, 2) or (arr.ndim == 2 and not 1 <= arr.shape[1] <= MAX_CHANNELS):
        raise AudioError(f"the {name} must have shape (N,) or (N, channels) with 1..{MAX_CHANNELS} channels; "
                         f"got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise AudioError(f"the {name} must hold real numbers; got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise AudioError(f"the {name} holds NaN or infinite samples; fix or re-decode it")
    return arr


def integrated_loudness(x, rate: int) -> float:
    """Integrated loudness (LUFS) of ``x`` ((N,) or (N, channels)) at ``rate`` Hz, by ITU-R BS.1770.

    ``-inf`` for empty audio, silence and audio that stays under the -70 LUFS absolute gate.
    A clip shorter than :data:`GATING_BLOCK_SECONDS` is measured as one block of its own
    length (see the module docstring). Raises :class:`AudioError` for NaN/inf samples or a bad
    shape or rate.
    """
    rate = _check_rate(rate)
    audio = _as_audio(x)
    n = audio.shape[0]
    if n == 0 or not np.any(audio):
        return -math.inf
    import pyloudnorm

    block = GATING_BLOCK_SECONDS if n >= GATING_BLOCK_SECONDS * rate else n / rate
    meter = pyloudnorm.Meter(rate, block_size=block)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # log10(0) of silent blocks
        value = float(meter.integrated_loudness(audio))
    return value if math.isfinite(value) else -math.inf


def sample_peak(x) -> float:
    """Largest absolute sample of ``x`` (0 for empty audio)."""
    audio = _as_audio(x)
    return float(np.max(np.abs(audio))) if audio.size else 0.0


def gain_for(loudness: float, target: float, peak: float, *, ceiling: float = PEAK_CEILING) -> LoudnessGain:
    """The :class:`LoudnessGain` taking a signal of ``loudness`` LUFS and sample ``peak`` to ``target``.

    No gain (0 dB) when either loudness is ``-inf`` (a silent signal cannot be matched, nor
    matched to). The gain is limited so that ``peak * gain <= ceiling``.
    """
    if not ceiling > 0:
        raise AudioError(f"the peak ceiling must be above 0; got {ceiling}")
    requested = target - loudness if math.isfinite(loudness) and math.isfinite(target) else 0.0
    gain_db, limited = requested, False
    if peak > 0:
        headroom_db = 20.0 * math.log10(ceiling / peak)
        if requested > headroom_db:
            gain_db, limited = headroom_db, True
    return LoudnessGain(loudness=loudness, target=target, requested_db=requested, gain_db=gain_db,
                        limited=limited, peak=peak)


def gain_to_match(reference, other, rate: int | Sequence[int], *, ceiling: float = PEAK_CEILING) -> LoudnessGain:
    """The gain that makes ``other`` as loud as ``reference`` (BS.1770), without clipping.

    ``rate``: one rate for both, or ``(reference_rate, other_rate)``. Apply it as
    ``other * result.gain``; ``result.limited`` says the peak ceiling kept it quieter.
    """
    ref_rate, other_rate = (rate, rate) if np.ndim(rate) == 0 else tuple(rate)
    target = integrated_loudness(reference, ref_rate)
    return gain_for(integrated_loudness(other, other_rate), target, sample_peak(other), ceiling=ceiling)


def loudness_matched(signals: Sequence, rate: int | Sequence[int], target: float | None = None, *,
                     ceiling: float = PEAK_CEILING) -> list[LoudnessGain]:
    """Gains that bring every signal to one loudness: the first signal's (the reference), or
    ``target`` LUFS when given. ``rate``: one rate for all or one per signal.

    Returns one :class:`LoudnessGain` per signal, in order. With no ``target`` the reference's
    requested gain is 0 dB; with a target it is matched like the others. Every gain is
    peak-limited to ``ceiling`` (no clipping; a float reference that already peaks above it is
    turned down), and ``limited`` reports it. Raises :class:`AudioError` for an empty list or mismatched rates.
    """
    signals = list(signals)
    if not signals:
        raise AudioError("loudness matching needs at least one signal")
    rates = [rate] * len(signals) if np.ndim(rate) == 0 else list(rate)
    if len(rates) != len(signals):
        raise AudioError(f"{len(signals)} signals but {len(rates)} sample rates; give one rate or one per signal")
    loudness = [integrated_loudness(x, r) for x, r in zip(signals, rates)]
    goal = loudness[0] if target is None else float(target)
    if target is not None and not math.isfinite(goal):
        raise AudioError(f"the target loudness must be a finite number of LUFS; got {target}")
    return [gain_for(lufs, goal, sample_peak(x), ceiling=ceiling) for x, lufs in zip(signals, loudness)]


def apply_gain(x, gain: LoudnessGain | float) -> np.ndarray:
    """``x`` times a gain (a :class:`LoudnessGain` or a linear factor), as float32 of the same shape."""
    factor = gain.gain if isinstance(gain, LoudnessGain) else float(gain)
    return (np.asarray(x, dtype=np.float64) * factor).astype(np.float32)
