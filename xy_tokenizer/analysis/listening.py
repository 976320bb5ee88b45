"""Blind listening tests: ABX and MUSHRA-style ratings (ITU-R BS.1534), their stimuli, results and files.

Qt-free and torch-free: the studio shows the screens, this module plans the trials, records
the answers, scores them and saves them.

ABX (:class:`AbxSession`): ``n`` trials of A, B and an unknown X that is A or B, drawn per trial
by a seeded random generator (the seed is stored, so a plan can be rebuilt). The listener says
which one X is; the score is the number correct ``k`` of ``n`` answered and the one-sided
binomial p-value ``P(K >= k | n, 0.5)``: the chance of doing at least that well by guessing.

MUSHRA (:class:`MushraSession`): per trial, one clip played as a hidden reference
(:data:`REFERENCE`), a 3.5 kHz low-pass anchor (:data:`ANCHOR`, made by :func:`lowpass_anchor`)
and each codec's reconstruction, in a random order per trial; each is rated 0..100.
:func:`summarize_mushra` gives each condition's mean with a 95 % confidence interval (t
distribution) over the raters kept by post-screening (:meth:`MushraSession.screening`: a rater
who rates the hidden reference below 90 in more than 15 % of the trials is excluded, as
BS.1534-3 section 4.1.2 prescribes).

Files: every session saves to JSON (:meth:`save_json`, the whole session) and CSV
(:meth:`write_csv`: ABX one row per trial, MUSHRA one row per trial and stimulus) and loads back
from either (:func:`load_session`). Writes are atomic; an existing file is kept unless
``overwrite``. Timestamps are ISO 8601 UTC strings.
"""
from __future__ import annotations

import csv
import io
import json
import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from xy_tokenizer.analysis.loudness import LoudnessGain, apply_gain, gain_to_match
from xy_tokenizer.errors import AudioError, XYTokenizerError
from xy_tokenizer.io.audio import resample
from xy_tokenizer.io.fsutil import atomic_write

#: Version of the session files this module writes (the ``format`` field of the JSON).
SESSION_FORMAT = 1
ABX_KIND, MUSHRA_KIND = "abx", "mushra"
ABX_CHOICES = ("A", "B")

#: MUSHRA condition names of the hidden reference and the low-pass anchor (codec labels may not use them).
REFERENCE = "reference"
ANCHOR = "anchor"
RATING_MIN, RATING_MAX = 0.0, 100.0
#: Low-pass anchor of BS.1534-3: cutoff (Hz) and Butterworth order (run forward and backward,
#: so the magnitude response is squared: 2 x 8 = 16th-order roll-off, zero phase).
ANCHOR_CUTOFF_HZ = 3500.0
ANCHOR_ORDER = 8
#: Post-screening (BS.1534-3, 4.1.2): hidden reference rated below this ...
SCREEN_REFERENCE_BELOW = 90.0
#: ... in more than this fraction of the trials excludes the rater.
SCREEN_MAX_FRACTION = 0.15
CONFIDENCE = 0.95


class ListeningTestError(XYTokenizerError):
    """A listening-test session used wrongly or a session file that cannot be read."""


