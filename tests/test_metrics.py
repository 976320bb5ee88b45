"""Reconstruction metrics on synthetic speech-like signals with known answers."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import soxr

from xy_tokenizer.errors import AudioError
from xy_tokenizer.io.fsutil import OutputExistsError
from xy_tokenizer.analysis.metrics import (METRIC_LABELS, METRIC_NAMES, SI_SDR_LIMIT_DB, align, compute_metrics,
                                  f0_correlation, f0_track, log_mel_distance, mel_filterbank, mrstft_distance,
                                  pesq_nb, pesq_wb, si_sdr, stoi, summarize, write_metrics_csv)

SR = 16000
SECONDS = 3.0
FORMANTS = ((700.0, 130.0), (1200.0, 150.0), (2600.0, 250.0))


def harmonic(f0: np.ndarray, n_harmonics: int = 40) -> np.ndarray:
    """Sum of harmonics of the F0 contour ``f0`` (N,) in Hz under a three-formant envelope."""
    phase = 2 * np.pi * np.cumsum(f0) / SR
    out = np.zeros_like(f0)
    for k in range(1, n_harmonics + 1):
        fk = k * f0
        gain = sum(np.exp(-0.5 * ((fk - centre) / width) ** 2) for centre, width in FORMANTS) + 0.02
        out += np.where(fk < 0.45 * SR, gain / math.sqrt(k), 0.0) * np.sin(k * phase)
    return out


def contour(scale: float = 1.0) -> np.ndarray:
    """A known intonation contour (N,): 100-210 Hz, rising with a slow wobble."""
    t = np.arange(int(SECONDS * SR)) / SR
    return scale * (140.0 + 40.0 * np.sin(2 * np.pi * 0.7 * t) + 10.0 * t)


def speech_like(f0: np.ndarray) -> np.ndarray:
    """Voiced 'syllables' at 2 Hz with pauses between them, peak 0.3, float32 (N,)."""
    t = np.arange(f0.size) / SR
    envelope = np.clip(np.sin(2 * np.pi * 2.0 * t), 0.0, None) ** 0.7
    x = harmonic(f0) * envelope
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def with_noise(x: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(x.size)
    noise *= math.sqrt(np.mean(x.astype(np.float64) ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))
    return (x + noise).astype(np.float32)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return speech_like(contour())


@pytest.fixture(scope="module")
def identical(speech) -> dict[str, float]:
    return compute_metrics(speech, speech)


def test_identical_signals(identical):
    assert tuple(identical) == METRIC_NAMES
    assert identical["log_mel_distance"] == 0.0
    assert identical["mrstft_distance"] == 0.0
    assert identical["si_sdr"] == SI_SDR_LIMIT_DB
    assert identical["stoi"] == pytest.approx(1.0, abs=1e-6)
    assert identical["pesq_wb"] == pytest.approx(4.64, abs=0.01)
    assert identical["pesq_nb"] == pytest.approx(4.55, abs=0.01)
    assert identical["f0_corr"] == pytest.approx(1.0, abs=1e-12)
    assert set(METRIC_LABELS) == set(METRIC_NAMES)
    assert "↑" in METRIC_LABELS["si_sdr"] and "dB" in METRIC_LABELS["si_sdr"]


def test_gain_leaves_si_sdr_unchanged(speech):
    assert si_sdr(speech, 0.5 * speech) == SI_SDR_LIMIT_DB
    assert si_sdr(speech, -3.0 * speech) == SI_SDR_LIMIT_DB
    noisy = with_noise(speech, 12.0)
    base = si_sdr(speech, noisy)
    for gain in (0.1, 0.5, 4.0):
        assert si_sdr(speech, gain * noisy.astype(np.float64)) == pytest.approx(base, abs=1e-9)
    # ... and the reference's scale does not matter either
    assert si_sdr(7.0 * speech.astype(np.float64), noisy) == pytest.approx(base, abs=1e-9)


@pytest.mark.parametrize("gain", [0.5, 3.0, 0.01])
def test_gain_shifts_log_mel_by_log10_of_power_gain(speech, gain):
    # A faint noise floor keeps every mel band above the log floor, where the definition
    # gives |log10(M * g**2) - log10(M)| = |log10(g**2)| exactly.
    x = speech.astype(np.float64) + 1e-3 * np.random.default_rng(5).standard_normal(speech.size)
    assert log_mel_distance(x, gain * x) == pytest.approx(abs(math.log10(gain ** 2)), abs=1e-9)
    assert mrstft_distance(x, gain * x) > 0.0


@pytest.mark.parametrize("snr_db", [0.0, 5.0, 10.0, 20.0, 30.0])
def test_si_sdr_of_white_noise_at_known_snr(speech, snr_db):
    assert si_sdr(speech, with_noise(speech, snr_db)) == pytest.approx(snr_db, abs=0.5)


def test_more_noise_is_worse_on_every_metric(speech, identical):
    results = [identical] + [compute_metrics(speech, with_noise(speech, snr)) for snr in (30.0, 15.0, 5.0)]
    for lower_is_better in ("log_mel_distance", "mrstft_distance"):
        values = [r[lower_is_better] for r in results]
        assert values == sorted(values) and len(set(values)) == len(values), (lower_is_better, values)
    for higher_is_better in ("si_sdr", "stoi", "pesq_wb", "pesq_nb"):
        values = [r[higher_is_better] for r in results]
        assert values == sorted(values, reverse=True) and len(set(values)) == len(values), (higher_is_better, values)
    assert results[1]["pesq_wb"] < 4.0           # 30 dB of white noise is clearly audible to PESQ
    assert results[1]["f0_corr"] > 0.99           # ... but leaves the pitch intact


@pytest.mark.parametrize("delay", [37, 1, 800])
def test_delayed_copy_is_realigned_exactly(speech, identical, delay):
    late = np.concatenate([np.zeros(delay, np.float32), speech])
    ref, est, lag = align(speech, late)
    assert lag == delay
    assert np.array_equal(ref, est) and ref.size == speech.size
    assert compute_metrics(speech, late) == identical
    early = speech[delay:]                         # estimate ahead of the reference
    ref, est, lag = align(speech, early)
    assert lag == -delay
    assert np.array_equal(ref, speech[delay:]) and np.array_equal(est, speech[delay:])
    assert compute_metrics(speech, early) == compute_metrics(speech[delay:], speech[delay:])


def test_align_limits_and_trimming(speech):
    late = np.concatenate([np.zeros(300, np.float32), speech])
    assert abs(align(speech, late, max_lag=100)[2]) <= 100
    ref, est, lag = align(speech, late, max_lag=0)
    assert lag == 0 and ref.size == est.size == speech.size
    np.testing.assert_array_equal(est, late[:speech.size])
    ref, est, lag = align(speech[:1000], speech)     # different lengths: trimmed to the overlap
    assert (lag, ref.size, est.size) == (0, 1000, 1000)
    assert align(np.zeros(500), speech[:500])[2] == 0   # nothing to correlate with: no shift


def test_f0_tracker_follows_a_known_contour():
    f0 = contour()
    x = harmonic(f0)                               # voiced throughout
    times, track, voiced = f0_track(x, SR)
    assert times.shape == track.shape == voiced.shape and times.size > 250
    assert np.all(np.diff(times) == pytest.approx(0.01))
    truth = np.interp(times, np.arange(f0.size) / SR, f0)
    assert voiced.mean() > 0.95              # F0 moves up to 186 Hz/s here
    assert np.max(np.abs(track[voiced] / truth[voiced] - 1.0)) < 0.02
    assert np.all(np.isnan(track[~voiced]))


def test_f0_tracker_voicing_decision(speech):
    noise = np.random.default_rng(2).standard_normal(SR)
    assert not f0_track(noise, SR)[2].any()
    assert not f0_track(np.zeros(SR), SR)[2].any()
    _, _, voiced = f0_track(speech, SR)
    assert 0.25 < voiced.mean() < 0.6              # syllables voiced, pauses not
    assert f0_track(np.ones(100), SR)[0].size == 0  # shorter than one frame


def test_f0_correlation_of_pitch_shifted_and_unrelated_contours(speech):
    shifted = speech_like(contour(scale=1.06))     # a semitone up: same shape, linear relation
    assert f0_correlation(speech, shifted, SR) > 0.99
    t = np.arange(speech.size) / SR
    inverted = speech_like(220.0 - 40.0 * np.sin(2 * np.pi * 0.7 * t) - 10.0 * t)
    assert f0_correlation(speech, inverted, SR) < -0.9


def test_unmeasurable_cases_give_nan_with_a_reason(speech):
    notes: dict[str, str] = {}
    noise = np.random.default_rng(3).standard_normal(speech.size).astype(np.float32)
    assert math.isnan(f0_correlation(speech, noise, SR, notes=notes))
    assert "voiced" in notes["f0_corr"]
    silent = np.zeros_like(speech)
    assert math.isnan(pesq_wb(silent, speech, SR, notes=notes)) and "silent" in notes["pesq_wb"]
    assert math.isnan(si_sdr(silent, speech, notes=notes)) and "reference" in notes["si_sdr"]
    short = speech[:1000]                           # 1/16 s: two F0 frames
    assert math.isnan(pesq_nb(short, short, SR, notes=notes)) and "1/4 of a second" in notes["pesq_nb"]
    assert math.isnan(stoi(short, short, SR, notes=notes)) and "too little" in notes["stoi"]
    results = compute_metrics(short, short, notes=(all_notes := {}))
    assert [k for k, v in results.items() if math.isnan(v)] == ["stoi", "pesq_wb", "pesq_nb", "f0_corr"]
    assert set(all_notes) == {"stoi", "pesq_wb", "pesq_nb", "f0_corr"}
    assert results["log_mel_distance"] == 0.0 and results["si_sdr"] == SI_SDR_LIMIT_DB


def test_pesq_resamples_other_rates(speech):
    up = soxr.resample(speech, SR, 24000)
    assert pesq_wb(up, up, 24000) == pytest.approx(4.64, abs=0.01)
    down = soxr.resample(speech, SR, 8000)
    assert pesq_nb(down, down, 8000) == pytest.approx(4.55, abs=0.01)
    degraded = with_noise(down, 10.0)
    assert pesq_nb(down, degraded, 8000) < 3.0


def test_invalid_signals_are_rejected(speech):
    with pytest.raises(AudioError, match="mono"):
        compute_metrics(np.stack([speech, speech]), speech)
    with pytest.raises(AudioError, match="NaN"):
        compute_metrics(speech, np.full(10, np.nan))
    with pytest.raises(AudioError, match="empty"):
        compute_metrics(np.zeros(0), speech)
    with pytest.raises(AudioError, match="align"):
        log_mel_distance(speech, speech[:-1])
    with pytest.raises(AudioError, match="sample rate"):
        compute_metrics(speech, speech, sample_rate=0)


def test_mel_filterbank_shape_and_area():
    bank = mel_filterbank(SR)
    assert bank.shape == (80, 513)
    peaks = np.argmax(bank, axis=1)
    assert np.all(np.diff(peaks) >= 0) and peaks[-1] > 480
    # Slaney normalisation: every triangle has unit area in Hz (up to sampling, for filters many bins wide).
    area = bank.sum(axis=1) * (SR / 2 / 512)
    np.testing.assert_allclose(area[40:], 1.0, rtol=0.015)


def test_summarize_ignores_nan():
    rows = [{"file": "a", **dict.fromkeys(METRIC_NAMES, 1.0)},
            {"file": "b", **dict.fromkeys(METRIC_NAMES, 2.0), "pesq_wb": math.nan},
            {"file": "c", **dict.fromkeys(METRIC_NAMES, 6.0), "f0_corr": math.nan, "pesq_wb": math.nan}]
    summary = summarize(rows)
    assert list(summary) == list(METRIC_NAMES)
    assert summary["si_sdr"] == {"mean": 3.0, "median": 2.0}
    assert summary["f0_corr"] == {"mean": 1.5, "median": 1.5}
    assert summary["pesq_wb"] == {"mean": 1.0, "median": 1.0}
    assert all(math.isnan(v) for v in summarize([{"file": "x", "stoi": math.nan}])["stoi"].values())


def test_write_metrics_csv_round_trip(tmp_path):
    rows = [{"file": "a.wav", **dict.fromkeys(METRIC_NAMES, 0.25), "checkpoint": "tiny"},
            {"file": "b.wav", **dict.fromkeys(METRIC_NAMES, 0.75), "stoi": math.nan, "checkpoint": "tiny"}]
    path = write_metrics_csv(rows, tmp_path / "metrics.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    assert table[0] == ["file", *METRIC_NAMES, "checkpoint"]
    assert [r[0] for r in table[1:]] == ["a.wav", "b.wav", "mean", "median"]
    stoi_col = table[0].index("stoi")
    assert table[2][stoi_col] == ""                 # NaN: empty cell
    assert float(table[3][stoi_col]) == 0.25        # mean ignores it
    assert float(table[3][1]) == 0.5 and float(table[4][1]) == 0.5
    assert table[1][-1] == "tiny" and table[3][-1] == ""
    with pytest.raises(OutputExistsError):
        write_metrics_csv(rows[:1], path)
    assert len(path.read_text(encoding="utf-8").splitlines()) == 5
    write_metrics_csv(rows[:1], path, overwrite=True)
    assert len(path.read_text(encoding="utf-8").splitlines()) == 4
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]
