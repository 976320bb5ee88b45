"""The studio knows no codec's numbers: a family added only through the registry (an RVQ toy,
and an FSQ codec of one level x 65,536 codes) runs end to end; settings checked by the
model's own rule; dropped folders scanned off the GUI thread."""
from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog

import app.token_files as token_files
from app.codebook_panel import MAX_BARS, MAX_POINTS
from app.export_dialog import ExportChoice
from app.file_list import RowKind, RowStatus
from app.main_window import MainWindow
from app.panels import PANELS
from app.preferences import PreferencesDialog
from app.settings import Settings, load_settings, save_settings
from app.views.token_grid import categorical_lut
from tests.conftest import ROOT
from tests.families import fsq, toy
from tests.studio import add_and_wait
from tests.synth import speech_like, write
from xy_tokenizer import registry
from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.io.tokens import load_tokens

pytestmark = pytest.mark.gui
JOB_TIMEOUT = 120000
#: An XY-Tokenizer overlap that is not a whole number of tokens (issue 10).
BAD_OVERLAP = 10.5
#: Longest event-loop gap (s) allowed while a dropped folder of 2,000 files is listed.
MAX_SCAN_GAP = 0.150


def test_the_studio_imports_no_codec_module():
    """Every codec number comes from the loaded codec or the registry (issue 9): no module of
    the studio names a family's package (``codecs.xy``, ``codecs.xcodec``...) or constants."""
    families = [package.rsplit(".", 1)[-1] for package in registry.FAMILY_PACKAGES]
    assert "xy" in families
    pattern = re.compile(r"codecs\.(%s)\b|\.constants\b" % "|".join(map(re.escape, families)))
    offenders = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_every_panel_is_built_from_the_list(qtbot):
    window = MainWindow(Settings())
    qtbot.addWidget(window)
    assert list(window.panels) == [spec.id for spec in PANELS]
    for spec in PANELS:
        dock = window.panels[spec.id]
        assert dock.objectName() == spec.id and dock.windowTitle() == spec.title
        assert window.dockWidgetArea(dock) == spec.area
        assert dock.toggleViewAction() in window.view_menu.actions()
        assert not spec.attr or getattr(window, spec.attr) is dock
    window.close()


def window_for(qtbot, checkpoint: Path, **settings) -> MainWindow:
    window = MainWindow(Settings(checkpoint=str(checkpoint), device="cpu", **settings))
    qtbot.addWidget(window)
    window.show()
    return window


def reconstruct_all(qtbot, window) -> None:
    with qtbot.waitSignal(window.jobs.idle, timeout=JOB_TIMEOUT):
        window.reconstruct_all()


def row_named(window, name):
    return next(row for row in window.files.rows() if row.path.name == name)


def show(window, row) -> None:
    window.file_view.select_position(window.files.position_of(row.uid))


def axis_labels(view) -> list[str]:
    return [label for _, label in view.getPlotItem().getAxis("left")._tickLevels[0]]


@pytest.fixture
def toy_model(tmp_path):
    registry.register_family(toy.FAMILY)
    yield toy.save_checkpoint(tmp_path / "toy.safetensors")
    registry.unregister_family(toy.FAMILY.name)


@pytest.fixture
def fsq_model(tmp_path):
    registry.register_family(fsq.FAMILY)
    yield fsq.save_checkpoint(tmp_path / "fsq.safetensors")
    registry.unregister_family(fsq.FAMILY.name)


