"""Blind listening tests in the studio (issue 12): the ABX and MUSHRA screens driven through their
widgets and keys, on real reconstructions by two codec families (the tiny XY-Tokenizer and the
tiny X-Codec), the files they save, and the results view over saved sessions."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

import xy_tokenizer
from app.blind_tests import abx_from_window, mushra_from_window, open_abx, screen_specs
from app.blind_tests.abx_dialog import AbxDialog
from app.blind_tests.inputs import ORIGINAL, BlindClip, BlindTestInputError, sessions_dir
from app.blind_tests.mushra_dialog import MushraDialog
from app.blind_tests.results_dialog import ResultsDialog
from app.comparison_model import DONE, ComparisonSet, Reconstruction
from app.file_list import FileRow
from app.player import BUFFER_SECONDS, ABPlayer
from app.screens import SCREENS
from tests.conftest import fixture_dir
from tests.synth import speech_like
from xy_tokenizer.analysis.compare import CodecDescription
from xy_tokenizer.analysis.listening import (ANCHOR, REFERENCE, AbxSession, MushraSession, abx_p_value,
                                             listening_stimuli)

pytestmark = pytest.mark.gui

RATE = 16000
SECONDS = 1.0
CODECS = ("xy-tiny", "xcodec-tiny")
#: Broadband noise added to the speech-like clips, so the low-pass anchor has something to remove.
NOISE = 0.03
SIGNAL_MS = 5000
PLAY_TIMEOUT_MS = 20000
NAME_WORDS = (*CODECS, "anchor", "reference", "original", "xy", "xcodec")


@pytest.fixture(scope="module")
def codecs(tiny16k_codec):
    xcodec = xy_tokenizer.load(fixture_dir("xcodec-tiny") / "xcodec_tiny.pth", device="cpu")
    assert tiny16k_codec.family != xcodec.family
    return {"xy-tiny": tiny16k_codec, "xcodec-tiny": xcodec}


@pytest.fixture(scope="module")
def clips(codecs) -> list[BlindClip]:
    """Two clips, each reconstructed by both codecs (real encode + decode)."""
    out = []
    for seed in (0, 3):
        noise = np.random.default_rng(seed + 100).standard_normal(int(RATE * SECONDS)).astype(np.float32)
        audio = speech_like(SECONDS, RATE, seed=seed) + np.float32(NOISE) * noise
        recs = {}
        for label, codec in codecs.items():
            rec = codec.decode(codec.encode(audio, RATE))[0]
            recs[label] = (rec, codec.output_sample_rate, codec.bitrate)
        out.append(BlindClip(f"clip{seed}.wav", (audio, RATE), recs))
    return out


def shown(qtbot, dialog):
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=2000)
    return dialog


def key(qtbot, widget, name: str) -> None:
    qtbot.keyClick(widget, getattr(Qt.Key, f"Key_{name.capitalize()}"))


def served(stimulus_player) -> np.ndarray:
    """What the A/B player's pull source serves now (its active track times its gain)."""
    source = stimulus_player.player._source
    return source.tracks[source.active] * source.gains.get(source.active, 1.0)


