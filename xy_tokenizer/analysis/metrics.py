"""Reconstruction quality: a reference signal against an estimate (its reconstruction).

Both signals are float mono at the same sample rate, normally :data:`METRICS_SAMPLE_RATE`
(16 kHz: the caller resamples a 24/32 kHz reconstruction first). :func:`compute_metrics`
aligns them with :func:`align` and returns every metric of :data:`METRIC_NAMES`.

A metric that cannot be computed for a pair (silence, too little audio, no voiced frames)
is NaN; pass a ``notes`` dict to learn why (metric name -> reason).
"""
from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from xy_tokenizer.io.audio import resample
from xy_tokenizer.dsp.mel import slaney_filterbank
from xy_tokenizer.errors import AudioError, XYTokenizerError
from xy_tokenizer.io.fsutil import atomic_write

#: Keys of :func:`compute_metrics`, in table / CSV column order.
#: Rate the metrics compare at (wideband PESQ and STOI are defined for 16 kHz speech).
METRICS_SAMPLE_RATE = 16000

METRIC_NAMES = ("log_mel_distance", "mrstft_distance", "si_sdr", "stoi", "pesq_wb", "pesq_nb", "f0_corr")
#: Short column headers: unit and which direction is better.
METRIC_LABELS = {
    "log_mel_distance": "Log-mel dist ↓",
    "mrstft_distance": "MR-STFT dist ↓",
    "si_sdr": "SI-SDR (dB) ↑",
    "stoi": "STOI ↑",
    "pesq_wb": "PESQ-WB ↑",
    "pesq_nb": "PESQ-NB ↑",
    "f0_corr": "F0 corr ↑",
}

#: Largest delay (samples) :func:`align` searches by default: 100 ms at 16 kHz.
DEFAULT_MAX_LAG = METRICS_SAMPLE_RATE // 10

#: Log-mel front end of :func:`log_mel_distance`.
LOG_MEL_N_FFT = 1024
LOG_MEL_HOP = 256
LOG_MEL_BINS = 80
#: Floor on mel power before the log10 (-100 dB).
LOG_MEL_FLOOR = 1e-10

#: (n_fft, hop, window length) of :func:`mrstft_distance`.
MRSTFT_RESOLUTIONS = ((512, 128, 512), (1024, 256, 1024), (2048, 512, 2048))
#: Floor on STFT power before the square root and log (magnitude >= ~3.2e-4).
MRSTFT_POWER_FLOOR = 1e-7

#: SI-SDR is clipped to +-this many dB (identical signals would give +inf).
SI_SDR_LIMIT_DB = 100.0

#: F0 tracker (:func:`f0_track`): search range, hop, integration window and thresholds.
F0_MIN_HZ = 50.0
F0_MAX_HZ = 500.0
F0_HOP_SECONDS = 0.010
F0_WINDOW_SECONDS = 0.025
#: A frame is voiced when its cumulative mean normalised difference dips below this ...
F0_VOICING_THRESHOLD = 0.2
#: ... and its energy is within this many dB of the loudest frame.
F0_ENERGY_RANGE_DB = 40.0
#: :func:`f0_correlation` needs at least this many frames voiced in both signals.
F0_MIN_FRAMES = 5
_F0_CHUNK_FRAMES = 2048

#: Rates the ``pesq`` package accepts (wideband needs 16 kHz).
_PESQ_WB_RATE = 16000
_PESQ_RATES = (8000, 16000)


def _note(notes: dict[str, str] | None, name: str, reason: str) -> float:
    """Record why ``name`` is NaN (when the caller wants to know) and return NaN."""
    if notes is not None:
        notes[name] = reason
    return math.nan