def test_a_family_added_only_in_the_registry_runs_in_the_studio(qtbot, toy_model, tmp_path):
    """8 kHz in and out, 2 levels x 16 codes at 25 Hz: nothing in the studio assumes XY's numbers."""
    write(tmp_path / "in" / "a.wav", speech_like(1.2, seed=1))
    write(tmp_path / "in" / "b.flac", speech_like(0.8, 44100, seed=2), 44100)
    window = window_for(qtbot, toy_model)
    add_and_wait(qtbot, window, [tmp_path / "in"])
    reconstruct_all(qtbot, window)
    a = row_named(window, "a.wav")
    assert a.status == RowStatus.DONE and a.codec.family == "toy"
    assert a.result.codes.shape == (2, 30) and (a.levels, a.frames) == (2, 30)
    assert "toy_rvq_8k" in window.model_label.text() and "8 kHz" in window.model_label.text()

    show(window, a)
    views = window.comparison
    np.testing.assert_array_equal(views.tokens.codes(), a.result.codes)
    assert views.tokens.frame_rate == 25.0 and axis_labels(views.tokens) == ["L1", "L2"]
    assert views.original_spec.getViewBox().viewRange()[1] == pytest.approx([0.0, 4000.0])
    assert views.original_wave.curve.getData()[0].max() == pytest.approx(1.2, abs=0.01)
    assert window.player.duration() == pytest.approx(30 / 25, abs=1e-3)
    assert window.progressive.total_levels() == 2 and window.progressive.isEnabled()
    panel = window.codebook_panel
    assert panel.levels() == 2 and panel.codebook_size() == 16 and len(panel.scatter.data) == 16
    assert panel.entropy_label.text().endswith("of 4 bits")
    with qtbot.waitSignal(window.progressive.reconstructionReady, timeout=JOB_TIMEOUT) as ready:
        window.progressive.set_levels(1)
    assert ready.args[1] == 8000 and len(ready.args[0]) == 30 * 320
    qtbot.waitUntil(lambda: a.metrics is not None, timeout=JOB_TIMEOUT)
    assert not all(np.isnan(v) for v in a.metrics.values())

    # the family takes no overlap: Preferences refuse one while its model is loaded
    with pytest.raises(XYTokenizerError, match="toy does not take overlap"):
        window.check_overlap(10.0)

    out = tmp_path / "out"
    with qtbot.waitSignal(window.jobs.exportEnded, timeout=JOB_TIMEOUT) as ended:
        assert window.export([window.files.position_of(a.uid)], ExportChoice(out))
    assert ended.args[0].done == 1
    qtbot.waitUntil(lambda: not window.jobs.is_busy(), timeout=JOB_TIMEOUT)    # the export's worker ended
    codes, meta = load_tokens(out / "a.npy")
    assert meta["family"] == "toy" and meta["codebook_size"] == 16
    np.testing.assert_array_equal(codes, a.result.codes)

    with qtbot.waitSignal(window.jobs.idle, timeout=JOB_TIMEOUT):
        window.add_paths([out / "a.npy"])                # a token file decodes right away
    decoded = next(row for row in window.files.rows() if row.kind == RowKind.TOKENS)
    assert decoded.status == RowStatus.DECODED and decoded.duration == pytest.approx(30 / 25)
    assert len(decoded.result.audio) == 30 * 320
    window.close()


def test_an_fsq_codec_of_one_level_and_65536_codes(qtbot, fsq_model, tmp_path):
    """The grid, the codebook dock and the levels slider with a single level of 65,536 codes."""
    wav = write(tmp_path / "clip.wav", speech_like(2.0, seed=3))
    window = window_for(qtbot, fsq_model)
    add_and_wait(qtbot, window, [wav])
    reconstruct_all(qtbot, window)
    (row,) = window.files.rows()
    assert row.status == RowStatus.DONE and row.result.codes.shape == (1, 100)
    show(window, row)
    codes = row.result.codes
    grid = window.comparison.tokens
    np.testing.assert_array_equal(grid.image.image, codes)
    assert axis_labels(grid) == ["L1"]
    grid.grab()                                          # draw it: the image is coloured by code value
    lut = categorical_lut(fsq.CODES)
    for frame in (0, 37, 99):
        color = grid.image.qimage.pixelColor(frame, 0)
        assert (color.red(), color.green(), color.blue()) == tuple(lut[codes[0, frame]])
    assert not window.progressive.isEnabled() and window.progressive.total_levels() == 1

    panel = window.codebook_panel
    assert panel.levels() == 1 and panel.level_box.count() == 1
    assert panel.projection_of(1).shape == (fsq.CODES, 2)
    shown = panel.scatter.data["data"].astype(int)
    assert len(shown) <= MAX_POINTS and set(np.unique(codes)) <= set(shown.tolist())
    heights = np.asarray(panel.bars.opts["height"])
    assert len(heights) <= MAX_BARS and heights.sum() == codes.shape[1]
    assert panel.used_label.text().startswith(f"Used: {len(np.unique(codes))} / 65536")
    code = panel.current_stats().top[0][0]
    panel.top_table.selectRow(0)
    assert grid.highlighted() == (1, code)
    assert np.array_equal(grid.veil.image[0, :, 3] == 0, codes[0] == code)
    qtbot.waitUntil(lambda: row.metrics is not None, timeout=JOB_TIMEOUT)
    window.close()


def test_preferences_refuse_an_overlap_the_model_refuses(qtbot):
    """Issue 10: 10.5 s was saved, then every reconstruction failed. With no model loaded the
    rule comes from the registry (the family of the model last loaded, XY-Tokenizer by default)."""
    dialog = PreferencesDialog(Settings())
    qtbot.addWidget(dialog)
    assert dialog.overlap_value() is None and dialog.ok_button.isEnabled()
    dialog.overlap_default.setChecked(False)
    dialog.overlap.setValue(BAD_OVERLAP)
    assert not dialog.ok_button.isEnabled()
    assert dialog.overlap_error.isVisibleTo(dialog) and "0.08" in dialog.overlap_error.text()
    dialog.accept()
    assert dialog.result() != QDialog.DialogCode.Accepted
    with pytest.raises(XYTokenizerError, match="0.08"):
        dialog.values()
    dialog.overlap.setValue(10.08)
    assert dialog.ok_button.isEnabled() and not dialog.overlap_error.isVisibleTo(dialog)
    assert dialog.values().overlap == pytest.approx(10.08)


