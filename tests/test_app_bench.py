"""The studio as a comparison bench (issue 12): several codecs of different families at once
(the tiny XY-Tokenizer and X-Codec fixtures, the test FSQ family), one reconstruction per file
and codec, keys 1..9, BS.1770 loudness matching, stacked views, per-codec scores and the
Tests-menu hook of the blind-test screens."""
from __future__ import annotations

import gc
import math
import weakref
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

import app.main_window as main_window_module
from app.bench import LOAD_FAILED, LOADED
from app.comparison_model import DONE, FAILED, ComparisonEntry, ComparisonSet, Reconstruction
from app.main_window import MainWindow
from app.screens import ScreenSpec
from app.settings import Settings
from app.views.bench_view import BenchView
from app.views.fsq_digits import FsqDigitView, fsq_digits
from app.views.spectrogram import LOG_ROWS, compute_spectrogram
from app.views.timeline import Timeline
from app.views.token_grid import TokenGridView
from tests.conftest import FIXTURES
from tests.families import fsq
from tests.studio import add_and_wait
from tests.synth import speech_like, write
from xy_tokenizer import registry
from xy_tokenizer.analysis.compare import CodecDescription
from xy_tokenizer.analysis.listening import REFERENCE, listening_stimuli
from xy_tokenizer.analysis.loudness import gain_to_match, integrated_loudness
from xy_tokenizer.analysis.metrics import METRIC_NAMES

pytestmark = pytest.mark.gui
JOB_TIMEOUT = 300000
XY, XCODEC = "XY-tiny16k", "X-Codec-tiny"


@pytest.fixture
def fsq_family():
    registry.register_family(fsq.FAMILY)
    yield fsq
    registry.unregister_family(fsq.FAMILY.name)


def make_window(qtbot) -> MainWindow:
    settings = Settings()
    settings.device = "cpu"
    window = MainWindow(settings)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    return window


def add_fixture_codecs(window: MainWindow) -> None:
    window.bench.add_checkpoint(FIXTURES / "tiny16k" / "model.ckpt", FIXTURES / "tiny16k" / "config.yaml", label=XY)
    window.bench.add_checkpoint(FIXTURES / "xcodec-tiny" / "xcodec_tiny.pth", label=XCODEC)


def reconstruct_and_wait(qtbot, window: MainWindow, uids: list[int], labels: list[str] | None = None) -> int:
    with qtbot.waitSignal(window.bench.busyChanged, timeout=JOB_TIMEOUT, check_params_cb=lambda busy: not busy):
        queued = window.reconstruct_with_codecs(uids, labels)
    return queued


def show_and_wait_sources(qtbot, window: MainWindow, position: int, count: int) -> list[str]:
    """Show the file at ``position`` and wait until the player has its ``count`` sources (the
    stimuli are prepared on the listen lane; they may be ready already when the file was shown
    while its codecs ran)."""
    window.file_view.select_position(position)
    if len(window.player.source_names()) != count:
        with qtbot.waitSignal(window.player.sourcesChanged, timeout=JOB_TIMEOUT,
                              check_params_cb=lambda names: len(names) == count):
            pass
    return window.player.source_names()