def energy_above(samples: np.ndarray, rate: int, hz: float) -> float:
    power = np.abs(np.fft.rfft(np.asarray(samples, dtype=np.float64))) ** 2
    return float(power[np.fft.rfftfreq(len(samples), 1.0 / rate) > hz].sum() / power.sum())


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# --- ABX -------------------------------------------------------------------------------------
def test_abx_all_correct_by_buttons_saves_json_and_csv(qtbot, clips, tmp_path):
    clip = clips[0]
    dialog = shown(qtbot, AbxDialog(clip, folder=tmp_path, seed=1234))
    assert dialog.a_combo.currentData() == ORIGINAL and dialog.b_combo.currentData() == "xy-tiny"
    assert dialog.trials_spin.value() == 16
    dialog.trials_spin.setValue(6)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    session = dialog.session
    assert session.seed == 1234 and len(session.trials) == 6
    assert session.trials == AbxSession.plan(ORIGINAL, "xy-tiny", 6, seed=1234).trials
    # The stimuli: the original and the codec, delay-aligned and at the original's BS.1770 loudness.
    expected = listening_stimuli(*clip.original, {"xy-tiny": clip.others()["xy-tiny"]})
    np.testing.assert_array_equal(dialog.stimuli["A"].audio, expected[REFERENCE].audio)
    np.testing.assert_array_equal(dialog.stimuli["B"].audio, expected["xy-tiny"].audio)
    meter = pyloudnorm.Meter(RATE)
    assert meter.integrated_loudness(dialog.stimuli["B"].audio) == pytest.approx(
        meter.integrated_loudness(clip.original[0]), abs=0.5)
    for i, trial in enumerate(session.trials):
        assert dialog.trial_label.text() == f"Trial {i + 1} of 6" and dialog.progress.value() == i
        qtbot.mouseClick(dialog.play_buttons["X"], Qt.MouseButton.LeftButton)
        assert dialog.player.current() == "X" and dialog.play_buttons["X"].isChecked()
        np.testing.assert_array_equal(served(dialog.player), dialog.stimuli[trial.x].audio)
        assert dialog.feedback_label.text() == ""  # no feedback until the end
        if i == len(session.trials) - 1:
            with qtbot.waitSignal(dialog.saved, timeout=SIGNAL_MS) as blocker:
                qtbot.mouseClick(dialog.answer_buttons[trial.x], Qt.MouseButton.LeftButton)
        else:
            qtbot.mouseClick(dialog.answer_buttons[trial.x], Qt.MouseButton.LeftButton)
    folder = blocker.args[0]
    assert folder.parent == tmp_path
    assert dialog.score_label.text() == "6 of 6 correct"
    assert abx_p_value(6, 6) == pytest.approx(1 / 64)
    assert "p = 0.01562" in dialog.p_label.text()
    assert dialog.verdict_label.text() == "Audible difference (p < 0.05)"
    data = json.loads((folder / "abx.json").read_text())
    assert data["seed"] == 1234 and data["a"] == ORIGINAL and data["b"] == "xy-tiny" and data["clip"] == "clip0.wav"
    assert [t["answer"] for t in data["trials"]] == [t.x for t in session.trials]
    assert data["score"] == {"trials": 6, "answered": 6, "correct": 6, "p_value": pytest.approx(1 / 64)}
    rows = read_csv(folder / "abx.csv")
    assert len(rows) == 6 and {r["correct"] for r in rows} == {"1"} and {r["seed"] for r in rows} == {"1234"}


def test_abx_by_keys_known_pattern_gives_no_evidence(qtbot, clips, tmp_path):
    clip = clips[1]
    dialog = shown(qtbot, AbxDialog(clip, folder=tmp_path, seed=99))
    dialog.a_combo.setCurrentIndex(1)       # xy-tiny
    dialog.b_combo.setCurrentIndex(2)       # xcodec-tiny: two codecs against each other
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert (dialog.session.a, dialog.session.b) == ("xy-tiny", "xcodec-tiny")
    for i, trial in enumerate(dialog.session.trials):
        for name in ("A", "B", "X"):
            key(qtbot, dialog, name)
            assert dialog.player.current() == name
            np.testing.assert_array_equal(served(dialog.player), dialog.stimuli[trial.x if name == "X" else name].audio)
        key(qtbot, dialog, "space")
        assert not dialog.player.is_playing()
        right = i < 9                          # 9 of 16 right
        choice = trial.x if right else ("B" if trial.x == "A" else "A")
        if i == 15:
            with qtbot.waitSignal(dialog.saved, timeout=SIGNAL_MS):
                key(qtbot, dialog, "1" if choice == "A" else "2")
        else:
            key(qtbot, dialog, "1" if choice == "A" else "2")
    assert dialog.score_label.text() == "9 of 16 correct"
    assert abx_p_value(9, 16) == pytest.approx(0.40180969, abs=1e-7)
    assert "p = 0.4018" in dialog.p_label.text()
    assert dialog.verdict_label.text() == "No evidence of an audible difference"
    assert "A was xy-tiny" in dialog.mapping_label.text()
    key(qtbot, dialog, "1")                    # keys do nothing once the test is over
    assert dialog.session.score().answered == 16


def test_abx_feedback_setting_and_same_choice(qtbot, clips, tmp_path):
    dialog = shown(qtbot, AbxDialog(clips[0], folder=tmp_path, seed=5))
    dialog.b_combo.setCurrentIndex(0)
    assert not dialog.start_button.isEnabled() and "same" in dialog.setup_message.text()
    dialog.b_combo.setCurrentIndex(2)
    assert dialog.start_button.isEnabled()
    dialog.feedback_box.setChecked(True)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    x = dialog.session.trials[0].x
    wrong = "B" if x == "A" else "A"
    key(qtbot, dialog, "1" if wrong == "A" else "2")
    assert dialog.feedback_label.text() == f"Trial 1: wrong, X was {x}"
    key(qtbot, dialog, "1" if dialog.session.trials[1].x == "A" else "2")
    assert dialog.feedback_label.text() == "Trial 2: correct"