def _as_signal(x, name: str) -> np.ndarray:
    """Validate one signal: (N,) finite, N >= 1; returns float64 (N,)."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise AudioError(f"the {name} signal must be mono, shape (N,); got shape {arr.shape}: mix it down first")
    if arr.size == 0:
        raise AudioError(f"the {name} signal is empty; metrics need audio")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise AudioError(f"the {name} signal must hold real numbers; got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise AudioError(f"the {name} signal holds NaN or infinite samples; fix or re-decode it")
    return arr


def _check_rate(sr) -> int:
    if int(sr) != sr or sr <= 0:
        raise AudioError(f"sample rate must be a positive whole number of Hz; got {sr}")
    return int(sr)


def align(reference, estimate, max_lag: int | None = DEFAULT_MAX_LAG) -> tuple[np.ndarray, np.ndarray, int]:
    """Compensate an integer delay between two signals and trim them to a common length.

    ``reference``: (N,), ``estimate``: (M,). The lag is the ``l`` in ``[-max_lag, max_lag]``
    that maximises the cross-correlation ``sum_n estimate[n] * reference[n - l]`` (computed by
    FFT): ``l > 0`` means the estimate lags behind (``estimate[n] ~ reference[n - l]``). When
    ``max_lag`` is 0 or None, or no lag correlates positively, the lag is 0.

    Returns ``(reference, estimate, lag)``: two float64 (L,) arrays where ``estimate[i]``
    lines up with ``reference[i]``, L the overlap once the lag is removed.
    """
    ref = _as_signal(reference, "reference")
    est = _as_signal(estimate, "estimate")
    lag = 0
    if max_lag:
        if max_lag < 0:
            raise XYTokenizerError(f"max_lag must be 0 or more samples; got {max_lag}")
        from scipy import signal as sps  # imported on use: scipy.signal is slow to import

        corr = sps.correlate(est, ref, mode="full", method="fft")
        lags = sps.correlation_lags(est.size, ref.size, mode="full")
        window = np.abs(lags) <= max_lag
        best = int(np.argmax(corr[window]))
        if corr[window][best] > 0:
            lag = int(lags[window][best])
    if lag > 0:
        est = est[lag:]
    elif lag < 0:
        ref = ref[-lag:]
    n = min(ref.size, est.size)
    if n == 0:
        raise AudioError(f"the signals do not overlap once a delay of {lag} samples is removed")
    return ref[:n], est[:n], lag


def _stft_power(x: np.ndarray, n_fft: int, hop: int, win_length: int) -> np.ndarray:
    """Power spectrogram of ``x`` (N,) -> (frames, n_fft // 2 + 1).

    Periodic Hann window of ``win_length`` centred in ``n_fft``; the signal is zero-padded by
    ``n_fft // 2`` on both sides so frame ``t`` is centred on sample ``t * hop``;
    ``frames = 1 + N // hop``.
    """
    window = np.zeros(n_fft)
    start = (n_fft - win_length) // 2
    from scipy import signal as sps

    window[start:start + win_length] = sps.get_window("hann", win_length, fftbins=True)
    padded = np.pad(x, (n_fft // 2, n_fft // 2))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    spec = np.fft.rfft(frames * window, axis=1)
    return spec.real ** 2 + spec.imag ** 2


def mel_filterbank(sr: int, n_fft: int = LOG_MEL_N_FFT, n_mels: int = LOG_MEL_BINS) -> np.ndarray:
    """The metrics' mel filters: (n_mels, n_fft // 2 + 1), see :func:`xy_tokenizer.mel.slaney_filterbank`."""
    return slaney_filterbank(sr, n_fft, n_mels)


def _log_mel(x: np.ndarray, sr: int) -> np.ndarray:
    """log10 mel power of ``x`` (N,) -> (frames, LOG_MEL_BINS)."""
    power = _stft_power(x, LOG_MEL_N_FFT, LOG_MEL_HOP, LOG_MEL_N_FFT)
    mel = power @ mel_filterbank(sr).T
    return np.log10(np.maximum(mel, LOG_MEL_FLOOR))


def log_mel_distance(reference, estimate, sr: int = METRICS_SAMPLE_RATE) -> float:
    """Mean absolute difference of log10 mel power spectrograms.

    For each signal ``x`` (N,): ``S = |STFT(x)|**2`` (periodic Hann, n_fft 1024, hop 256,
    centred frames with zero padding), ``M = S @ F.T`` with ``F`` the 80-band Slaney mel
    filterbank of :func:`mel_filterbank` (0 Hz to sr/2), ``L = log10(max(M, 1e-10))``.
    The distance is ``mean(|L_ref - L_est|)`` over all frames and mel bands.

    Scaling the estimate by a gain ``g`` multiplies ``M`` by ``g**2``, so wherever neither
    signal touches the floor the distance of ``g * x`` to ``x`` is exactly ``|log10(g**2)|``.
    Both signals must have the same length (see :func:`align`). 0 for identical signals.
    """
    ref, est = _same_length(reference, estimate)
    sr = _check_rate(sr)
    return float(np.mean(np.abs(_log_mel(ref, sr) - _log_mel(est, sr))))


def mrstft_distance(reference, estimate, sr: int = METRICS_SAMPLE_RATE) -> float:
    """Multi-resolution STFT distance (Parallel WaveGAN style), averaged over resolutions.

    For each (n_fft, hop, win) of :data:`MRSTFT_RESOLUTIONS`: magnitudes
    ``R = sqrt(max(|STFT(ref)|**2, 1e-7))``, ``E`` likewise for the estimate; spectral
    convergence ``||R - E||_F / ||R||_F`` plus log-magnitude ``mean(|ln R - ln E|)``. The
    result is the mean of these sums over the three resolutions; 0 for identical signals.
    ``sr`` does not change the computation (the resolutions are in samples); it is accepted
    for a uniform signature. Both signals must have the same length (see :func:`align`).
    """
    ref, est = _same_length(reference, estimate)
    _check_rate(sr)
    losses = []
    for n_fft, hop, win in MRSTFT_RESOLUTIONS:
        r = np.sqrt(np.maximum(_stft_power(ref, n_fft, hop, win), MRSTFT_POWER_FLOOR))
        e = np.sqrt(np.maximum(_stft_power(est, n_fft, hop, win), MRSTFT_POWER_FLOOR))
        convergence = np.linalg.norm(r - e) / np.linalg.norm(r)
        log_mag = np.mean(np.abs(np.log(r) - np.log(e)))
        losses.append(convergence + log_mag)
    return float(np.mean(losses))


def si_sdr(reference, estimate, *, notes: dict[str, str] | None = None) -> float:
    """Scale-invariant signal-to-distortion ratio in dB.

    Both signals (N,) are made zero-mean; the target is the projection of the estimate on the
    reference, ``t = (<e, r> / <r, r>) r``, the distortion ``d = e - t``, and
    SI-SDR = ``10 log10(|t|**2 / |d|**2)``, clipped to +-:data:`SI_SDR_LIMIT_DB` (an estimate
    that is an exact scaled copy gives the upper limit). NaN when either signal is silent.
    """
    ref, est = _same_length(reference, estimate)
    ref = ref - ref.mean()
    est = est - est.mean()
    ref_energy = float(ref @ ref)
    if ref_energy == 0.0:
        return _note(notes, "si_sdr", "the reference is silent (constant)")
    if not np.any(est):
        return _note(notes, "si_sdr", "the estimate is silent (constant)")
    target = (float(est @ ref) / ref_energy) * ref
    distortion = est - target
    target_energy = float(target @ target)
    distortion_energy = float(distortion @ distortion)
    if distortion_energy == 0.0:
        return SI_SDR_LIMIT_DB
    if target_energy == 0.0:
        return -SI_SDR_LIMIT_DB
    value = 10.0 * math.log10(target_energy / distortion_energy)
    return float(min(max(value, -SI_SDR_LIMIT_DB), SI_SDR_LIMIT_DB))


def stoi(reference, estimate, sr: int = METRICS_SAMPLE_RATE, *, notes: dict[str, str] | None = None) -> float:
    """Short-time objective intelligibility (pystoi, classic STOI, not extended), 0..1.

    NaN when fewer than 30 non-silent 256-sample frames (at 10 kHz) remain, about 0.4 s of
    active speech, where pystoi would return a meaningless 1e-5.
    """
    ref, est = _same_length(reference, estimate)
    sr = _check_rate(sr)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import pystoi

        value = float(pystoi.stoi(ref, est, sr, extended=False))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        return _note(notes, "stoi", "too little non-silent audio for STOI (needs about 0.4 s of speech)")
    return value


def _pesq(ref: np.ndarray, est: np.ndarray, sr: int, rate: int, mode: str, name: str,
          notes: dict[str, str] | None) -> float:
    """PESQ (``mode`` 'wb' or 'nb') of same-length signals at ``sr``, resampled to ``rate``."""
    if not np.any(ref) or not np.any(est):
        which = "reference" if not np.any(ref) else "estimate"
        return _note(notes, name, f"the {which} is silent")
    if rate != sr:
        ref = resample(ref, sr, rate)
        est = resample(est, sr, rate)
    import pesq as pesq_lib  # imported on use, like pystoi: the studio imports this module early

    try:
        return float(pesq_lib.pesq(rate, ref, est, mode))
    except pesq_lib.PesqError as exc:
        detail = exc.args[0] if exc.args else type(exc).__name__
        if isinstance(detail, bytes):           # the package's messages are C strings
            detail = detail.decode("utf-8", errors="replace")
        return _note(notes, name, f"PESQ failed: {detail}")


def pesq_wb(reference, estimate, sr: int = METRICS_SAMPLE_RATE, *, notes: dict[str, str] | None = None) -> float:
    """Wideband PESQ (ITU-T P.862.2 MOS-LQO, about 1.04..4.64) at 16 kHz (resampled if needed).

    NaN (reason in ``notes["pesq_wb"]``) for silence, audio too short or without utterances.
    """
    ref, est = _same_length(reference, estimate)
    sr = _check_rate(sr)
    return _pesq(ref, est, sr, _PESQ_WB_RATE, "wb", "pesq_wb", notes)


def pesq_nb(reference, estimate, sr: int = METRICS_SAMPLE_RATE, *, notes: dict[str, str] | None = None) -> float:
    """Narrowband PESQ (ITU-T P.862 MOS-LQO, about 1.02..4.55).

    Computed at ``sr`` when it is 8 or 16 kHz, else after resampling to 16 kHz.
    NaN (reason in ``notes["pesq_nb"]``) for silence, audio too short or without utterances.
    """
    ref, est = _same_length(reference, estimate)
    sr = _check_rate(sr)
    return _pesq(ref, est, sr, sr if sr in _PESQ_RATES else _PESQ_WB_RATE, "nb", "pesq_nb", notes)


def f0_track(x, sr: int = METRICS_SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YIN-style F0 tracker with a voicing decision.

    ``x`` (N,) is cut into frames every :data:`F0_HOP_SECONDS`; frame ``i`` analyses
    ``x[i * hop : i * hop + W + tau_max + 2]`` with ``W`` = :data:`F0_WINDOW_SECONDS` and
    ``tau_max = sr / F0_MIN_HZ``. Per frame: the difference function
    ``d(tau) = sum_{j < W} (x_j - x_{j + tau})**2`` (by FFT), its cumulative mean normalised
    form ``d'(tau) = d(tau) * tau / sum_{1..tau} d``, the first ``tau`` in
    ``[sr / F0_MAX_HZ, tau_max]`` with ``d' <`` :data:`F0_VOICING_THRESHOLD` followed to its local
    minimum and refined by parabolic interpolation; ``F0 = sr / tau``. A frame is voiced when
    such a dip exists and its energy is within :data:`F0_ENERGY_RANGE_DB` of the loudest frame.

    Returns ``(times, f0, voiced)``, each (frames,): frame centres in seconds
    (``(i * hop + frame_length / 2) / sr``), F0 in Hz (NaN where unvoiced), voiced flags.
    No frames when ``x`` is shorter than one frame.
    """
    x = _as_signal(x, "input")
    sr = _check_rate(sr)
    hop = max(1, round(F0_HOP_SECONDS * sr))
    width = max(1, round(F0_WINDOW_SECONDS * sr))
    tau_min = max(2, int(math.floor(sr / F0_MAX_HZ)))
    tau_max = int(math.ceil(sr / F0_MIN_HZ))
    length = width + tau_max + 2
    n_frames = 0 if x.size < length else 1 + (x.size - length) // hop
    times = (np.arange(n_frames) * hop + length / 2) / sr
    f0 = np.full(n_frames, np.nan)
    voiced = np.zeros(n_frames, dtype=bool)
    if n_frames == 0:
        return times, f0, voiced
    squares = np.concatenate([[0.0], np.cumsum(x * x)])
    starts = np.arange(n_frames) * hop
    energy = (squares[starts + width] - squares[starts]) / width
    loud_enough = energy > energy.max() * 10.0 ** (-F0_ENERGY_RANGE_DB / 10.0)
    for first in range(0, n_frames, _F0_CHUNK_FRAMES):
        chunk = slice(first, min(n_frames, first + _F0_CHUNK_FRAMES))
        periods = _yin_periods(x, starts[chunk], width, tau_min, tau_max, length)
        ok = np.isfinite(periods) & loud_enough[chunk]
        f0[chunk][ok] = sr / periods[ok]
        voiced[chunk] = ok
    return times, f0, voiced


def _yin_periods(x: np.ndarray, starts: np.ndarray, width: int, tau_min: int, tau_max: int,
                 length: int) -> np.ndarray:
    """Refined period in samples for the frames starting at ``starts`` (n,); NaN if none."""
    frames = np.lib.stride_tricks.sliding_window_view(x, length)[starts]   # (n, length)
    n_fft = 1 << (length - 1).bit_length()
    lags = tau_max + 2                                                    # tau = 0 .. tau_max + 1
    spectrum = np.conj(np.fft.rfft(frames[:, :width], n_fft)) * np.fft.rfft(frames, n_fft)
    corr = np.fft.irfft(spectrum, n_fft)[:, :lags]
    squares = np.concatenate([np.zeros((frames.shape[0], 1)), np.cumsum(frames * frames, axis=1)], axis=1)
    taus = np.arange(lags)
    shifted = squares[:, taus + width] - squares[:, taus]
    diff = np.maximum(squares[:, width:width + 1] + shifted - 2.0 * corr, 0.0)
    diff[:, 0] = 0.0
    running = np.cumsum(diff[:, 1:], axis=1)
    cmnd = np.ones_like(diff)
    with np.errstate(invalid="ignore", divide="ignore"):
        cmnd[:, 1:] = np.where(running > 0, diff[:, 1:] * taus[1:] / running, 1.0)
    search = np.zeros(lags, dtype=bool)
    search[tau_min:tau_max + 1] = True
    below = (cmnd < F0_VOICING_THRESHOLD) & search
    found = below.any(axis=1)
    first = np.argmax(below, axis=1)
    # Walk from the first dip to its local minimum: the first tau >= first whose successor rises.
    rising = np.ones_like(diff, dtype=bool)
    rising[:, :-1] = cmnd[:, 1:] >= cmnd[:, :-1]
    rising &= taus[None, :] >= first[:, None]
    tau = np.minimum(np.argmax(rising, axis=1), tau_max)
    rows = np.arange(frames.shape[0])
    before, at, after = cmnd[rows, tau - 1], cmnd[rows, tau], cmnd[rows, tau + 1]
    curvature = before - 2.0 * at + after
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = np.where(curvature > 0, 0.5 * (before - after) / curvature, 0.0)
    periods = tau + np.clip(shift, -0.5, 0.5)
    return np.where(found, periods, np.nan)


def f0_correlation(reference, estimate, sr: int = METRICS_SAMPLE_RATE, *,
                   notes: dict[str, str] | None = None) -> float:
    """Pearson correlation of the F0 contours (:func:`f0_track`) on frames voiced in both.

    NaN when fewer than :data:`F0_MIN_FRAMES` frames are voiced in both or when either
    contour is constant on them (the correlation is undefined).
    """
    ref, est = _same_length(reference, estimate)
    sr = _check_rate(sr)
    _, f0_ref, voiced_ref = f0_track(ref, sr)
    _, f0_est, voiced_est = f0_track(est, sr)
    both = voiced_ref & voiced_est
    if int(both.sum()) < F0_MIN_FRAMES:
        return _note(notes, "f0_corr", f"only {int(both.sum())} frames are voiced in both signals "
                                       f"(needs {F0_MIN_FRAMES})")
    a, b = f0_ref[both], f0_est[both]
    if np.ptp(a) == 0.0 or np.ptp(b) == 0.0:
        return _note(notes, "f0_corr", "F0 is constant on the voiced frames; correlation is undefined")
    return float(np.corrcoef(a, b)[0, 1])


def _same_length(reference, estimate) -> tuple[np.ndarray, np.ndarray]:
    ref = _as_signal(reference, "reference")
    est = _as_signal(estimate, "estimate")
    if ref.size != est.size:
        raise AudioError(f"reference ({ref.size} samples) and estimate ({est.size} samples) differ in "
                         "length; align them first (metrics.align)")
    return ref, est


def compute_metrics(reference, estimate, sample_rate: int = METRICS_SAMPLE_RATE, *,
                    max_lag: int | None = DEFAULT_MAX_LAG,
                    notes: dict[str, str] | None = None) -> dict[str, float]:
    """Every metric of :data:`METRIC_NAMES`, in that order, for an original and its reconstruction.

    ``reference`` (N,) and ``estimate`` (M,) at ``sample_rate`` are first aligned with
    :func:`align` (delay search within ``max_lag`` samples, then trimmed to the overlap).
    Metrics that cannot be computed are NaN, with the reason in ``notes`` when given.
    """
    sr = _check_rate(sample_rate)
    ref, est, _ = align(reference, estimate, max_lag)
    return {
        "log_mel_distance": log_mel_distance(ref, est, sr),
        "mrstft_distance": mrstft_distance(ref, est, sr),
        "si_sdr": si_sdr(ref, est, notes=notes),
        "stoi": stoi(ref, est, sr, notes=notes),
        "pesq_wb": pesq_wb(ref, est, sr, notes=notes),
        "pesq_nb": pesq_nb(ref, est, sr, notes=notes),
        "f0_corr": f0_correlation(ref, est, sr, notes=notes),
    }


def summarize(rows: Iterable[Mapping[str, object]]) -> dict[str, dict[str, float]]:
    """Mean and median of each metric of :data:`METRIC_NAMES` over ``rows``, ignoring NaN.

    ``rows``: one mapping per file (metric name -> value; other keys are ignored). Returns
    ``{metric: {"mean": m, "median": md}}`` for every metric; NaN where no row has a value.
    """
    rows = list(rows)
    summary = {}
    for name in METRIC_NAMES:
        values = np.array([float(row[name]) for row in rows if row.get(name) is not None], dtype=np.float64)
        values = values[~np.isnan(values)]
        summary[name] = {
            "mean": float(values.mean()) if values.size else math.nan,
            "median": float(np.median(values)) if values.size else math.nan,
        }
    return summary


def _cell(value) -> str:
    """CSV text of one value: floats in full precision, NaN / missing as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else repr(float(value))
    return str(value)


def write_metrics_csv(rows: Iterable[Mapping[str, object]], path: str | Path, *, overwrite: bool = False) -> Path:
    """Write one row per file, then a ``mean`` and a ``median`` row, as CSV (atomic).

    ``rows``: mappings with a ``"file"`` key and metric keys of :data:`METRIC_NAMES`; other
    keys become extra columns after the metrics, in order of first appearance. NaN and missing
    values are empty cells; numbers are written in full precision. Raises
    :class:`~xy_tokenizer.fsutil.OutputExistsError` when ``path`` exists and not ``overwrite``.
    Returns the path written.
    """
    rows = list(rows)
    columns = ["file", *METRIC_NAMES]
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    summary = summarize(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    for stat in ("mean", "median"):
        writer.writerow([stat] + [_cell(summary[c][stat]) if c in summary else "" for c in columns[1:]])
    path = Path(path)
    with atomic_write(path, overwrite=overwrite) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
    return path