def test_each_file_gets_one_reconstruction_per_codec_and_failures_stay_local(qtbot, tmp_path):
    window = make_window(qtbot)
    clips = [write(tmp_path / f"clip{i}.wav", speech_like(1.0 + 0.5 * i, 16000, seed=i)) for i in range(2)]
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"not a checkpoint")
    short = write(tmp_path / "tiny.wav", np.zeros(3, dtype=np.float32))     # too short for any codec
    rows = add_and_wait(qtbot, window, [*clips, short])
    add_fixture_codecs(window)
    window.bench.add_checkpoint(broken, label="broken")
    assert window.bench.labels() == [XY, XCODEC, "broken"]
    assert all(slot.codec is None for slot in window.bench.slots())          # loaded lazily
    uids = [row.uid for row in rows]
    assert reconstruct_and_wait(qtbot, window, uids) == 9

    by_name = {row.path.name: row.uid for row in rows}
    for name, clip in zip(("clip0.wav", "clip1.wav"), clips):
        entry = window.comparison_set.entry(by_name[name])
        assert entry.ready() and entry.original[1] == 16000
        for label in (XY, XCODEC):
            rec = entry.reconstructions[label]
            assert rec.status == DONE and rec.rate == 16000
            assert abs(len(rec.audio) - len(entry.original[0])) <= 16000 * 0.1
            assert rec.codes.ndim == 2 and rec.codes.shape[0] == 8
        assert entry.reconstructions["broken"].status == FAILED
        assert "cannot load" in entry.reconstructions["broken"].message
    tiny = window.comparison_set.entry(by_name["tiny.wav"])
    assert {label: rec.status for label, rec in tiny.reconstructions.items()} == \
        {XY: FAILED, XCODEC: FAILED, "broken": FAILED}
    assert "tiny.wav" in tiny.reconstructions[XY].message

    slots = {slot.label: slot for slot in window.bench.slots()}
    assert slots[XY].state == LOADED and slots[XCODEC].state == LOADED and slots["broken"].state == LOAD_FAILED
    assert slots[XCODEC].parameters > 0 and "M params" in slots[XCODEC].size_text()
    summary = window.bench.session.summary()
    assert (summary[XY].files, summary[XY].failed) == (2, 1)
    assert (summary[XCODEC].files, summary[XCODEC].failed) == (2, 1)
    assert summary[XY].codec.family == "xy_tokenizer" and summary[XCODEC].codec.family == "xcodec"
    assert summary[XCODEC].codec.bitrate == pytest.approx(4000.0)

    panel = window.codecs_panel
    window.file_view.select_position(0)
    assert panel.file_states()[XY] == "done" and panel.file_states()[XCODEC] == "done"
    assert panel.file_states()["broken"].startswith("failed")

    # removing a codec frees its model and forgets its reconstructions
    model = weakref.ref(slots[XCODEC].codec)
    window.bench.remove(XCODEC)
    del slots
    gc.collect()
    assert model() is None
    assert XCODEC not in window.comparison_set.entry(by_name["clip0.wav"]).reconstructions
    assert XCODEC not in window.bench.session.summary()


def test_number_keys_switch_codecs_at_the_same_position_loop_and_bs1770(qtbot, tmp_path, fsq_family):
    window = make_window(qtbot)
    window.show()
    clip = write(tmp_path / "speech.wav", speech_like(2.0, 16000, seed=5))
    rows = add_and_wait(qtbot, window, [clip])
    add_fixture_codecs(window)
    window.bench.add_checkpoint(fsq_family.save_checkpoint(tmp_path / "fsq.safetensors"), label="FSQ")
    reconstruct_and_wait(qtbot, window, [rows[0].uid])
    names = show_and_wait_sources(qtbot, window, 0, 4)
    assert names == ["A", XY, XCODEC, "FSQ"]
    player = window.player
    assert [b.text() for b in window.source_bar.buttons.values()] == \
        ["1 Original", f"2 {XY}", f"3 {XCODEC}", "4 FSQ"]

    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    window.file_view.setFocus()
    window.comparison.timeline.set_region((0.5, 1.5))
    window.act_loop.setChecked(True)
    assert player.loop() == pytest.approx((0.5, 1.5), abs=1e-3)
    player.seek(0.8)
    qtbot.keyClick(window.file_view, Qt.Key.Key_3)
    assert player.active() == XCODEC and player.position() == pytest.approx(0.8, abs=1e-3)
    assert XCODEC in window.source_bar.current_text() and window.source_bar.buttons[XCODEC].isChecked()
    qtbot.keyClick(window.file_view, Qt.Key.Key_4)
    assert player.active() == "FSQ" and player.position() == pytest.approx(0.8, abs=1e-3)
    qtbot.keyClick(window.file_view, Qt.Key.Key_9)                 # no 9th source: nothing changes
    assert player.active() == "FSQ"
    qtbot.keyClick(window.file_view, Qt.Key.Key_1)
    assert player.active() == "A" and window.source_bar.current_text().endswith("Original")
    assert player.loop() == pytest.approx((0.5, 1.5), abs=1e-3)

    # every source is prepared at one rate, aligned, the same length: no resampling at a switch
    stimuli = window.comparison_set.entry(rows[0].uid).stimuli(loudness_match=False)
    assert {s.rate for s in stimuli.values()} == {player.playback_rate()}
    assert player.duration() == pytest.approx(len(stimuli[REFERENCE].audio) / player.playback_rate())

    # loudness matching: BS.1770 integrated loudness of each codec brought to the original's
    window.act_level.setChecked(True)
    rate = player.playback_rate()
    for label in (XY, XCODEC, "FSQ"):
        expected = gain_to_match(stimuli[REFERENCE].audio, stimuli[label].audio, rate)
        assert player.gain_of(label) == pytest.approx(expected.gain, rel=1e-4)
        if not expected.limited:
            matched = integrated_loudness(stimuli[label].audio * player.gain_of(label), rate)
            assert matched == pytest.approx(integrated_loudness(stimuli[REFERENCE].audio, rate), abs=0.1)
    assert player.gain_of("A") == 1.0
    window.act_level.setChecked(False)
    assert player.gain_of(XY) == 1.0