def test_abx_switching_keeps_the_position_only_with_a_loop(qtbot, clips, tmp_path):
    dialog = shown(qtbot, AbxDialog(clips[0], folder=tmp_path, seed=8))
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    player = dialog.player
    key(qtbot, dialog, "A")
    key(qtbot, dialog, "space")
    player.seek(0.5)
    key(qtbot, dialog, "B")                     # no loop: B starts at 0
    assert player.position() < BUFFER_SECONDS
    dialog.transport.set_loop((0.2, 0.9))
    assert player.loop() == pytest.approx((0.2, 0.9))
    key(qtbot, dialog, "space")
    assert player.position() == pytest.approx(0.2)
    player.seek(0.5)
    key(qtbot, dialog, "X")                     # loop: X goes on from 0.5
    assert player.current() == "X"
    assert 0.5 <= player.position() < 0.5 + BUFFER_SECONDS


def test_abx_really_plays_into_the_null_sink(qtbot, clips, tmp_path, pulse_server):
    studio = ABPlayer()
    studio.set_sources((clips[0].original[0], RATE), None)
    dialog = shown(qtbot, AbxDialog(clips[0], folder=tmp_path, seed=3, studio_player=studio))
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(studio.stateChanged, timeout=SIGNAL_MS):
        studio.play()
    with qtbot.waitSignal(dialog.player.stateChanged, timeout=SIGNAL_MS, check_params_cb=lambda p: p):
        key(qtbot, dialog, "X")
    assert not studio.is_playing()              # the studio's own player paused
    with qtbot.waitSignal(dialog.player.positionChanged, timeout=PLAY_TIMEOUT_MS, check_params_cb=lambda p: p > 0.1):
        pass
    assert dialog.transport.message.text() == ""
    key(qtbot, dialog, "space")
    assert not dialog.player.is_playing()
    studio.stop()