def now_iso() -> str:
    """The current time as an ISO 8601 UTC string with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def new_seed() -> int:
    """A fresh random seed (stored in the session so the plan can be rebuilt)."""
    return secrets.randbits(32)


# ----------------------------------------------------------------------------- statistics

def abx_p_value(correct: int, trials: int) -> float:
    """One-sided binomial p-value ``P(K >= correct)`` for ``K ~ Binomial(trials, 0.5)``.

    The chance of at least ``correct`` right answers out of ``trials`` by guessing; 1.0 when
    no trial was answered. ``scipy.stats.binomtest`` (exact).
    """
    if trials < 0 or not 0 <= correct <= max(trials, 0):
        raise ListeningTestError(f"need 0 <= correct <= trials; got {correct} of {trials}")
    if trials == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(int(correct), int(trials), 0.5, alternative="greater").pvalue)


@dataclass(frozen=True)
class MeanCI:
    """Mean of ``n`` values with a two-sided confidence interval from the t distribution.

    ``half_width = t_{(1+confidence)/2, n-1} * std / sqrt(n)`` (``std`` with ``n - 1``); NaN
    interval when ``n < 2``, all NaN when ``n == 0``.
    """

    mean: float
    low: float
    high: float
    half_width: float
    std: float
    n: int
    confidence: float = CONFIDENCE

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in (("mean", self.mean), ("ci_low", self.low), ("ci_high", self.high),
                             ("ci_half_width", self.half_width), ("std", self.std), ("n", self.n),
                             ("confidence", self.confidence))}


def mean_ci(values: Iterable[float], confidence: float = CONFIDENCE) -> MeanCI:
    """:class:`MeanCI` of the finite ``values``."""
    data = np.array([float(v) for v in values], dtype=np.float64)
    data = data[np.isfinite(data)]
    n = int(data.size)
    if n == 0:
        return MeanCI(math.nan, math.nan, math.nan, math.nan, math.nan, 0, confidence)
    mean = float(data.mean())
    if n == 1:
        return MeanCI(mean, math.nan, math.nan, math.nan, math.nan, 1, confidence)
    from scipy.stats import t as student_t

    std = float(data.std(ddof=1))
    half = float(student_t.ppf((1.0 + confidence) / 2.0, n - 1)) * std / math.sqrt(n)
    return MeanCI(mean, mean - half, mean + half, half, std, n, confidence)


# ----------------------------------------------------------------------------- files

def _write_text(path: Path, text: str, overwrite: bool) -> Path:
    path = Path(path)
    with atomic_write(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


def _read_csv(path: Path, needed: Sequence[str]) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ListeningTestError(f"{path}: cannot read the session CSV ({exc})") from exc
    missing = [c for c in needed if c not in columns]
    if missing:
        raise ListeningTestError(f"{path}: not a session CSV written by this program (no column "
                                 f"{', '.join(missing)})")
    if not rows:
        raise ListeningTestError(f"{path}: the session CSV has no trials")
    return rows


def _optional_float(text: str, path: Path, what: str) -> float | None:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise ListeningTestError(f"{path}: {what} {text!r} is not a number") from None


def _int(text: object, path: Path, what: str) -> int:
    try:
        return int(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ListeningTestError(f"{path}: {what} {text!r} is not a whole number") from None


# ----------------------------------------------------------------------------- ABX

@dataclass
class AbxTrial:
    """One ABX trial: ``x`` is what X really is ("A" or "B"); ``answer`` the listener's ("A", "B" or None)."""

    index: int
    x: str
    answer: str | None = None
    answered_at: str | None = None

    @property
    def answered(self) -> bool:
        return self.answer is not None

    @property
    def correct(self) -> bool | None:
        return None if self.answer is None else self.answer == self.x


@dataclass(frozen=True)
class AbxScore:
    """``correct`` of ``answered`` (of ``trials`` planned) and the binomial p-value of that."""

    trials: int
    answered: int
    correct: int
    p_value: float

    def significant(self, alpha: float = 0.05) -> bool:
        """True when guessing is unlikely (``p_value < alpha``): the listener hears a difference."""
        return self.answered > 0 and self.p_value < alpha

    def to_dict(self) -> dict:
        return {"trials": self.trials, "answered": self.answered, "correct": self.correct, "p_value": self.p_value}