def test_stacked_views_linked_zoom_db_range_log_frequency_difference_and_tokens(qtbot, tmp_path, fsq_family):
    window = make_window(qtbot)
    clip = write(tmp_path / "speech.wav", speech_like(2.0, 16000, seed=7))
    rows = add_and_wait(qtbot, window, [clip])
    add_fixture_codecs(window)
    window.bench.add_checkpoint(fsq_family.save_checkpoint(tmp_path / "fsq.safetensors"), label="FSQ")
    reconstruct_and_wait(qtbot, window, [rows[0].uid])
    show_and_wait_sources(qtbot, window, 0, 4)
    window.show()
    qtbot.waitExposed(window)
    assert not window.first_run_visible()            # no main model, but codecs on the bench
    view = window.bench_view
    assert list(view.specs) == [REFERENCE, XY, XCODEC, "FSQ"] and list(view.waves) == list(view.specs)
    assert view.specs[XCODEC].title().startswith(f"3 {XCODEC}") and "4 kbit/s" in view.specs[XCODEC].title()

    assert all(w.isVisible() and w.window() is window for w in view.waves.values())
    view.show_waves.setChecked(False)
    assert not any(w.isVisible() for w in view.waves.values()) and view.specs[XY].isVisible()
    view.show_waves.setChecked(True)

    # linked zoom: one plot's x range is every plot's
    view.specs[XY].setXRange(0.5, 0.9, padding=0)
    for plot in [*view.waves.values(), *view.specs.values(), view.difference, view.token_view]:
        assert plot.x_range() == pytest.approx((0.5, 0.9), abs=1e-3)

    # dB scale: auto top = loudest bin of all, bottom = top - range; then a fixed top
    peak = max(v.peak_db() for v in view.specs.values())
    assert all(v.levels() == pytest.approx((peak - 80.0, peak)) for v in view.specs.values())
    view.range_db.setValue(50.0)
    view.top_db.setValue(-10.0)
    assert all(v.levels() == pytest.approx((-60.0, -10.0)) for v in view.specs.values())

    # log frequency: LOG_ROWS log-spaced rows, the difference too
    assert view.specs[XY].db().shape[0] == compute_spectrogram(np.zeros(16000, np.float32) + 1e-3, 16000)[0].shape[0]
    view.log_freq.setChecked(True)
    assert all(v.log_frequency() and v.db().shape[0] == LOG_ROWS for v in view.specs.values())
    assert view.difference.db().shape[0] == LOG_ROWS
    view.log_freq.setChecked(False)

    # difference: the chosen codec's dB minus the original's, on the same grid
    view.diff_codec.setCurrentText(XCODEC)
    stimuli = window.comparison_set.entry(rows[0].uid).stimuli(loudness_match=False)
    ref_db = compute_spectrogram(stimuli[REFERENCE].audio, 16000)[0]
    rec_db = compute_spectrogram(stimuli[XCODEC].audio, 16000)[0]
    floor = ref_db.max() - 80.0
    np.testing.assert_allclose(view.difference.db(), np.maximum(rec_db, floor) - np.maximum(ref_db, floor),
                               atol=1e-3)
    assert XCODEC in view.difference.title()

    # tokens adapt to the codec: RVQ levels x frames, FSQ digits
    view.token_codec.setCurrentText(XY)
    assert isinstance(view.token_view, TokenGridView) and view.token_view.codes().shape[0] == 8
    assert "12.5 frames/s" in view.token_view.title() and "700 bit/s" in view.token_view.title()
    view.token_codec.setCurrentText("FSQ")
    assert isinstance(view.token_view, FsqDigitView)
    codes = window.comparison_set.reconstruction(rows[0].uid, "FSQ").codes
    digits = view.token_view.digits()
    assert digits.shape == (8, codes.shape[1])
    for d in range(8):
        np.testing.assert_array_equal(digits[d], (codes[0] // 4 ** d) % 4)
    assert "50 frames/s" in view.token_view.title() and "800 bit/s" in view.token_view.title()
    assert f"code {int(codes[0, 3])}" in view.token_view.describe(3.2 / 50)


def test_fsq_digits_of_known_codes():
    codes = np.array([[0, 65535, 3 * 4 ** 7 + 2, 4 ** 3]])
    digits = fsq_digits(codes, 8)
    np.testing.assert_array_equal(digits[:, 0], np.zeros(8))
    np.testing.assert_array_equal(digits[:, 1], np.full(8, 3))
    np.testing.assert_array_equal(digits[:, 2], [2, 0, 0, 0, 0, 0, 0, 3])
    np.testing.assert_array_equal(digits[:, 3], [0, 0, 0, 1, 0, 0, 0, 0])


def test_difference_of_a_half_amplitude_copy_is_minus_6_db(qtbot):
    """Without any model: a reconstruction at half amplitude reads -6.02 dB where the original is loud."""
    timeline = Timeline()
    view = BenchView(timeline)
    qtbot.addWidget(view)
    audio = speech_like(1.0, 16000, seed=1)
    stimuli = listening_stimuli(audio, 16000, {"half": (audio * 0.5, 16000)}, loudness_match=False, align=False)
    description = CodecDescription("half", family="test", bitrate=1000.0, frame_rate=50.0, codebook_size=16,
                                   num_quantizers=2)
    rec = Reconstruction(description, DONE, audio * 0.5, 16000, np.zeros((2, 50), dtype=np.int64))
    view.set_stimuli(stimuli, {"half": description}, {"half": rec})
    ref_db = view.specs[REFERENCE].db()
    loud = ref_db > ref_db.max() - 40
    np.testing.assert_allclose(view.difference.db()[loud], 20 * math.log10(0.5), atol=0.01)
    assert view.difference.levels() == pytest.approx((-30.0, 30.0))
    view.diff_range.setValue(12.0)
    assert view.difference.levels() == pytest.approx((-12.0, 12.0))
    view.clear()
    assert view.specs == {} and timeline.duration == 0.0


def test_codec_scores_table_csv_and_metric_vs_bitrate_png(qtbot, tmp_path):
    window = make_window(qtbot)
    clips = [write(tmp_path / f"clip{i}.wav", speech_like(1.0, 16000, seed=10 + i)) for i in range(2)]
    rows = add_and_wait(qtbot, window, clips)
    add_fixture_codecs(window)
    reconstruct_and_wait(qtbot, window, [row.uid for row in rows])
    panel = window.bench_metrics_panel
    table = panel.table
    assert table.rowCount() == 2
    summary = window.bench.session.summary()
    for row, label in enumerate((XY, XCODEC)):
        assert table.item(row, 0).text() == label
        assert table.item(row, 2).text() == "2"
        si_sdr = summary[label].stats["si_sdr"]["mean"]
        assert table.item(row, 3 + METRIC_NAMES.index("si_sdr")).text() == f"{si_sdr:.1f}"
    assert table.item(0, 1).text() == "700 bit/s" and table.item(1, 1).text() == "4000 bit/s"
    panel.stat.setCurrentText("median")
    median = summary[XCODEC].stats["stoi"]["median"]
    assert table.item(1, 3 + METRIC_NAMES.index("stoi")).text() == f"{median:.3f}"

    csv_path = panel.export_csv(tmp_path / "out" / "scores.csv")
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("file,codec,variant,family,bitrate_bps")
    assert sum(1 for line in lines if line.startswith("clip")) == 4               # 2 files x 2 codecs
    assert {line.split(",")[0] for line in lines[5:]} == {"mean", "median"}

    png = panel.export_png(tmp_path / "out" / "plot.png", 640, 480)
    image = QImage(str(png))
    assert (image.width(), image.height()) == (640, 480)
    pixels = np.frombuffer(image.convertToFormat(QImage.Format.Format_RGB32).constBits(), np.uint8)
    pixels = pixels.reshape(480, 640, 4)[..., :3]
    background = pixels[0, 0]
    assert (np.abs(pixels.astype(int) - background).sum(axis=-1) > 60).mean() > 0.005      # not blank
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10                          # lines, text, colours
    assert not list((tmp_path / "out").glob(".*tmp*"))


def test_tests_menu_is_built_from_the_screen_list_and_gets_the_reconstructions(qtbot, tmp_path, monkeypatch):
    opened = []

    def open_screen(window):
        row = window.current_row()
        entry = window.comparison_set.entry(row.uid)
        opened.append((row.path.name, list(entry.finished()), sorted(entry.stimuli())))

    monkeypatch.setattr(main_window_module, "SCREENS", (ScreenSpec("blindTest", "Blind test\u2026", open_screen),))
    window = make_window(qtbot)
    action, _spec = window.screen_actions["blindTest"]
    assert action in window.tests_menu.actions() and not action.isEnabled()
    clip = write(tmp_path / "speech.wav", speech_like(1.0, 16000, seed=2))
    rows = add_and_wait(qtbot, window, [clip])
    add_fixture_codecs(window)
    window.file_view.select_position(0)
    reconstruct_and_wait(qtbot, window, [rows[0].uid])
    assert action.isEnabled()
    action.trigger()
    assert opened == [("speech.wav", [XY, XCODEC], sorted([REFERENCE, XY, XCODEC]))]


def test_a_folder_is_reconstructed_with_the_codecs_and_a_device_change_unloads_them(qtbot, tmp_path, fsq_family):
    window = make_window(qtbot)
    folder = tmp_path / "corpus"
    for i in range(2):
        write(folder / "sub" / f"c{i}.wav", speech_like(0.8, 16000, seed=20 + i))
    window.bench.add_checkpoint(FIXTURES / "tiny16k" / "model.ckpt", FIXTURES / "tiny16k" / "config.yaml", label=XY)
    window.bench.add_checkpoint(fsq_family.save_checkpoint(tmp_path / "fsq.safetensors"), label="FSQ")
    window.codecs_panel.set_checked("FSQ", False)
    assert window.codecs_panel.checked_labels() == [XY]
    with qtbot.waitSignal(window.bench.codecFinished, timeout=JOB_TIMEOUT) as finished:
        window.reconstruct_folder_with_codecs(folder)
    assert finished.args == [XY]
    entries = [window.comparison_set.entry(row.uid) for row in window.files.rows()]
    assert len(entries) == 2 and all(list(e.finished()) == [XY] for e in entries)
    assert window.bench.slot("FSQ").codec is None                     # unchecked: never loaded
    assert window.bench.slot(XY).codec is not None
    window.bench.set_device("cpu", "bfloat16")
    assert window.bench.slot(XY).codec is None and window.bench.slot(XY).state == "not loaded"


def test_comparison_set_keeps_codec_order_and_statuses(qapp):
    comparison = ComparisonSet()
    changed = []
    comparison.changed.connect(changed.append)
    a, b = CodecDescription("a"), CodecDescription("b")
    comparison.set_codec(a)
    comparison.set_codec(b)
    comparison.set_reconstruction(7, Reconstruction(b, DONE, np.zeros(10, np.float32), 16000))
    comparison.set_status(7, "a", FAILED, "x.wav: broken")
    assert list(comparison.entry(7).reconstructions) == ["a", "b"]
    assert not comparison.entry(7).ready()                       # no original yet
    comparison.set_original(7, np.ones(10, np.float32), 16000)
    assert comparison.entry(7).ready() and list(comparison.entry(7).finished()) == ["b"]
    comparison.remove_codec("b")
    assert list(comparison.entry(7).reconstructions) == ["a"] and not comparison.entry(7).ready()
    assert changed and set(changed) == {7}
    with pytest.raises(ValueError, match="original"):
        ComparisonEntry(1).stimuli()