# --- MUSHRA ----------------------------------------------------------------------------------
def rate_trial(qtbot, dialog, ratings: dict[str, int]) -> None:
    """Rate the current trial by keys: N plays stimulus N and focuses its slider, Home then
    PageUp (10 points each) sets it; checks what each key made the player serve."""
    trial = dialog.session.trials[dialog.index]
    stimuli = dialog.stimuli(trial.clip)
    for position, condition in enumerate(trial.order):
        assert not dialog.next_button.isEnabled()
        key(qtbot, dialog, str(position + 1))
        assert dialog.player.current() == str(position + 1)
        np.testing.assert_array_equal(served(dialog.player), stimuli[condition].audio)
        slider = dialog.sliders[position]
        assert slider.hasFocus()
        qtbot.keyClick(slider, Qt.Key.Key_Home)
        for _ in range(ratings[condition] // 10):
            qtbot.keyClick(slider, Qt.Key.Key_PageUp)
        assert slider.value() == ratings[condition]
    assert dialog.next_button.isEnabled()


def test_mushra_two_clips_hidden_labels_saved_mapping(qtbot, clips, tmp_path):
    dialog = shown(qtbot, MushraDialog(clips, folder=tmp_path, seed=7, rater="ann"))
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    session = dialog.session
    assert session.conditions == [REFERENCE, ANCHOR, *CODECS]
    assert sorted(t.clip for t in session.trials) == ["clip0.wav", "clip3.wav"]
    assert [t.order for t in session.trials] == [t.order for t in MushraSession.plan(
        ["clip0.wav", "clip3.wav"], list(CODECS), seed=7).trials]
    # Nothing on the trial page names a condition: titles are numbers, the mapping is only saved.
    texts = [w.text() for w in (*dialog.titles, *dialog.play_buttons)] + [s.toolTip() for s in dialog.sliders]
    texts += [s.accessibleName() for s in dialog.sliders] + [dialog.trial_label.text()]
    assert [t.text() for t in dialog.titles] == ["1", "2", "3", "4"]
    for text in texts:
        assert not any(word in text.lower() for word in NAME_WORDS), text
    ratings = {REFERENCE: 100, ANCHOR: 20, "xy-tiny": 50, "xcodec-tiny": 30}
    key(qtbot, dialog, "R")
    assert dialog.player.current() == "R" and dialog.reference_button.isChecked()
    rate_trial(qtbot, dialog, ratings)
    with qtbot.waitSignal(dialog.trialShown, timeout=SIGNAL_MS, check_params_cb=lambda i: i == 1):
        qtbot.mouseClick(dialog.next_button, Qt.MouseButton.LeftButton)
    assert dialog.trial_label.text().startswith("Trial 2 of 2") and not dialog.next_button.isEnabled()
    rate_trial(qtbot, dialog, {**ratings, "xy-tiny": 70})
    with qtbot.waitSignal(dialog.saved, timeout=SIGNAL_MS) as blocker:
        qtbot.mouseClick(dialog.next_button, Qt.MouseButton.LeftButton)
    folder = blocker.args[0]
    data = json.loads((folder / "mushra.json").read_text())
    assert data["seed"] == 7 and data["rater"] == "ann"
    assert data["codecs"]["xcodec-tiny"]["bitrate"] == pytest.approx(4000.0)
    for saved, trial in zip(data["trials"], session.trials):
        assert saved["order"] == trial.order
        assert saved["ratings"][REFERENCE] == 100 and saved["ratings"][ANCHOR] == 20
    assert sorted(t["ratings"]["xy-tiny"] for t in data["trials"]) == [50, 70]
    rows = read_csv(folder / "mushra.csv")
    assert len(rows) == 2 * 4
    assert {(r["position"], r["condition"]) for r in rows if r["trial"] == "1"} == \
        {(str(p + 1), c) for p, c in enumerate(session.trials[0].order)}
    assert {r["condition"]: r["mean"] for r in read_csv(folder / "summary.csv")}["xy-tiny"] == "60.0"
    # Results page: per condition mean, 95 % CI, n; screening passed.
    row = dialog.table.row_of("xy-tiny")
    assert row["Mean"] == "60.0" and row["n"] == "2" and row["Bitrate"] == "0.7 kbit/s"
    assert row["95 % CI"].startswith("-67.1 .. 187.1")     # t(0.975, 1) = 12.706: 60 ± 12.706 * 14.14 / sqrt 2
    assert dialog.table.row_of(ANCHOR)["Mean"] == "20.0"
    assert "below 90 in 0 of 2" in dialog.screening_label.text()
    assert "excluded" not in dialog.screening_label.text()
    # The results view reads the folder back and pools per codec.
    results = ResultsDialog(folder=tmp_path)
    qtbot.addWidget(results)
    assert len(results.mushra_sessions()) == 1      # JSON and CSV of one session count once
    assert results.error_label.text() == ""         # summary.csv is no session and is not read as one
    assert results.mushra_table.row_of("xy-tiny")["Mean"] == "60.0"


def test_mushra_anchor_played_is_low_passed(qtbot, clips, tmp_path):
    dialog = shown(qtbot, MushraDialog(clips[:1], folder=tmp_path, seed=11))
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    order = dialog.session.trials[0].order
    key(qtbot, dialog, str(order.index(ANCHOR) + 1))
    anchor = served(dialog.player)
    key(qtbot, dialog, str(order.index(REFERENCE) + 1))
    hidden = served(dialog.player)
    rate = dialog.player.rate()
    np.testing.assert_array_equal(hidden, dialog.stimuli("clip0.wav")[REFERENCE].audio)
    assert energy_above(hidden, rate, 4500) > 0.05
    assert energy_above(anchor, rate, 4500) < 1e-4
    assert energy_above(anchor, rate, 4500) < energy_above(hidden, rate, 4500) / 1000
    # below the cutoff the anchor keeps the speech
    assert energy_above(anchor, rate, 3000) < 0.5
    assert np.corrcoef(anchor, hidden)[0, 1] > 0.8


def test_mushra_screening_flags_a_low_hidden_reference(qtbot, clips, tmp_path):
    dialog = shown(qtbot, MushraDialog(clips[:1], folder=tmp_path, seed=21, rater="bob"))
    dialog.repeats_spin.setValue(2)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert len(dialog.session.trials) == 2
    ratings = {REFERENCE: 40, ANCHOR: 60, "xy-tiny": 80, "xcodec-tiny": 90}
    rate_trial(qtbot, dialog, ratings)
    qtbot.mouseClick(dialog.next_button, Qt.MouseButton.LeftButton)
    rate_trial(qtbot, dialog, ratings)
    with qtbot.waitSignal(dialog.saved, timeout=SIGNAL_MS) as blocker:
        qtbot.mouseClick(dialog.next_button, Qt.MouseButton.LeftButton)
    assert "below 90 in 2 of 2" in dialog.screening_label.text()
    assert "would be excluded" in dialog.screening_label.text()
    data = json.loads((blocker.args[0] / "mushra.json").read_text())
    assert data["screening"]["excluded"] is True and data["screening"]["rater"] == "bob"


def test_mushra_next_needs_every_slider_and_clicking_counts(qtbot, clips, tmp_path):
    dialog = shown(qtbot, MushraDialog(clips[:1], folder=tmp_path, seed=2))
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.rated_label.text() == "0 of 4 rated" and not dialog.next_button.isEnabled()
    for slider in dialog.sliders[:-1]:
        qtbot.mouseClick(slider, Qt.MouseButton.LeftButton)     # a click rates it, even at 0
    assert dialog.rated_label.text() == "3 of 4 rated" and not dialog.next_button.isEnabled()
    qtbot.mouseClick(dialog.play_buttons[3], Qt.MouseButton.LeftButton)
    assert dialog.player.current() == "4" and not dialog.next_button.isEnabled()  # playing is not rating
    qtbot.keyClick(dialog.sliders[3], Qt.Key.Key_Home)       # already at 0: still rates it 0
    assert dialog.sliders[3].value() == 0 and dialog.next_button.isEnabled()
    with qtbot.waitSignal(dialog.saved, timeout=SIGNAL_MS) as blocker:
        qtbot.mouseClick(dialog.next_button, Qt.MouseButton.LeftButton)
    saved = json.loads((blocker.args[0] / "mushra.json").read_text())["trials"][0]["ratings"]
    assert saved == {c: float(dialog.sliders[p].value()) for p, c in enumerate(dialog.session.trials[0].order)}


# --- results view and the studio's Tests menu ---------------------------------------------------
def test_results_view_pools_sessions_and_lists_abx_p_values(qtbot, tmp_path):
    folder = tmp_path / "sessions"
    for n, (rater, reference) in enumerate((("ann", 100), ("bob", 100), ("cy", 50))):
        session = MushraSession.plan(["a.wav", "b.wav"], {"c1": {"bitrate": 1000.0}, "c2": {}}, seed=n, rater=rater)
        for i in range(2):
            session.rate(i, {REFERENCE: reference, ANCHOR: 10, "c1": 40 + 10 * n, "c2": 80})
        (folder / f"m{n}").mkdir(parents=True)
        session.save_json(folder / f"m{n}" / "mushra.json")
        session.write_csv(folder / f"m{n}" / "mushra.csv")
    csv_only = MushraSession.plan("a.wav", ["c1"], seed=9, rater="dee")
    csv_only.rate(0, {REFERENCE: 95, ANCHOR: 5, "c1": 90})
    csv_only.write_csv(folder / "csv-only.csv")
    abx = AbxSession.plan(ORIGINAL, "c1", 10, seed=4, clip="a.wav", rater="ann")
    for i, trial in enumerate(abx.trials):
        abx.answer(i, trial.x if i < 9 else ("B" if trial.x == "A" else "A"))
    abx.save_json(folder / "abx.json")
    (folder / "broken.json").write_text("{not json")
    (folder / "notes.csv").write_text("kind,trial\nmushra,x\n")
    dialog = ResultsDialog(folder=folder)
    qtbot.addWidget(dialog)
    assert len(dialog.mushra_sessions()) == 4 and len(dialog.abx_sessions()) == 1
    errors = dialog.error_label.text().splitlines()
    assert len(errors) == 2 and "broken.json" in errors[0] and "notes.csv" in errors[1]
    # cy rated the hidden reference 50 in every trial: left out by post-screening.
    assert "(cy)" in dialog.mushra_label.text()
    row = dialog.mushra_table.row_of("c1")
    assert row["n"] == "5" and row["Bitrate"] == "1 kbit/s"
    assert float(row["Mean"]) == pytest.approx((40 + 40 + 50 + 50 + 90) / 5, abs=0.05)
    dialog.screen_box.setChecked(False)
    assert dialog.mushra_table.row_of("c1")["n"] == "7"
    assert dialog.mushra_table.row_of("c2")["n"] == "6"
    cells = [dialog.abx_table.item(0, c).text() for c in range(dialog.abx_table.columnCount())]
    assert cells[:5] == ["a.wav", "Original", "c1", "ann", "9 / 10"]
    assert cells[5] == f"{abx_p_value(9, 10):.4g}" == "0.01074"
    assert cells[6] == "audible difference (p < 0.05)"
    out = dialog.export_summary(tmp_path / "pooled.csv")
    assert {r["condition"]: r["n"] for r in read_csv(out)} == {REFERENCE: "7", ANCHOR: "7", "c1": "7", "c2": "6"}
    assert dialog.add_paths([folder / "m0" / "mushra.csv"]) == 0      # the same session again


class StudioStandIn(QWidget):
    """What the Tests-menu entries use of the studio window (see app/screens.py), with the real
    comparison model and player."""

    def __init__(self, rows, selected):
        super().__init__()
        self.comparison_set = ComparisonSet(self)
        self.player = ABPlayer(self)
        self.rows, self.selected = rows, selected

    def current_row(self):
        return self.rows[0] if self.rows else None

    def selected_rows(self):
        return list(self.selected)


def test_tests_menu_entries_read_the_comparison_set(qtbot, clips, codecs):
    rows = [FileRow(path=Path(f"/data/{c.name}"), uid=n + 1) for n, c in enumerate(clips)]
    pending = FileRow(path=Path("/data/pending.wav"), uid=7)     # selected, but not reconstructed yet
    window = StudioStandIn(rows, [rows[0], pending, rows[1]])
    qtbot.addWidget(window)
    for row, clip in zip(rows, clips):
        window.comparison_set.set_original(row.uid, *clip.original)
        for label, codec in codecs.items():
            audio, rate, _ = clip.reconstructions[label]
            window.comparison_set.set_reconstruction(row.uid, Reconstruction(
                CodecDescription.from_codec(codec, label), status=DONE, audio=audio, rate=rate))
    specs = {spec.id: spec for spec in screen_specs()}
    assert list(specs) == ["abxTest", "mushraTest", "listeningResults"]
    assert [s.id for s in SCREENS if s.id in specs] == list(specs)        # registered in the Tests menu
    assert specs["abxTest"].needs_comparison and not specs["listeningResults"].needs_comparison
    abx = specs["abxTest"].open(window)
    assert isinstance(abx, AbxDialog) and abx.parent() is window and abx.isVisible()
    assert abx.clip.name == "clip0.wav" and abx.clip.labels == list(CODECS)
    assert abx.clip.bitrates()["xcodec-tiny"] == pytest.approx(codecs["xcodec-tiny"].bitrate)
    mushra = mushra_from_window(window)
    assert [c for c in mushra.clips] == ["clip0.wav", "clip3.wav"] and mushra.codecs == list(CODECS)
    results = specs["listeningResults"].open(window)
    assert isinstance(results, ResultsDialog)
    assert sessions_dir().is_relative_to(Path(__import__("os").environ["XYTOK_HOME"]))
    for dialog in (abx, mushra, results):
        dialog.close()
    empty = StudioStandIn([FileRow(path=Path("/data/new.wav"), uid=9)], [])
    qtbot.addWidget(empty)
    assert abx_from_window(empty) is None
    message = empty.findChild(QMessageBox, "blindTestMessage")
    assert message is not None and "reconstruct the file" in message.text()
    message.close()


def test_plain_inputs_are_checked():
    audio = np.zeros(1600, np.float32)
    with pytest.raises(BlindTestInputError, match="no reconstruction"):
        BlindClip("a.wav", (audio, RATE), {})
    with pytest.raises(BlindTestInputError, match="reserved"):
        BlindClip("a.wav", (audio, RATE), {"anchor": (audio, RATE, 1000.0)})
    with pytest.raises(BlindTestInputError, match="a.wav: the reconstruction by c1"):
        BlindClip("a.wav", (audio, RATE), {"c1": (np.zeros((2, 10), np.float32), RATE, 1.0)})
    clip = BlindClip("a.wav", (audio, RATE), {"c1": (audio, RATE, None)})
    assert math.isnan(clip.bitrates()["c1"])


def test_open_abx_takes_plain_inputs(qtbot, clips, tmp_path):
    clip = clips[0]
    dialog = open_abx(None, clip.original, clip.reconstructions, name="plain.wav", folder=tmp_path, seed=1)
    qtbot.addWidget(dialog)
    assert dialog.isVisible() and dialog.clip.name == "plain.wav"
    assert [dialog.b_combo.itemData(i) for i in range(dialog.b_combo.count())] == [ORIGINAL, *CODECS]