@dataclass
class AbxSession:
    """An ABX test of two stimuli labelled ``a`` and ``b`` (e.g. ``"original"`` and a codec label).

    Make one with :meth:`plan`; play trial ``i`` as A, B and X = :meth:`x_label` (``i``); record
    with :meth:`answer`.
    """

    a: str
    b: str
    trials: list[AbxTrial]
    seed: int
    clip: str = ""
    rater: str = ""
    created_at: str = field(default_factory=now_iso)

    kind = ABX_KIND

    @classmethod
    def plan(cls, a: str, b: str, n_trials: int, *, seed: int | None = None, clip: str = "",
             rater: str = "") -> "AbxSession":
        """``n_trials`` trials, X drawn at random (A or B with equal chance) per trial from ``seed``."""
        if isinstance(n_trials, bool) or int(n_trials) != n_trials or n_trials < 1:
            raise ListeningTestError(f"an ABX test needs at least 1 trial; got {n_trials!r}")
        if a == b:
            raise ListeningTestError(f"A and B are both {a!r}; choose two different stimuli")
        seed = new_seed() if seed is None else int(seed)
        draws = np.random.default_rng(seed).integers(0, 2, size=int(n_trials))
        trials = [AbxTrial(i, ABX_CHOICES[int(d)]) for i, d in enumerate(draws)]
        return cls(a=a, b=b, trials=trials, seed=seed, clip=clip, rater=rater)

    # -- running
    def _trial(self, index: int) -> AbxTrial:
        if not 0 <= index < len(self.trials):
            raise ListeningTestError(f"there is no ABX trial {index}; trials are 0..{len(self.trials) - 1}")
        return self.trials[index]

    def label_of(self, choice: str) -> str:
        """The stimulus label behind ``"A"`` or ``"B"``."""
        if choice not in ABX_CHOICES:
            raise ListeningTestError(f"an ABX choice is 'A' or 'B'; got {choice!r}")
        return self.a if choice == "A" else self.b

    def x_label(self, index: int) -> str:
        """The stimulus label X plays in trial ``index``."""
        return self.label_of(self._trial(index).x)

    def next_index(self) -> int | None:
        """The first unanswered trial, or None when all are answered."""
        return next((t.index for t in self.trials if not t.answered), None)

    @property
    def complete(self) -> bool:
        return self.next_index() is None

    def answer(self, index: int, choice: str, *, at: str | None = None, replace: bool = False) -> AbxTrial:
        """Record that the listener thinks X is ``choice`` ("A" or "B") in trial ``index``.

        An answered trial keeps its answer unless ``replace``. Returns the trial.
        """
        self.label_of(choice)
        trial = self._trial(index)
        if trial.answered and not replace:
            raise ListeningTestError(f"ABX trial {index + 1} is already answered ({trial.answer})")
        trial.answer, trial.answered_at = choice, at or now_iso()
        return trial

    def score(self) -> AbxScore:
        answered = [t for t in self.trials if t.answered]
        correct = sum(1 for t in answered if t.correct)
        return AbxScore(len(self.trials), len(answered), correct, abx_p_value(correct, len(answered)))

    # -- files
    def to_dict(self) -> dict:
        return {"kind": ABX_KIND, "format": SESSION_FORMAT, "a": self.a, "b": self.b, "seed": self.seed,
                "clip": self.clip, "rater": self.rater, "created_at": self.created_at,
                "trials": [{"index": t.index, "x": t.x, "answer": t.answer, "answered_at": t.answered_at}
                           for t in self.trials],
                "score": self.score().to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "the session") -> "AbxSession":
        try:
            trials = [AbxTrial(int(t["index"]), str(t["x"]), t.get("answer"), t.get("answered_at"))
                      for t in data["trials"]]
            session = cls(a=str(data["a"]), b=str(data["b"]), trials=trials, seed=int(data["seed"]),
                          clip=str(data.get("clip", "")), rater=str(data.get("rater", "")),
                          created_at=str(data.get("created_at", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ListeningTestError(f"{source}: not an ABX session ({type(exc).__name__}: {exc})") from exc
        for i, t in enumerate(session.trials):
            if t.index != i or t.x not in ABX_CHOICES or (t.answer is not None and t.answer not in ABX_CHOICES):
                raise ListeningTestError(f"{source}: ABX trial {i} is damaged (index {t.index}, x {t.x!r}, "
                                         f"answer {t.answer!r})")
        return session

    def save_json(self, path: str | Path, *, overwrite: bool = False) -> Path:
        return _write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n", overwrite)

    CSV_COLUMNS = ("kind", "a", "b", "clip", "rater", "seed", "created_at", "trial", "x", "x_label",
                   "answer", "correct", "answered_at")

    def write_csv(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """One row per trial (1-based ``trial``); the session's facts repeat on every row."""
        rows = [(ABX_KIND, self.a, self.b, self.clip, self.rater, self.seed, self.created_at, t.index + 1, t.x,
                 self.label_of(t.x), t.answer, None if t.correct is None else int(t.correct), t.answered_at)
                for t in self.trials]
        return _write_text(Path(path), _csv_text(self.CSV_COLUMNS, rows), overwrite)

    @classmethod
    def read_csv(cls, path: str | Path) -> "AbxSession":
        path = Path(path)
        rows = _read_csv(path, ("kind", "a", "b", "seed", "trial", "x", "answer"))
        first = rows[0]
        trials = [{"index": _int(r["trial"], path, "trial") - 1, "x": r["x"], "answer": r["answer"] or None,
                   "answered_at": r.get("answered_at") or None} for r in rows]
        return cls.from_dict({"a": first["a"], "b": first["b"], "seed": _int(first["seed"], path, "seed"),
                              "clip": first.get("clip", ""), "rater": first.get("rater", ""),
                              "created_at": first.get("created_at", ""), "trials": trials}, str(path))


# ----------------------------------------------------------------------------- MUSHRA stimuli

def lowpass_anchor(x, rate: int, cutoff: float = ANCHOR_CUTOFF_HZ, *, order: int = ANCHOR_ORDER,
                   loudness_match: bool = True) -> tuple[np.ndarray, LoudnessGain | None]:
    """The low-pass anchor of ``x`` ((N,) at ``rate``): Butterworth low-pass at ``cutoff`` Hz, zero phase.

    ``scipy.signal.butter`` (second-order sections) run forward and backward with
    ``sosfiltfilt``, so the anchor has the same length and timing as ``x``. With
    ``loudness_match`` it is then brought to ``x``'s BS.1770 loudness (peak-safe; the gain is
    returned, else None). Returns ``(anchor (N,) float32, gain)``. Raises :class:`AudioError`
    when ``rate / 2 <= cutoff`` (nothing to remove) or ``x`` is not a finite (N,) signal.
    """
    from scipy import signal as sps

    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise AudioError(f"the anchor needs a finite mono signal of shape (N,), N >= 1; got shape {arr.shape}")
    if rate / 2 <= cutoff:
        raise AudioError(f"a {cutoff:g} Hz low-pass anchor needs audio sampled above {2 * cutoff:g} Hz; "
                         f"this is at {rate} Hz")
    sos = sps.butter(order, cutoff, btype="low", fs=rate, output="sos")
    padlen = min(3 * (2 * sos.shape[0] + 1), arr.size - 1)
    anchor = sps.sosfiltfilt(sos, arr, padlen=max(padlen, 0))
    gain = None
    if loudness_match:
        gain = gain_to_match(arr, anchor, rate)
        return apply_gain(anchor, gain), gain
    return anchor.astype(np.float32), gain


@dataclass
class Stimulus:
    """One playable stimulus: ``audio`` (N,) float32 at ``rate``, after ``gain`` (None: not matched),
    shifted earlier by ``lag`` samples (negative: later) to line up with the reference."""

    condition: str
    audio: np.ndarray
    rate: int
    gain: LoudnessGain | None = None
    lag: int = 0


#: Largest delay between a reconstruction and its original that :func:`time_aligned` removes.
MAX_ALIGN_SECONDS = 0.1


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """``x`` cut or zero-padded at the end to ``n`` samples."""
    return x[:n] if x.shape[0] >= n else np.pad(x, (0, n - x.shape[0]))


def time_aligned(reference, x, rate: int, max_lag_seconds: float = MAX_ALIGN_SECONDS) -> tuple[np.ndarray, int]:
    """``x`` shifted to line up with ``reference`` (both (N,)/(M,) at ``rate``) and fitted to N samples.

    The delay is the cross-correlation peak within ``max_lag_seconds``
    (:func:`xy_tokenizer.analysis.metrics.align`); a codec's delay would otherwise tell a
    listener which stimulus is playing when switching. Returns ``(aligned (N,) float32, lag)``,
    ``lag > 0`` when ``x`` was late and its first ``lag`` samples were dropped.
    """
    from xy_tokenizer.analysis.metrics import align

    ref = np.asarray(reference, dtype=np.float32)
    est = np.asarray(x, dtype=np.float32)
    _, _, lag = align(ref, est, max(0, int(round(max_lag_seconds * rate))))
    shifted = est[lag:] if lag >= 0 else np.pad(est, (-lag, 0))
    return _fit(shifted, ref.shape[0]).astype(np.float32), int(lag)


def listening_stimuli(reference, rate: int, others: Mapping[str, tuple[np.ndarray, int]], *,
                      out_rate: int | None = None, anchor_cutoff: float | None = None,
                      loudness_match: bool = True, align: bool = True) -> dict[str, Stimulus]:
    """Stimuli to play and switch between at the same position (ABX, MUSHRA, the studio's A/B/1..9).

    ``reference``: the original (N,) at ``rate``; ``others``: label -> ``(audio (M,), its
    rate)``. Everything is resampled to ``out_rate`` (default: the highest rate given, so no
    reconstruction loses its band); with ``align`` each other signal's delay against the
    reference is removed (:func:`time_aligned`), else it is only cut or zero-padded to the
    reference's length; with ``loudness_match`` each is brought to the reference's BS.1770
    loudness (peak-safe). With ``anchor_cutoff`` (Hz) a low-pass anchor (:func:`lowpass_anchor`)
    is added as :data:`ANCHOR`. Returns label -> :class:`Stimulus`: :data:`REFERENCE`, then
    :data:`ANCHOR` when made, then ``others`` in their order.
    """
    for label in others:
        if label in (REFERENCE, ANCHOR) or not label:
            raise ListeningTestError(f"a stimulus cannot be labelled {label!r} (reserved or empty)")
    ref = np.asarray(reference, dtype=np.float32)
    if ref.ndim != 1 or ref.size == 0:
        raise AudioError(f"the reference must be a mono signal of shape (N,), N >= 1; got shape {ref.shape}")
    target_rate = int(out_rate or max([rate, *(r for _, r in others.values())]))
    ref_out = resample(ref, rate, target_rate)
    n = ref_out.shape[0]
    stimuli = {REFERENCE: Stimulus(REFERENCE, ref_out, target_rate)}
    if anchor_cutoff is not None:
        anchor, gain = lowpass_anchor(ref_out, target_rate, anchor_cutoff, loudness_match=loudness_match)
        stimuli[ANCHOR] = Stimulus(ANCHOR, anchor, target_rate, gain)
    for label, (audio, audio_rate) in others.items():
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1 or audio.size == 0 or not np.all(np.isfinite(audio)):
            raise AudioError(f"the audio of {label} must be a finite mono signal of shape (N,), N >= 1; "
                             f"got shape {audio.shape}")
        out = resample(audio, int(audio_rate), target_rate)
        lag = 0
        if align:
            out, lag = time_aligned(ref_out, out, target_rate)
        else:
            out = _fit(out, n)
        gain = gain_to_match(ref_out, out, target_rate) if loudness_match else None
        stimuli[label] = Stimulus(label, apply_gain(out, gain) if gain is not None else out, target_rate, gain, lag)
    return stimuli


def mushra_stimuli(reference, rate: int, reconstructions: Mapping[str, tuple[np.ndarray, int]], *,
                   out_rate: int | None = None, anchor_cutoff: float = ANCHOR_CUTOFF_HZ,
                   loudness_match: bool = True, align: bool = True) -> dict[str, Stimulus]:
    """The stimuli of one MUSHRA clip: :func:`listening_stimuli` with the low-pass anchor.

    Returns condition -> :class:`Stimulus`: :data:`REFERENCE` (the hidden reference),
    :data:`ANCHOR`, then the codecs in the given order.
    """
    return listening_stimuli(reference, rate, reconstructions, out_rate=out_rate, anchor_cutoff=anchor_cutoff,
                             loudness_match=loudness_match, align=align)


# ----------------------------------------------------------------------------- MUSHRA sessions

@dataclass
class MushraTrial:
    """One MUSHRA screen: ``clip`` with the conditions in presentation ``order`` (slider 1 first)
    and ``ratings`` condition -> 0..100."""

    index: int
    clip: str
    order: list[str]
    ratings: dict[str, float] = field(default_factory=dict)
    rated_at: str | None = None

    @property
    def complete(self) -> bool:
        return all(c in self.ratings for c in self.order)


@dataclass(frozen=True)
class Screening:
    """Post-screening of one rater: hidden reference rated below 90 in ``low`` of ``trials`` trials."""

    rater: str
    trials: int
    low: int
    excluded: bool

    @property
    def fraction(self) -> float:
        return self.low / self.trials if self.trials else 0.0

    def to_dict(self) -> dict:
        return {"rater": self.rater, "trials": self.trials, "reference_below_90": self.low,
                "fraction": self.fraction, "excluded": self.excluded}


@dataclass
class MushraSession:
    """One rater's MUSHRA session: ``conditions`` = :data:`REFERENCE`, :data:`ANCHOR` (when used),
    then the codec labels; ``codecs`` holds facts per codec label (e.g. ``{"bitrate": 1000.0}``)."""

    conditions: list[str]
    trials: list[MushraTrial]
    seed: int
    rater: str = ""
    codecs: dict[str, dict] = field(default_factory=dict)
    created_at: str = field(default_factory=now_iso)

    kind = MUSHRA_KIND

    @classmethod
    def plan(cls, clips: str | Sequence[str], codecs: Sequence[str] | Mapping[str, Mapping], *,
             repeats: int = 1, seed: int | None = None, rater: str = "", anchor: bool = True) -> "MushraSession":
        """Trials for ``clips`` (one name or several), each ``repeats`` times.

        ``codecs``: codec labels, or label -> facts (``bitrate`` in bit/s is used by the
        summaries). Each trial shows the hidden reference, the anchor (unless ``anchor`` is
        False) and every codec in an order shuffled per trial; with several trials their order is
        shuffled too. Everything is drawn from ``seed`` (stored).
        """
        clip_list = [clips] if isinstance(clips, str) else list(clips)
        facts = {str(k): dict(v) for k, v in codecs.items()} if isinstance(codecs, Mapping) \
            else {str(k): {} for k in codecs}
        if not clip_list:
            raise ListeningTestError("a MUSHRA test needs at least one clip")
        if not facts:
            raise ListeningTestError("a MUSHRA test needs at least one codec to rate")
        for label in facts:
            if label in (REFERENCE, ANCHOR) or not label:
                raise ListeningTestError(f"a codec cannot be labelled {label!r} in a MUSHRA test (reserved or empty)")
        if isinstance(repeats, bool) or int(repeats) != repeats or repeats < 1:
            raise ListeningTestError(f"repeats must be a whole number >= 1; got {repeats!r}")
        conditions = [REFERENCE, *([ANCHOR] if anchor else []), *facts]
        seed = new_seed() if seed is None else int(seed)
        rng = np.random.default_rng(seed)
        plan_clips = [c for c in clip_list for _ in range(int(repeats))]
        plan_clips = [plan_clips[i] for i in rng.permutation(len(plan_clips))]
        trials = [MushraTrial(i, clip, [conditions[j] for j in rng.permutation(len(conditions))])
                  for i, clip in enumerate(plan_clips)]
        return cls(conditions=conditions, trials=trials, seed=seed, rater=rater, codecs=facts)

    def _trial(self, index: int) -> MushraTrial:
        if not 0 <= index < len(self.trials):
            raise ListeningTestError(f"there is no MUSHRA trial {index}; trials are 0..{len(self.trials) - 1}")
        return self.trials[index]

    def rate(self, index: int, ratings: Mapping[str, float], *, at: str | None = None) -> MushraTrial:
        """Record ratings (condition -> 0..100) for trial ``index``; later ratings replace earlier ones."""
        trial = self._trial(index)
        checked = {}
        for condition, value in ratings.items():
            if condition not in trial.order:
                raise ListeningTestError(f"MUSHRA trial {index + 1} has no condition {condition!r}; it has "
                                         f"{', '.join(trial.order)}")
            value = float(value)
            if not RATING_MIN <= value <= RATING_MAX:
                raise ListeningTestError(f"a MUSHRA rating is 0..100; got {value:g} for {condition}")
            checked[condition] = value
        trial.ratings.update(checked)
        trial.rated_at = at or now_iso()
        return trial

    def rate_positions(self, index: int, values: Sequence[float], *, at: str | None = None) -> MushraTrial:
        """Record the sliders' values in presentation order (as many values as conditions)."""
        trial = self._trial(index)
        if len(values) != len(trial.order):
            raise ListeningTestError(f"MUSHRA trial {index + 1} has {len(trial.order)} stimuli; "
                                     f"got {len(values)} ratings")
        return self.rate(index, dict(zip(trial.order, values)), at=at)

    def next_index(self) -> int | None:
        return next((t.index for t in self.trials if not t.complete), None)

    @property
    def complete(self) -> bool:
        return self.next_index() is None

    def screening(self) -> Screening:
        """BS.1534-3 post-screening over the trials whose hidden reference is rated."""
        rated = [t for t in self.trials if REFERENCE in t.ratings]
        low = sum(1 for t in rated if t.ratings[REFERENCE] < SCREEN_REFERENCE_BELOW)
        excluded = bool(rated) and low / len(rated) > SCREEN_MAX_FRACTION
        return Screening(self.rater, len(rated), low, excluded)

    def ratings_of(self, condition: str) -> list[float]:
        return [t.ratings[condition] for t in self.trials if condition in t.ratings]

    def summary(self) -> dict[str, MeanCI]:
        """This session alone: condition -> :class:`MeanCI` of its ratings (no screening applied)."""
        return {c: mean_ci(self.ratings_of(c)) for c in self.conditions}

    # -- files
    def to_dict(self) -> dict:
        return {"kind": MUSHRA_KIND, "format": SESSION_FORMAT, "conditions": list(self.conditions),
                "codecs": self.codecs, "seed": self.seed, "rater": self.rater, "created_at": self.created_at,
                "trials": [{"index": t.index, "clip": t.clip, "order": list(t.order), "ratings": dict(t.ratings),
                            "rated_at": t.rated_at} for t in self.trials],
                "screening": self.screening().to_dict(),
                "summary": {c: s.to_dict() for c, s in self.summary().items()}}

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "the session") -> "MushraSession":
        try:
            conditions = [str(c) for c in data["conditions"]]
            trials = [MushraTrial(int(t["index"]), str(t["clip"]), [str(c) for c in t["order"]],
                                  {str(k): float(v) for k, v in (t.get("ratings") or {}).items()},
                                  t.get("rated_at")) for t in data["trials"]]
            session = cls(conditions=conditions, trials=trials, seed=int(data["seed"]),
                          rater=str(data.get("rater", "")),
                          codecs={str(k): dict(v) for k, v in (data.get("codecs") or {}).items()},
                          created_at=str(data.get("created_at", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ListeningTestError(f"{source}: not a MUSHRA session ({type(exc).__name__}: {exc})") from exc
        for i, t in enumerate(session.trials):
            if t.index != i or sorted(t.order) != sorted(conditions) or not set(t.ratings) <= set(conditions):
                raise ListeningTestError(f"{source}: MUSHRA trial {i} is damaged (its stimuli are not the "
                                         "session's conditions)")
            if any(not RATING_MIN <= v <= RATING_MAX for v in t.ratings.values()):
                raise ListeningTestError(f"{source}: MUSHRA trial {i} has a rating outside 0..100")
        return session

    def save_json(self, path: str | Path, *, overwrite: bool = False) -> Path:
        return _write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n", overwrite)

    CSV_COLUMNS = ("kind", "rater", "seed", "created_at", "trial", "clip", "position", "condition",
                   "condition_index", "bitrate_bps", "rating", "rated_at")

    def write_csv(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """One row per trial and stimulus, in presentation order (1-based ``trial`` and ``position``)."""
        rows = []
        for t in self.trials:
            for position, condition in enumerate(t.order, start=1):
                rows.append((MUSHRA_KIND, self.rater, self.seed, self.created_at, t.index + 1, t.clip, position,
                             condition, self.conditions.index(condition),
                             self.codecs.get(condition, {}).get("bitrate"), t.ratings.get(condition), t.rated_at))
        return _write_text(Path(path), _csv_text(self.CSV_COLUMNS, rows), overwrite)

    @classmethod
    def read_csv(cls, path: str | Path) -> "MushraSession":
        path = Path(path)
        rows = _read_csv(path, ("kind", "seed", "trial", "clip", "position", "condition", "condition_index",
                                "rating"))
        conditions: dict[int, str] = {}
        codecs: dict[str, dict] = {}
        trials: dict[int, dict] = {}
        for r in rows:
            conditions[_int(r["condition_index"], path, "condition_index")] = r["condition"]
            if r["condition"] not in (REFERENCE, ANCHOR):
                bitrate = _optional_float(r.get("bitrate_bps", ""), path, "bitrate")
                codecs.setdefault(r["condition"], {} if bitrate is None else {"bitrate": bitrate})
            index = _int(r["trial"], path, "trial") - 1
            trial = trials.setdefault(index, {"index": index, "clip": r["clip"], "order": {}, "ratings": {},
                                              "rated_at": r.get("rated_at") or None})
            trial["order"][_int(r["position"], path, "position")] = r["condition"]
            rating = _optional_float(r["rating"], path, "rating")
            if rating is not None:
                trial["ratings"][r["condition"]] = rating
        if sorted(conditions) != list(range(len(conditions))):
            raise ListeningTestError(f"{path}: the condition indices are not 0..{len(conditions) - 1}")
        first = rows[0]
        data = {"conditions": [conditions[i] for i in range(len(conditions))], "codecs": codecs,
                "seed": _int(first["seed"], path, "seed"), "rater": first.get("rater", ""),
                "created_at": first.get("created_at", ""),
                "trials": [{**t, "order": [t["order"][p] for p in sorted(t["order"])]}
                           for _, t in sorted(trials.items())]}
        return cls.from_dict(data, str(path))


# ----------------------------------------------------------------------------- across sessions

@dataclass(frozen=True)
class MushraSummary:
    """Ratings pooled over the raters kept by post-screening.

    ``conditions``: condition -> :class:`MeanCI`; ``codecs``: the same for codec conditions
    only, with ``bitrate`` (bit/s, NaN when unknown) in :attr:`bitrates`; ``screening``: one
    entry per session, ``excluded`` ones left out of the statistics (unless screening was off).
    """

    conditions: dict[str, MeanCI]
    bitrates: dict[str, float]
    screening: list[Screening]

    @property
    def codecs(self) -> dict[str, MeanCI]:
        return {c: s for c, s in self.conditions.items() if c not in (REFERENCE, ANCHOR)}

    def to_dict(self) -> dict:
        return {"conditions": {c: s.to_dict() for c, s in self.conditions.items()},
                "codecs": {c: {**s.to_dict(), "bitrate": None if math.isnan(self.bitrates.get(c, math.nan))
                               else self.bitrates[c]} for c, s in self.codecs.items()},
                "screening": [s.to_dict() for s in self.screening]}


def summarize_mushra(sessions: Sequence[MushraSession], *, screen: bool = True,
                     confidence: float = CONFIDENCE) -> MushraSummary:
    """Per condition: mean rating, its ``confidence`` CI (t distribution) and ``n`` over every
    rated trial of every session, leaving out raters excluded by post-screening when ``screen``.
    Conditions appear in first-seen order."""
    sessions = list(sessions)
    screening = [s.screening() for s in sessions]
    kept = [s for s, sc in zip(sessions, screening) if not (screen and sc.excluded)]
    order: list[str] = []
    bitrates: dict[str, float] = {}
    for s in sessions:
        order.extend(c for c in s.conditions if c not in order)
        for label, facts in s.codecs.items():
            if facts.get("bitrate") is not None:
                bitrates.setdefault(label, float(facts["bitrate"]))
    stats = {c: mean_ci([v for s in kept for v in s.ratings_of(c)], confidence) for c in order}
    return MushraSummary(stats, {c: bitrates.get(c, math.nan) for c in order if c not in (REFERENCE, ANCHOR)},
                         screening)


def write_mushra_summary_csv(summary: MushraSummary, path: str | Path, *, overwrite: bool = False) -> Path:
    """One row per condition: condition, bitrate_bps, n, mean, ci_low, ci_high, ci_half_width, std."""
    rows = [(c, None if math.isnan(summary.bitrates.get(c, math.nan)) else summary.bitrates[c], s.n,
             *(None if math.isnan(v) else repr(v) for v in (s.mean, s.low, s.high, s.half_width, s.std)))
            for c, s in summary.conditions.items()]
    header = ("condition", "bitrate_bps", "n", "mean", "ci_low", "ci_high", "ci_half_width", "std")
    return _write_text(Path(path), _csv_text(header, rows), overwrite)


def load_session(path: str | Path) -> AbxSession | MushraSession:
    """Read a session saved by :meth:`save_json` or :meth:`write_csv` (by its suffix: .json or .csv)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                first = next(csv.DictReader(handle), None)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise ListeningTestError(f"{path}: cannot read the session CSV ({exc})") from exc
        kind = (first or {}).get("kind")
        if kind == ABX_KIND:
            return AbxSession.read_csv(path)
        if kind == MUSHRA_KIND:
            return MushraSession.read_csv(path)
        raise ListeningTestError(f"{path}: not an ABX or MUSHRA session CSV written by this program")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ListeningTestError(f"{path}: cannot read the session JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("kind") not in (ABX_KIND, MUSHRA_KIND):
        raise ListeningTestError(f"{path}: not an ABX or MUSHRA session file written by this program")
    version = data.get("format", 0)
    if not isinstance(version, int) or version > SESSION_FORMAT:
        raise ListeningTestError(f"{path}: written by a newer version (session format {version!r}); "
                                 "update xy-tokenizer to read it")
    cls = AbxSession if data["kind"] == ABX_KIND else MushraSession
    return cls.from_dict(data, str(path))