def test_a_refused_overlap_in_the_settings_file_is_not_used(caplog):
    save_settings(Settings(device="cpu"))
    from app.settings import settings_path

    text = settings_path().read_text(encoding="utf-8").replace('"overlap": null', f'"overlap": {BAD_OVERLAP}')
    settings_path().write_text(text, encoding="utf-8")
    assert load_settings().overlap is None
    assert any("Preferences" in record.getMessage() and "0.08" in record.getMessage() for record in caplog.records)


def test_a_refused_overlap_fails_the_files_naming_preferences(qtbot, tiny16k_dir, tmp_path):
    write(tmp_path / "in" / "a.wav", speech_like(1.0, seed=4))
    window = window_for(qtbot, tiny16k_dir / "model.ckpt", config=str(tiny16k_dir / "config.yaml"),
                        overlap=BAD_OVERLAP)
    add_and_wait(qtbot, window, [tmp_path / "in"])
    reconstruct_all(qtbot, window)
    (row,) = window.files.rows()
    assert row.status == RowStatus.FAILED and row.result is None
    assert "Preferences" in row.message and "0.08" in row.message
    window.close()


def test_a_dropped_folder_is_scanned_off_the_gui_thread_and_listed_in_batches(qtbot, tmp_path, monkeypatch):
    """Issue 10: 2,000 files froze the window 0.66 s. Now the event loop keeps ticking while
    the folder is walked and the headers read on a worker; rows arrive in several batches."""
    root = tmp_path / "many"
    clip = speech_like(0.05, seed=7)
    for index in range(2000):
        write(root / f"d{index % 20:02d}" / f"f{index:04d}.wav", clip)
    walkers = []
    real_collect = token_files.collect_inputs

    def collect(*args, **kwargs):
        walkers.append(threading.current_thread() is threading.main_thread())
        return real_collect(*args, **kwargs)

    monkeypatch.setattr(token_files, "collect_inputs", collect)
    window = MainWindow(Settings())
    qtbot.addWidget(window)
    window.show()
    for _ in range(3):
        QApplication.processEvents()
    batches = []
    window.files.rowsInserted.connect(lambda _parent, first, last: batches.append((time.perf_counter(), last - first + 1)))
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    try:
        with qtbot.waitSignal(window.pathsAdded, timeout=JOB_TIMEOUT):
            window.add_paths([root])
            last[0] = time.perf_counter()
        ended = time.perf_counter()
    finally:
        timer.stop()
    assert window.files.rowCount() == 2000
    assert walkers == [False], "the folder was walked once, on the worker"
    assert len(batches) > 1 and sum(n for _, n in batches) == 2000
    assert batches[0][0] < ended, "rows appear while the scan goes on"
    print(f"{len(batches)} batches; longest event-loop gap {max(gaps) * 1000:.1f} ms over {len(gaps)} ticks")
    # The longest gap is when the first rows arrive: the list lays out, the first file is
    # selected and the views redraw (60-120 ms on a loaded 2-core machine); the scan on the
    # GUI thread froze the window 660 ms for these 2,000 files (issue 10).
    assert max(gaps) < MAX_SCAN_GAP, f"longest event-loop gap {max(gaps) * 1000:.0f} ms"
    window.close()


def test_a_token_folder_is_walked_at_most_twice(monkeypatch, tmp_path):
    """Issue 10: token_files walked a folder three times. A folder of audio is walked once; a
    folder without audio once for audio and once for its token files."""
    calls = []
    real_collect = token_files.collect_inputs
    monkeypatch.setattr(token_files, "collect_inputs",
                        lambda inputs, kind="audio", **kw: calls.append(kind) or real_collect(inputs, kind, **kw))
    write(tmp_path / "audio" / "a.wav", speech_like(0.2))
    (tmp_path / "tokens").mkdir()
    np.save(tmp_path / "tokens" / "t.npy", np.zeros((8, 5), np.int16))
    rows = [row for batch in token_files.scan_paths([tmp_path / "audio"], frame_rate=12.5) for row in batch.rows]
    assert [r.path.name for r in rows] == ["a.wav"] and calls == ["audio"]
    calls.clear()
    batches = list(token_files.scan_paths([tmp_path / "tokens"], frame_rate=12.5))
    rows = [row for batch in batches for row in batch.rows]
    assert [(r.path.name, r.kind) for r in rows] == [("t.npy", RowKind.TOKENS)] and calls == ["audio", "tokens"]
    assert not any(batch.problems for batch in batches), "a folder of token files is no problem"
