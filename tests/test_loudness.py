"""BS.1770 loudness and loudness matching (xy_tokenizer.analysis.loudness)."""
from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest

from tests.synth import speech_like
from xy_tokenizer.analysis import loudness
from xy_tokenizer.errors import AudioError


def sine(freq: float, seconds: float, rate: int, dbfs: float = 0.0) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return 10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t)


def test_full_scale_997hz_sine_reads_minus_3_01_lufs():
    # BS.1770: a 0 dBFS 997 Hz sine in one channel reads -3.01 LKFS (K-weighting ~0 dB there).
    value = loudness.integrated_loudness(sine(997, 5.0, 48000), 48000)
    assert value == pytest.approx(-3.01, abs=0.1)


@pytest.mark.parametrize("rate", [16000, 24000, 48000])
def test_minus_20_dbfs_sine_matches_pyloudnorm(rate):
    x = sine(1000, 3.0, rate, dbfs=-20.0)
    expected = pyloudnorm.Meter(rate).integrated_loudness(x)
    value = loudness.integrated_loudness(x, rate)
    assert value == pytest.approx(expected, abs=1e-9)
    assert value == pytest.approx(-23.0, abs=0.15)          # -20 dBFS sine: -3.01 - 20


def test_speech_like_matches_pyloudnorm():
    x = speech_like(2.0, 16000, seed=3).astype(np.float64)
    assert loudness.integrated_loudness(x, 16000) == pytest.approx(
        pyloudnorm.Meter(16000).integrated_loudness(x), abs=1e-9)


def test_silence_and_empty_and_below_gate_are_minus_inf():
    assert loudness.integrated_loudness(np.zeros(16000), 16000) == -math.inf
    assert loudness.integrated_loudness(np.zeros(0), 16000) == -math.inf
    assert loudness.integrated_loudness(sine(997, 1.0, 16000, dbfs=-100.0), 16000) == -math.inf


def test_short_clip_is_one_block_of_its_own_length():
    rate = 16000
    long_value = loudness.integrated_loudness(sine(997, 2.0, rate, dbfs=-10.0), rate)
    # 100 ms and 10 ms of the same tone: no crash, about the same loudness (no zero-padding dilution).
    for seconds in (0.1, 0.01):
        short = loudness.integrated_loudness(sine(997, seconds, rate, dbfs=-10.0), rate)
        assert math.isfinite(short)
        assert short == pytest.approx(long_value, abs=1.0)
    assert math.isfinite(loudness.integrated_loudness(np.full(1, 0.5), rate))
    # Exactly one block long uses the standard path.
    x = sine(997, 0.4, rate, dbfs=-10.0)
    assert loudness.integrated_loudness(x, rate) == pytest.approx(pyloudnorm.Meter(rate).integrated_loudness(x))


def test_stereo_is_accepted_and_bad_input_is_refused():
    x = np.stack([sine(997, 1.0, 16000, -20), sine(997, 1.0, 16000, -20)], axis=1)
    assert loudness.integrated_loudness(x, 16000) == pytest.approx(-23.0 + 3.01, abs=0.2)
    with pytest.raises(AudioError, match="NaN"):
        loudness.integrated_loudness(np.array([0.1, np.nan, 0.2]), 16000)
    with pytest.raises(AudioError, match="sample rate"):
        loudness.integrated_loudness(np.ones(10), 0)
    with pytest.raises(AudioError, match="shape"):
        loudness.integrated_loudness(np.ones((2, 2, 2)), 16000)


def test_gain_to_match_brings_other_to_reference_loudness():
    rate = 16000
    ref = speech_like(2.0, rate, seed=1) * 0.5
    other = speech_like(2.0, rate, seed=2) * 0.1
    result = loudness.gain_to_match(ref, other, rate)
    assert not result.limited
    matched = loudness.apply_gain(other, result)
    assert loudness.integrated_loudness(matched, rate) == pytest.approx(loudness.integrated_loudness(ref, rate),
                                                                        abs=0.01)
    assert result.gain == pytest.approx(10 ** (result.gain_db / 20))


def test_gain_to_match_across_rates():
    ref = sine(997, 1.0, 16000, dbfs=-10.0)
    other = sine(997, 1.0, 24000, dbfs=-16.0)
    result = loudness.gain_to_match(ref, other, (16000, 24000))
    assert result.gain_db == pytest.approx(6.0, abs=0.1)


def test_peak_limit_never_clips_and_reports_it():
    rate = 16000
    loud = sine(997, 1.0, rate, dbfs=-1.0)
    quiet = sine(997, 1.0, rate, dbfs=-30.0)
    quiet[100] = 0.5                       # a click: peak -6 dBFS, loudness still about -33 LUFS
    result = loudness.gain_to_match(loud, quiet, rate)
    assert result.limited
    assert result.requested_db > result.gain_db
    assert result.gain_db == pytest.approx(20 * math.log10(1.0 / 0.5))
    assert np.max(np.abs(loudness.apply_gain(quiet, result))) <= 1.0 + 1e-6


def test_loudness_matched_to_reference_and_to_target():
    rate = 16000
    signals = [speech_like(1.5, rate, seed=s) * g for s, g in ((0, 0.3), (1, 0.05), (2, 0.2))]
    gains = loudness.loudness_matched(signals, rate)
    assert gains[0].gain_db == 0.0
    ref_lufs = loudness.integrated_loudness(signals[0], rate)
    for x, g in zip(signals, gains):
        assert not g.limited
        assert loudness.integrated_loudness(loudness.apply_gain(x, g), rate) == pytest.approx(ref_lufs, abs=0.01)
    gains = loudness.loudness_matched(signals, [rate] * 3, target=-30.0)
    for x, g in zip(signals, gains):
        assert loudness.integrated_loudness(loudness.apply_gain(x, g), rate) == pytest.approx(-30.0, abs=0.01)


def test_loudness_matched_with_silence_and_bad_arguments():
    rate = 16000
    gains = loudness.loudness_matched([np.zeros(rate), sine(997, 1.0, rate, -20)], rate)
    assert gains[0].loudness == -math.inf and gains[1].gain_db == 0.0     # nothing to match to
    assert gains[1].to_dict()["target_lufs"] is None
    with pytest.raises(AudioError, match="at least one"):
        loudness.loudness_matched([], rate)
    with pytest.raises(AudioError, match="sample rates"):
        loudness.loudness_matched([np.ones(10), np.ones(10)], [rate])
    with pytest.raises(AudioError, match="finite"):
        loudness.loudness_matched([np.ones(10)], rate, target=-math.inf)
