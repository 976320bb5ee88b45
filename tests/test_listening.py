"""ABX and MUSHRA sessions, their statistics, stimuli and files (xy_tokenizer.analysis.listening)."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from scipy import signal as sps

from tests.synth import speech_like
from xy_tokenizer.analysis import listening
from xy_tokenizer.analysis.listening import (
    ANCHOR, REFERENCE, AbxSession, ListeningTestError, MushraSession, abx_p_value, load_session, mean_ci,
    summarize_mushra,
)
from xy_tokenizer.analysis.loudness import integrated_loudness
from xy_tokenizer.errors import AudioError
from xy_tokenizer.io.fsutil import OutputExistsError


# ----------------------------------------------------------------------------- ABX statistics

@pytest.mark.parametrize("trials,correct,expected", [(10, 9, 0.01074), (16, 12, 0.0384), (20, 10, 0.588)])
def test_abx_p_value_known_values(trials, correct, expected):
    assert abx_p_value(correct, trials) == pytest.approx(expected, abs=5e-5 if expected < 0.1 else 5e-4)


def test_abx_p_value_exact_sum_and_edges():
    n, k = 12, 8
    exact = sum(math.comb(n, i) for i in range(k, n + 1)) / 2 ** n
    assert abx_p_value(k, n) == pytest.approx(exact, rel=1e-12)
    assert abx_p_value(0, 0) == 1.0
    assert abx_p_value(0, 5) == 1.0
    assert abx_p_value(5, 5) == pytest.approx(1 / 32)
    with pytest.raises(ListeningTestError):
        abx_p_value(6, 5)


# ----------------------------------------------------------------------------- ABX sessions

def test_abx_plan_is_seeded_and_random_per_trial():
    one = AbxSession.plan("original", "xy16k", 40, seed=7)
    two = AbxSession.plan("original", "xy16k", 40, seed=7)
    other = AbxSession.plan("original", "xy16k", 40, seed=8)
    xs = [t.x for t in one.trials]
    assert xs == [t.x for t in two.trials]
    assert xs != [t.x for t in other.trials]
    assert set(xs) == {"A", "B"}
    assert one.x_label(0) == ("original" if xs[0] == "A" else "xy16k")
    fresh = {AbxSession.plan("a", "b", 3).seed for _ in range(4)}      # no seed: a fresh one, recorded
    assert len(fresh) > 1
    with pytest.raises(ListeningTestError, match="at least 1"):
        AbxSession.plan("a", "b", 0)
    with pytest.raises(ListeningTestError, match="different"):
        AbxSession.plan("a", "a", 3)


def test_abx_answers_score_and_timestamps():
    session = AbxSession.plan("original", "codec", 10, seed=1)
    for trial in session.trials[:9]:
        session.answer(trial.index, trial.x)                      # right
    last = session.trials[9]
    assert session.next_index() == 9 and not session.complete
    session.answer(9, "B" if last.x == "A" else "A", at="2026-01-01T00:00:00.000+00:00")   # wrong
    assert session.complete
    score = session.score()
    assert (score.trials, score.answered, score.correct) == (10, 10, 9)
    assert score.p_value == pytest.approx(0.01074, abs=5e-5)
    assert score.significant()
    assert session.trials[9].answered_at == "2026-01-01T00:00:00.000+00:00"
    assert session.trials[0].answered_at.endswith("+00:00")
    with pytest.raises(ListeningTestError, match="already answered"):
        session.answer(0, "A")
    session.answer(0, "B" if session.trials[0].x == "A" else "A", replace=True)
    assert session.score().correct == 8
    with pytest.raises(ListeningTestError, match="'A' or 'B'"):
        session.answer(1, "X", replace=True)
    with pytest.raises(ListeningTestError, match="no ABX trial"):
        session.answer(10, "A")


def test_abx_partial_score_counts_answered_only():
    session = AbxSession.plan("a", "b", 16, seed=3)
    for trial in session.trials[:4]:
        session.answer(trial.index, trial.x)
    score = session.score()
    assert (score.answered, score.correct) == (4, 4)
    assert score.p_value == pytest.approx(1 / 16)


def test_abx_json_and_csv_round_trip(tmp_path):
    session = AbxSession.plan("original", "xy 16k", 6, seed=11, clip="clips/a.wav", rater="ann")
    for trial in session.trials[:5]:
        session.answer(trial.index, "A")
    json_path = session.save_json(tmp_path / "abx.json")
    csv_path = session.write_csv(tmp_path / "abx.csv")
    document = json.loads(json_path.read_text())
    assert document["kind"] == "abx" and document["score"]["answered"] == 5
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and rows[0]["trial"] == "1" and rows[5]["answer"] == ""
    assert rows[0]["correct"] == str(int(session.trials[0].x == "A"))
    for loaded in (load_session(json_path), load_session(csv_path)):
        assert isinstance(loaded, AbxSession)
        assert loaded.to_dict() == session.to_dict()
    with pytest.raises(OutputExistsError):
        session.save_json(json_path)
    session.save_json(json_path, overwrite=True)


def test_abx_damaged_files_are_refused(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kind": "abx", "a": "x", "b": "y", "seed": 1,
                               "trials": [{"index": 0, "x": "C"}]}))
    with pytest.raises(ListeningTestError, match="damaged"):
        load_session(bad)
    other = tmp_path / "other.json"
    other.write_text("[1, 2]")
    with pytest.raises(ListeningTestError, match="not an ABX or MUSHRA"):
        load_session(other)
    junk = tmp_path / "junk.csv"
    junk.write_text("a,b\n1,2\n")
    with pytest.raises(ListeningTestError, match="not an ABX or MUSHRA"):
        load_session(junk)


# ----------------------------------------------------------------------------- statistics

def test_mean_ci_uses_the_t_distribution():
    values = [60.0, 70.0, 80.0, 90.0]
    ci = mean_ci(values)
    half = 3.182446305284263 * np.std(values, ddof=1) / 2.0       # t(0.975, 3)
    assert ci.mean == 75.0 and ci.n == 4
    assert ci.half_width == pytest.approx(half)
    assert (ci.low, ci.high) == pytest.approx((75.0 - half, 75.0 + half))
    one = mean_ci([50.0])
    assert one.mean == 50.0 and math.isnan(one.half_width) and one.to_dict()["ci_low"] is None
    assert mean_ci([]).n == 0


# ----------------------------------------------------------------------------- anchor and stimuli

def test_lowpass_anchor_removes_the_band_above_3_5_khz_and_keeps_loudness():
    rate = 16000
    t = np.arange(rate) / rate
    x = 0.3 * np.sin(2 * np.pi * 1000 * t) + 0.3 * np.sin(2 * np.pi * 6000 * t)
    anchor, gain = listening.lowpass_anchor(x, rate)
    assert anchor.shape == x.shape and anchor.dtype == np.float32
    f, power = sps.welch(anchor, rate, nperseg=1024)
    low = power[np.argmin(np.abs(f - 1000))]
    high = power[np.argmin(np.abs(f - 6000))]
    assert 10 * np.log10(high / low) < -80
    assert integrated_loudness(anchor, rate) == pytest.approx(integrated_loudness(x, rate), abs=0.05)
    assert gain is not None and gain.gain_db > 0                 # the high tone's energy is made up
    plain, none = listening.lowpass_anchor(x, rate, loudness_match=False)
    assert none is None
    # Zero phase: the 1 kHz tone passes in time with the input.
    lag = np.argmax(sps.correlate(plain, 0.3 * np.sin(2 * np.pi * 1000 * t), mode="full")) - (rate - 1)
    assert lag == 0
    short, _ = listening.lowpass_anchor(x[:20], rate)
    assert short.shape == (20,)
    with pytest.raises(AudioError, match="above 7000 Hz"):
        listening.lowpass_anchor(x, 6000)


def test_mushra_stimuli_are_matched_in_rate_length_and_loudness():
    ref = speech_like(1.5, 16000, seed=0)
    rec24 = 0.2 * speech_like(1.52, 24000, seed=0)
    rec16 = 0.5 * speech_like(1.4, 16000, seed=0)
    stimuli = listening.mushra_stimuli(ref, 16000, {"xy24k": (rec24, 24000), "xy16k": (rec16, 16000)})
    assert list(stimuli) == [REFERENCE, ANCHOR, "xy24k", "xy16k"]
    ref_lufs = integrated_loudness(stimuli[REFERENCE].audio, 24000)
    for s in stimuli.values():
        assert s.rate == 24000 and s.audio.shape == (36000,)
        assert integrated_loudness(s.audio, 24000) == pytest.approx(ref_lufs, abs=0.3)
    assert stimuli[REFERENCE].gain is None
    with pytest.raises(ListeningTestError, match="reserved"):
        listening.mushra_stimuli(ref, 16000, {REFERENCE: (rec16, 16000)})


def test_stimuli_remove_a_codec_delay_so_switching_does_not_give_it_away():
    rate = 16000
    ref = speech_like(1.5, rate, seed=6)
    late = np.concatenate([np.zeros(240, np.float32), 0.5 * ref])          # 15 ms late, 6 dB quieter
    early = ref[160:]                                                      # 10 ms early
    stimuli = listening.listening_stimuli(ref, rate, {"late": (late, rate), "early": (early, rate)})
    assert list(stimuli) == [REFERENCE, "late", "early"]                  # no anchor unless asked
    assert (stimuli["late"].lag, stimuli["early"].lag) == (240, -160)
    np.testing.assert_allclose(stimuli["late"].audio, ref, atol=2e-3)    # lined up and loudness matched
    np.testing.assert_allclose(stimuli["early"].audio[160:], ref[160:], atol=2e-3)
    assert not np.any(stimuli["early"].audio[:160])
    plain = listening.listening_stimuli(ref, rate, {"late": (late, rate)}, align=False, loudness_match=False)
    assert plain["late"].lag == 0 and plain["late"].gain is None
    np.testing.assert_array_equal(plain["late"].audio, late[:ref.shape[0]])
    with pytest.raises(AudioError, match="finite"):
        listening.listening_stimuli(ref, rate, {"bad": (np.full(10, np.nan, np.float32), rate)})


# ----------------------------------------------------------------------------- MUSHRA sessions

def _rate_session(session: MushraSession, reference: float, codecs: dict[str, float], anchor: float = 20.0):
    for trial in session.trials:
        session.rate(trial.index, {REFERENCE: reference, ANCHOR: anchor, **codecs})


def test_mushra_plan_orders_are_random_per_trial_and_seeded():
    session = MushraSession.plan(["a.wav", "b.wav"], {"xy16k": {"bitrate": 1000.0}, "xy24k": {"bitrate": 1000.0},
                                                      "xcodec": {"bitrate": 2000.0}}, repeats=5, seed=4)
    assert session.conditions == [REFERENCE, ANCHOR, "xy16k", "xy24k", "xcodec"]
    assert len(session.trials) == 10
    assert sorted(t.clip for t in session.trials) == ["a.wav"] * 5 + ["b.wav"] * 5
    orders = {tuple(t.order) for t in session.trials}
    assert len(orders) > 1
    assert all(sorted(o) == sorted(session.conditions) for o in orders)
    again = MushraSession.plan(["a.wav", "b.wav"], ["xy16k", "xy24k", "xcodec"], repeats=5, seed=4)
    assert [t.order for t in again.trials] == [t.order for t in session.trials]
    no_anchor = MushraSession.plan("a.wav", ["c"], anchor=False, seed=1)
    assert no_anchor.conditions == [REFERENCE, "c"]
    with pytest.raises(ListeningTestError, match="reserved"):
        MushraSession.plan("a.wav", [ANCHOR])
    with pytest.raises(ListeningTestError, match="at least one codec"):
        MushraSession.plan("a.wav", [])


def test_mushra_rating_checks():
    session = MushraSession.plan("a.wav", ["c1", "c2"], repeats=2, seed=2)
    with pytest.raises(ListeningTestError, match="0..100"):
        session.rate(0, {"c1": 101})
    with pytest.raises(ListeningTestError, match="no condition"):
        session.rate(0, {"c9": 50})
    session.rate(0, {"c1": 40})
    assert not session.trials[0].complete
    session.rate_positions(0, [10, 20, 30, 40])
    trial = session.trials[0]
    assert trial.complete and trial.ratings[trial.order[2]] == 30
    with pytest.raises(ListeningTestError, match="4 stimuli"):
        session.rate_positions(1, [1, 2])
    assert session.next_index() == 1


def test_mushra_post_screening_rule():
    session = MushraSession.plan("a.wav", ["c"], repeats=20, seed=5, rater="r1")
    _rate_session(session, 100.0, {"c": 60.0})
    for trial in session.trials[:3]:                     # 3 of 20 = 15 %: kept
        session.rate(trial.index, {REFERENCE: 85.0})
    assert not session.screening().excluded
    session.rate(session.trials[3].index, {REFERENCE: 89.9})     # 4 of 20 = 20 %: excluded
    screening = session.screening()
    assert screening.excluded and screening.low == 4 and screening.fraction == pytest.approx(0.2)


def test_summarize_mushra_pools_kept_raters():
    good = MushraSession.plan("a.wav", {"xy16k": {"bitrate": 1000.0}, "xc": {"bitrate": 4000.0}},
                              repeats=4, seed=1, rater="good")
    _rate_session(good, 100.0, {"xy16k": 50.0, "xc": 80.0})
    good.rate(0, {"xy16k": 70.0})
    careless = MushraSession.plan("a.wav", ["xy16k", "xc"], repeats=4, seed=2, rater="careless")
    _rate_session(careless, 40.0, {"xy16k": 90.0, "xc": 10.0})
    summary = summarize_mushra([good, careless])
    assert [s.excluded for s in summary.screening] == [False, True]
    xy = summary.conditions["xy16k"]
    assert xy.n == 4 and xy.mean == pytest.approx(55.0)
    assert xy.half_width == pytest.approx(mean_ci([70.0, 50.0, 50.0, 50.0]).half_width)
    assert list(summary.codecs) == ["xy16k", "xc"]
    assert summary.bitrates == {"xy16k": 1000.0, "xc": 4000.0}
    assert summary.conditions[REFERENCE].mean == 100.0
    unscreened = summarize_mushra([good, careless], screen=False)
    assert unscreened.conditions["xy16k"].n == 8
    document = summary.to_dict()
    assert document["codecs"]["xc"]["bitrate"] == 4000.0 and document["codecs"]["xc"]["mean"] == 80.0


def test_mushra_json_and_csv_round_trip(tmp_path):
    session = MushraSession.plan(["a.wav", "b.wav"], {"xy16k": {"bitrate": 1000.0}, "xc": {}}, seed=9, rater="ann")
    session.rate_positions(0, [10, 20, 30, 40])
    session.rate(1, {REFERENCE: 95.5})
    json_path = session.save_json(tmp_path / "m.json")
    csv_path = session.write_csv(tmp_path / "m.csv")
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 4
    assert [r["position"] for r in rows[:4]] == ["1", "2", "3", "4"]
    for loaded in (load_session(json_path), load_session(csv_path)):
        assert isinstance(loaded, MushraSession)
        assert loaded.to_dict() == session.to_dict()
    summary_path = listening.write_mushra_summary_csv(summarize_mushra([session]), tmp_path / "summary.csv")
    with open(summary_path, newline="") as handle:
        summary_rows = {r["condition"]: r for r in csv.DictReader(handle)}
    assert summary_rows["xy16k"]["bitrate_bps"] == "1000.0" and summary_rows["xc"]["bitrate_bps"] == ""


def test_mushra_damaged_file_is_refused(tmp_path):
    session = MushraSession.plan("a.wav", ["c"], seed=1)
    data = session.to_dict()
    data["trials"][0]["ratings"] = {"c": 140}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ListeningTestError, match="outside 0..100"):
        load_session(path)
